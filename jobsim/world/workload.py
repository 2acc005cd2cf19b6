"""What arrives from outside: the workload entries of a scenario, pushed through the client.

Arrival kinds: ``count`` jobs spread evenly over a window, Poisson arrivals at a ``rate``,
a ``burst`` at one instant (one bulk push), and a ``fanout`` (a campaign to N recipients,
or N orders each starting a chain): N jobs over a window, like ``count``, whose arguments
name the recipient. Each entry draws from its own RNG stream, so adding an entry never
changes another's arrivals.

A push that times out is pushed again, once, as application code wrapped in a retry
would do (a new jid; a uniqueness lock is what stops the duplicate). A push refused
outright is recorded by the client as ``enqueue_failed`` and not retried.
"""

from __future__ import annotations

import random
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from jobsim.sim.simulation import Simulation
from jobsim.system.client import Client, PushError, PushTimeout
from jobsim.system.job import Job


@dataclass
class Arrivals:
    """One workload entry, in plain values (the scenario layer builds these)."""

    job: str
    kind: str                                  # count | rate | burst | fanout
    count: int = 0
    rate: float = 0.0
    start: float = 0.0
    end: float | None = None
    spread: float = 0.0
    args: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)   # queue, retry, backoff, jitter


def arrival_times(entry: Arrivals, rng: random.Random, horizon: float) -> Iterator[float]:
    """The instants at which this entry's jobs arrive, in order."""
    if entry.kind == "rate":
        end = horizon if entry.end is None else min(entry.end, horizon)
        t = entry.start + rng.expovariate(entry.rate)
        while t < end:
            yield t
            t += rng.expovariate(entry.rate)
        return
    if entry.kind == "burst" or entry.spread <= 0:
        yield from (entry.start for _ in range(entry.count))
        return
    step = entry.spread / entry.count
    yield from (entry.start + k * step for k in range(entry.count))


class Workload:
    def __init__(self, sim: Simulation, client: Client, entries: list[Arrivals],
                 horizon: float) -> None:
        self.sim = sim
        self.client = client
        self.entries = entries
        self.horizon = horizon
        self.pushed = 0
        self._next_index: dict[str, int] = {}

    def start(self) -> None:
        for i, entry in enumerate(self.entries):
            self.sim.env.process(self._drive(i, entry))

    def _drive(self, i: int, entry: Arrivals) -> Generator[Any, Any, None]:
        env = self.sim.env
        cls = self.client.system.library.resolve(entry.job)
        batch: list[list[Any]] = []
        batch_t = None
        per_entry = cls.arrival_index == "entry"
        times = arrival_times(entry, self.sim.streams[f"workload.{i}"], self.horizon)
        for n, t in enumerate(times):
            if batch and t != batch_t:
                self._push(cls, batch, entry.options)
                batch = []
            if t > env.now:
                yield env.timeout(t - env.now)
            batch_t = t
            index = n if per_entry else self._index(entry.job)
            batch.append(cls.make_args(index, entry.args))
        if batch:
            self._push(cls, batch, entry.options)

    def _index(self, job: str) -> int:
        """A running number per job class: order ids and recipients never collide."""
        n = self._next_index.get(job, 0)
        self._next_index[job] = n + 1
        return n

    def _push(self, cls: type[Job], batch: list[list[Any]], options: dict[str, Any]) -> None:
        if len(batch) > 1:
            try:
                self.pushed += len(self.client.push_bulk(cls, batch, **options))
            except (PushError, PushTimeout):
                return
            return
        push_job(self.client, cls, batch[0], options)
        self.pushed += 1


def push_job(client: Client, cls: type[Job], args: list[Any], options: dict[str, Any]
             ) -> str | None:
    """Push one job as application code would: retry once after a timeout."""
    try:
        return client.push(cls, args, **options)
    except PushTimeout:
        try:
            return client.push(cls, args, **options)
        except (PushError, PushTimeout):
            return None
    except PushError:
        return None
