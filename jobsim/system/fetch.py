"""Fetch: which queue a processor takes its next job from, and how it takes it.

Queue order (docs/semantics.md, Queue selection): strict lists are tried in order, so lower queues
starve while a higher one has work. Weighted lists behave like Sidekiq's "expand each
queue w times, shuffle, de-duplicate, take from the first non-empty": the queue served is
the first non-empty one in a random weighted permutation, so P(q) = w_q / sum of the
weights of the non-empty queues. We draw that queue directly (one random number instead of
a shuffle per fetch); the distribution is identical, and tests/unit/system checks it.

Basic fetch pops the job (it leaves storage: a crash loses it). Reliable fetch moves it
to the process's private list, where it stays until acknowledged (super_fetch).
"""

from __future__ import annotations

import random

from jobsim.broker.base import Broker, Payload


class QueueSelector:
    """Picks the queue to fetch from, given which queues currently hold jobs."""

    __slots__ = ("mode", "names", "pairs", "rng", "weights")

    def __init__(self, spec: list[tuple[str, int]], mode: str, rng: random.Random) -> None:
        self.names = [name for name, _ in spec]
        self.weights = [weight for _, weight in spec]
        self.pairs = list(spec)
        self.mode = mode
        self.rng = rng

    def choose(self, broker: Broker) -> str | None:
        """The queue to pop next, or None when every queue is empty."""
        size = broker.queue_size
        if self.mode == "strict":
            for name in self.names:
                if size(name):
                    return name
            return None
        live = [pair for pair in self.pairs if size(pair[0])]
        if len(live) <= 1:
            return live[0][0] if live else None
        pick = self.rng.random() * sum(w for _, w in live)
        for name, weight in live:
            pick -= weight
            if pick < 0:
                return name
        return live[-1][0]


class Fetcher:
    """Takes one job for a worker process, by basic or reliable fetch."""

    __slots__ = ("broker", "reliable", "selector", "worker")

    def __init__(self, broker: Broker, selector: QueueSelector, worker: str,
                 reliable: bool) -> None:
        self.broker = broker
        self.selector = selector
        self.worker = worker
        self.reliable = reliable

    def fetch(self) -> tuple[Payload, str] | None:
        queue = self.selector.choose(self.broker)
        if queue is None:
            return None
        if self.reliable:
            payload = self.broker.pop_to_private(queue, self.worker)
        else:
            payload = self.broker.pop(queue)
        return None if payload is None else (payload, queue)

    def acknowledge(self, payload: Payload) -> None:
        """Done with the job: drop it from the private list (reliable fetch only)."""
        if self.reliable:
            self.broker.ack(self.worker, payload)
