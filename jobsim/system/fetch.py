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

    __slots__ = ("mode", "names", "ordered", "pairs", "rng", "weights")

    def __init__(self, spec: list[tuple[str, int]], mode: str, rng: random.Random) -> None:
        self.names = [name for name, _ in spec]
        self.weights = [weight for _, weight in spec]
        self.pairs = list(spec)
        self.mode = mode
        self.rng = rng
        # Strict order, or one queue: the queue served is the first non-empty one in a
        # fixed order, so a fetch may simply pop each in turn (see Fetcher.fetch).
        self.ordered = mode == "strict" or len(self.names) <= 1

    def choose(self, broker: Broker) -> str | None:
        """The queue to pop next, or None when every queue is empty.

        Every size is read in one ``queue_sizes`` call: one round trip on Redis, where
        asking queue by queue cost a round trip each (most of a fakeredis run)."""
        sizes = broker.queue_sizes(self.names)
        if self.mode == "strict":
            for name, size in zip(self.names, sizes, strict=True):
                if size:
                    return name
            return None
        # One plain loop, no comprehension or generator frames (once a fetch): the
        # weights are ints, so their sum is the same in any order.
        live = []
        total = 0
        for pair, size in zip(self.pairs, sizes, strict=True):
            if size:
                live.append(pair)
                total += pair[1]
        if len(live) <= 1:
            return live[0][0] if live else None
        pick = self.rng.random() * total
        for name, weight in live:
            pick -= weight
            if pick < 0:
                return name
        return live[-1][0]


class Fetcher:
    """Takes one job for a worker process, by basic or reliable fetch."""

    __slots__ = ("broker", "empty_at", "reliable", "selector", "worker")

    def __init__(self, broker: Broker, selector: QueueSelector, worker: str,
                 reliable: bool) -> None:
        self.broker = broker
        self.selector = selector
        self.worker = worker
        self.reliable = reliable
        self.empty_at: int | None = None   # broker.queue_writes when every queue was empty

    def fetch(self) -> tuple[Payload, str] | None:
        """The next job and its queue, or None when every queue is empty.

        An idle thread wakes every 2 s (the BRPOP timeout) and fetches again; while no
        write has reached any queue since this fetcher last found them all empty (and
        no storage fault is on), they still are, so it answers None without asking the
        store: no storage call, no random draw, so the same history as asking."""
        writes = self.broker.queue_writes
        if writes is not None and writes == self.empty_at:
            return None
        got = self._pop_in_order() if self.selector.ordered else self._choose_and_pop()
        self.empty_at = writes if got is None else None
        return got

    def _choose_and_pop(self) -> tuple[Payload, str] | None:
        queue = self.selector.choose(self.broker)
        if queue is None:
            return None
        if self.reliable:
            payload = self.broker.pop_to_private(queue, self.worker)
        else:
            payload = self.broker.pop(queue)
        return None if payload is None else (payload, queue)

    def _pop_in_order(self) -> tuple[Payload, str] | None:
        """Pop each queue in order until one yields, as Sidekiq's BRPOP over its queue
        list does: the same queue ``choose`` would name, without first asking sizes (a
        round trip per queue on Redis). An empty pop changes nothing in storage, and the
        storage faults draw only on a pop that returned a job, so the history is the
        one a size check then a pop would give."""
        take = self.broker.pop_to_private if self.reliable else self.broker.pop
        worker = self.worker
        for queue in self.selector.names:
            payload = take(queue, worker) if self.reliable else take(queue)  # type: ignore[call-arg]
            if payload is not None:
                return payload, queue
        return None

    def idle_lists(self) -> list[str]:
        """The lists a fetch pops from: an idle thread of this process parks without a
        timer while they are empty (system/idle.py)."""
        return self.selector.names

    def acknowledge(self, payload: Payload) -> None:
        """Done with the job: drop it from the private list (reliable fetch only)."""
        if self.reliable:
            self.broker.ack(self.worker, payload)
