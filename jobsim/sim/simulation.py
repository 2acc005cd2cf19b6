"""The simulation kernel: a simpy environment, its clock, its RNG streams and its history.

Time is simulated seconds (float). Model code takes ``now`` from here and never from the
wall clock, so a run is a pure function of its scenario, seed and code.
"""

from __future__ import annotations

from collections.abc import Generator
from heapq import heappop, heappush
from types import MethodType
from typing import Any

import simpy
from simpy.core import EmptySchedule, StopSimulation
from simpy.events import NORMAL, URGENT, Event, EventPriority, Timeout, _describe_frame

from jobsim.history.events import FIELDS
from jobsim.history.history import ARITY, History, HistoryError, complete
from jobsim.sim.streams import Streams

_new = object.__new__


class Process(simpy.Process):
    """simpy's Process with its resume callback bound once, not at every wait: simpy
    appends ``self._resume`` to each event a process waits on, which made a new bound
    method each time. The loop is simpy 4's ``_resume``, with ``env`` and the
    generator read once a resume. The bound method held by the process is a reference
    cycle; it is dropped when the generator ends, so a finished process is freed by
    reference counting as before (a live one is in a cycle with the event it waits on
    in simpy anyway)."""

    def __init__(self, env: simpy.Environment, generator: Any) -> None:
        self._resume = self._resume    # type: ignore[method-assign]
        super().__init__(env, generator)

    def _resume(self, event: Event) -> None:  # type: ignore[override]
        env = self.env
        env._active_proc = self
        generator = self._generator
        while True:
            try:
                if event._ok:
                    event = generator.send(event._value)
                else:
                    event._defused = True
                    exc = type(event._value)(*event._value.args)
                    exc.__cause__ = event._value
                    event = generator.throw(exc)
            except StopIteration as e:
                event = None  # type: ignore[assignment]
                self._ok = True
                self._value = e.args[0] if len(e.args) else None
                env.schedule(self)
                del self._resume           # the bound method's reference cycle, ended
                break
            except BaseException as e:
                event = None  # type: ignore[assignment]
                self._ok = False
                e.__traceback__ = e.__traceback__.tb_next  # type: ignore[union-attr]
                self._value = e
                env.schedule(self)
                del self._resume
                break
            try:
                callbacks = event.callbacks
                if callbacks is not None:
                    callbacks.append(self._resume)
                    break
            except AttributeError:
                if hasattr(event, "callbacks"):
                    raise
                msg = f'Invalid yield value "{event}"'
                descr = _describe_frame(generator.gi_frame)
                raise RuntimeError(f"\n{descr}{msg}") from None
        self._target = event
        env._active_proc = None


class Environment(simpy.Environment):
    """simpy's Environment, the same events in the same order, with less Python a step.

    The clock is a plain attribute (``now``; simpy's own ``_now`` maps onto it), so
    reading it costs no property call: model code reads it several times a job.
    ``timeout`` builds and schedules its event in one frame instead of three, and ``run``
    steps in its own loop instead of calling ``step`` per event: the heap, the event
    ids, the callbacks' order, the stop and the failure handling are simpy 4's own,
    copied (``step`` and ``schedule`` are kept, for anyone calling them). An observer
    that replaces ``step`` on the instance (a test counting steps) is honoured: ``run``
    then calls it per event."""

    now: float = 0.0

    def __init__(self) -> None:
        super().__init__()
        # bind_early binds the BoundClass attributes of the instance's own class only;
        # the base's (process, event, all_of, any_of) are bound here, as simpy intends.
        for name in ("event", "all_of", "any_of"):
            setattr(self, name, getattr(self, name))
        self.process = MethodType(Process, self)  # type: ignore[method-assign]

    @property  # type: ignore[override]
    def _now(self) -> float:
        return self.now

    @_now.setter
    def _now(self, value: float) -> None:
        self.now = value

    def schedule(self, event: Event, priority: EventPriority = NORMAL,
                 delay: float = 0) -> None:
        heappush(self._queue, (self.now + delay, priority, next(self._eid), event))

    def timeout(self, delay: float = 0, value: Any = None) -> Timeout:  # type: ignore[override]
        """simpy's ``Timeout(env, delay, value)``, without its constructor's frames."""
        if delay < 0:
            raise ValueError(f"Negative delay {delay}")
        event = _new(Timeout)
        event.env = self
        event.callbacks = []
        event._value = value
        event._delay = delay
        event._ok = True
        heappush(self._queue, (self.now + delay, NORMAL, next(self._eid), event))
        return event

    def step(self) -> None:
        try:
            self.now, _, _, event = heappop(self._queue)
        except IndexError:
            raise EmptySchedule from None
        callbacks, event.callbacks = event.callbacks, None
        try:
            for callback in callbacks:
                callback(event)
        except StopSimulation:
            event.callbacks = callbacks[callbacks.index(callback) + 1:]
            self.schedule(event, EventPriority(-1))
            raise
        if not event._ok and not hasattr(event, "_defused"):
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc

    def run(self, until: float | Event | None = None) -> Any:
        if "step" in self.__dict__:            # an observer wraps step: call it per event
            return super().run(until)
        if until is not None:
            if not isinstance(until, Event):
                at = until if isinstance(until, int) else float(until)
                if at <= self.now:
                    raise ValueError(
                        f"until ({at}) must be greater than the current simulation time")
                until = Event(self)
                until._ok = True
                until._value = None
                self.schedule(until, URGENT, at - self.now)
            elif until.callbacks is None:
                return until.value
            until.callbacks.append(StopSimulation.callback)
        queue = self._queue
        try:
            while True:
                # step(), inlined
                try:
                    self.now, _, _, event = heappop(queue)
                except IndexError:
                    raise EmptySchedule from None
                callbacks, event.callbacks = event.callbacks, None
                try:
                    for callback in callbacks:
                        callback(event)
                except StopSimulation:
                    event.callbacks = callbacks[callbacks.index(callback) + 1:]
                    self.schedule(event, EventPriority(-1))
                    raise
                if not event._ok and not hasattr(event, "_defused"):
                    exc = type(event._value)(*event._value.args)
                    exc.__cause__ = event._value
                    raise exc
        except StopSimulation as exc:
            return exc.args[0]
        except EmptySchedule:
            if until is not None:
                assert not until.triggered
                raise RuntimeError(f'No scheduled events left but "until" event was not '
                                   f"triggered: {until}") from None
        return None


class Simulation:
    """One run's environment. Cheap accessors: this sits on every job's hot path.

    Every event goes through ``record_fields(kind, jid, fields)``: ``record(kind, jid,
    *fields)`` calls it, and the job system's lifecycle holds it from its construction.
    An observer (a benchmark counting successes) replaces both attributes before the job
    system is built."""

    __slots__ = ("env", "history", "record", "record_fields", "streams")

    def __init__(self, seed: int = 0, history: History | None = None) -> None:
        self.env = Environment()
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
            try:
                whole = arity[kind] == len(fields)     # a subscript: cheaper than .get
            except KeyError:
                raise HistoryError(f"event {kind!r}: expected fields {FIELDS.get(kind)}, "
                                   f"got {len(fields)}") from None
            if not whole:
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
            events.append((t, kind, jid) + fields)  # noqa: RUF005 (faster than unpacking)

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
