"""The simulation kernel: a simpy environment, its clock, its RNG streams and its history.

Time is simulated seconds (float). Model code takes ``now`` from here and never from the
wall clock, so a run is a pure function of its scenario, seed and code.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from jobsim.history.events import FIELDS
from jobsim.history.history import ARITY, History, HistoryError, complete
from jobsim.sim.streams import Streams


class Simulation:
    """One run's environment. Cheap accessors: this sits on every job's hot path.

    Every event goes through ``record_fields(kind, jid, fields)``: ``record(kind, jid,
    *fields)`` calls it, and the job system's lifecycle holds it from its construction.
    An observer (a benchmark counting successes) replaces both attributes before the job
    system is built."""

    __slots__ = ("env", "history", "record", "record_fields", "streams")

    def __init__(self, seed: int = 0, history: History | None = None) -> None:
        self.env = simpy.Environment()
        self.streams = Streams(seed)
        self.history = history if history is not None else History()
        events = self.history.events
        arity = ARITY
        env = self.env

        shared_t = -1.0

        def record_fields(kind: str, jid: str | None, fields: tuple[Any, ...]) -> None:
            # History.append inlined: this runs for every event of every job. Fields come
            # as one tuple: a lifecycle move passes on its own without unpacking them.
            nonlocal shared_t
            if arity.get(kind) != len(fields):
                if kind not in arity:
                    raise HistoryError(f"event {kind!r}: expected fields {FIELDS.get(kind)}, "
                                       f"got {len(fields)}")
                fields = complete(kind, fields)   # an older caller left out late fields
            # Events of one instant share one float: simpy makes a new one for every
            # event it schedules, and a job's push and start often fall together, so a
            # long run keeps 24 bytes a job fewer. Only floats: the clock starts at int 0.
            t = env.now
            if t.__class__ is float:
                if t == shared_t:
                    t = shared_t
                else:
                    shared_t = t
            events.append((t, kind, jid, *fields))

        def record(kind: str, jid: str | None, *fields: Any) -> None:
            record_fields(kind, jid, fields)   # the closure, not self: no reference cycle

        self.record = record
        self.record_fields = record_fields

    @property
    def now(self) -> float:
        return self.env.now

    def timeout(self, delay: float, value: Any = None) -> simpy.Timeout:
        return self.env.timeout(delay, value)

    def event(self) -> simpy.Event:
        return self.env.event()

    def process(self, generator: Generator[Any, Any, Any]) -> simpy.Process:
        return self.env.process(generator)

    def run(self, until: float | None = None) -> None:
        """Advance the clock to ``until`` (or until no event is left)."""
        self.env.run(until=until)
