"""What arrives from outside: the workload entries of a scenario, pushed through the client.

Arrival kinds: ``count`` jobs spread evenly over a window, Poisson arrivals at a ``rate``,
a ``burst`` at one instant (one bulk push), and a ``fanout`` (a campaign to N recipients,
or N orders each starting a chain): N jobs over a window, like ``count``, whose arguments
name the recipient. Each entry draws from its own RNG stream, so adding an entry never
changes another's arrivals.

A workload entry's pushes share one payload template (``Client.template``): the class,
queue and options are checked once per entry, and when the class's ``make_args`` ignores
the index (``arrival_index = "none"``) so are the args, which every arrival then shares.

A push that times out is pushed again, once, as application code wrapped in a retry
would do (a new jid; a uniqueness lock is what stops the duplicate). A push refused
outright is recorded by the client as ``enqueue_failed`` and not retried.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from jobsim.sim.simulation import Simulation
from jobsim.system.client import Client, PushError, PushTemplate, PushTimeout


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
        # rng.expovariate(rate), inlined (once an arrival): the same draw, the same sum
        rate, draw, log = entry.rate, rng.random, math.log
        t = entry.start + -log(1.0 - draw()) / rate
        while t < end:
            yield t
            t += -log(1.0 - draw()) / rate
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
        index_by, make_args, params = cls.arrival_index, cls.make_args, entry.args
        template: PushTemplate | None = None
        batch: list[list[Any] | None] = []
        batch_t = None
        times = arrival_times(entry, self.sim.streams[f"workload.{i}"], self.horizon)
        for n, t in enumerate(times):
            if batch and t != batch_t:
                self._push(template, batch)      # type: ignore[arg-type]
                batch = []
            if t > env.now:
                yield env.timeout(t - env.now)
            batch_t = t
            if template is None:   # at the first arrival, where a per-push check would fail
                shared = make_args(n, params) if index_by == "none" else None
                template = self.client.template(cls, entry.options, shared)
            if index_by == "none":
                batch.append(None)                 # the template's shared args
            else:
                batch.append(make_args(n if index_by == "entry" else self._index(entry.job),
                                       params))
        if batch:
            self._push(template, batch)          # type: ignore[arg-type]

    def _index(self, job: str) -> int:
        """A running number per job class: order ids and recipients never collide."""
        n = self._next_index.get(job, 0)
        self._next_index[job] = n + 1
        return n

    def _push(self, template: PushTemplate, batch: list[list[Any] | None]) -> None:
        client = self.client
        if len(batch) > 1:
            try:
                self.pushed += len(client.push_template_bulk(template, batch))
            except (PushError, PushTimeout):
                return
            return
        args = batch[0]
        try:
            client.push_template(template, args)
        except PushTimeout:                # pushed again once, as application code would
            with contextlib.suppress(PushError, PushTimeout):
                client.push_template(template, args)
        except PushError:
            pass
        self.pushed += 1

