"""The simulation's Environment runs the same events in the same order as simpy's own:
ties at one instant, interrupts, conditions, failures, stops at ``until`` and resumes."""

from __future__ import annotations

import random
from collections.abc import Callable
from heapq import heapify
from typing import Any

import pytest
import simpy

from jobsim.sim.simulation import Environment


def trace(env: simpy.Environment, seed: int) -> list[tuple[Any, ...]]:
    """A busy model in which the order of same-instant events decides the trace:
    timeouts rounded onto a coarse grid, processes waking each other, interrupts,
    any_of/all_of conditions, a defused failure, and several stops at ``until``."""
    rng = random.Random(seed)
    log: list[tuple[Any, ...]] = []
    gates = [env.event() for _ in range(4)]
    procs: list[simpy.Process] = []

    def worker(i: int) -> Any:
        try:
            for k in range(30):
                delay = round(rng.random() * 3) * 0.5       # many ties
                if k % 7 == 3:
                    got = yield env.timeout(delay, value=k) | gates[k % 4]
                    log.append((env.now, i, "any", len(got.events)))
                elif k % 11 == 5:
                    yield env.all_of([env.timeout(delay), env.timeout(delay / 2)])
                    log.append((env.now, i, "all"))
                else:
                    value = yield env.timeout(delay, value=(i, k))
                    log.append((env.now, i, "t", value))
                if k % 5 == 0 and not gates[i % 4].triggered:
                    gates[i % 4].succeed(i)
                    gates[i % 4] = env.event()
        except simpy.Interrupt as exc:
            log.append((env.now, i, "interrupted", exc.cause))

    def failing() -> Any:
        yield env.timeout(1.5)
        raise ValueError("boom")

    def watcher() -> Any:
        try:
            yield env.process(failing())
        except ValueError as exc:
            log.append((env.now, "watcher", str(exc)))
        for _ in range(6):
            yield env.timeout(2.0)
            victim = procs[rng.randrange(len(procs))]
            if victim.is_alive:
                victim.interrupt("chaos")
                log.append((env.now, "interrupt"))

    procs.extend(env.process(worker(i)) for i in range(8))
    env.process(watcher())
    for until in (1.0, 2.5, 2.75, 10.0):
        env.run(until=until)
        log.append((env.now, "stop"))
    env.run()
    log.append((env.now, "end"))
    return log


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_same_trace_as_simpy(seed: int) -> None:
    assert trace(Environment(), seed) == trace(simpy.Environment(), seed)


class _LastFirst(Environment):
    """Negative control: same-instant events in the reverse of scheduling order."""

    def schedule(self, event: Any, priority: Any = 1, delay: float = 0) -> None:
        super().schedule(event, priority, delay)
        when, prio, eid, ev = self._queue[-1]
        self._queue[-1] = (when, prio, -eid, ev)
        heapify(self._queue)

    def timeout(self, delay: float = 0, value: Any = None) -> Any:
        return simpy.Timeout(self, delay, value)


def test_a_kernel_that_breaks_ties_otherwise_is_caught() -> None:
    assert trace(_LastFirst(), 1) != trace(simpy.Environment(), 1)


def test_the_clock_is_a_plain_attribute_and_simpy_sees_it() -> None:
    env = Environment()
    env.run(until=2.5)
    assert env.now == 2.5 and env._now == 2.5 and env.peek() == 2.5   # the until event
    times: list[float] = []
    env.process(iter_times(env, times))
    env.run()
    assert times == [3.0, 3.5]


def iter_times(env: simpy.Environment, out: list[float]) -> Any:
    yield env.timeout(0.5)
    out.append(env.now)
    yield env.timeout(0.5)
    out.append(env.now)


def test_a_wrapped_step_sees_every_event() -> None:
    env = Environment()
    count = [0]
    step: Callable[[], None] = env.step

    def counted() -> None:
        count[0] += 1
        step()

    env.step = counted  # type: ignore[method-assign]
    env.process(iter_times(env, []))
    env.run()
    assert count[0] == 5   # its start, two timeouts, its end; the call finding none


def test_failures_and_bad_delays_behave_as_in_simpy() -> None:
    for env in (Environment(), simpy.Environment()):
        with pytest.raises(ValueError, match="Negative delay"):
            env.timeout(-1)
        event = env.event()
        event.fail(KeyError("lost"))
        with pytest.raises(KeyError, match="lost"):
            env.run()
        with pytest.raises(ValueError, match="must be greater"):
            env.run(until=env.now)
        never = env.event()
        with pytest.raises(RuntimeError, match="No scheduled events left"):
            env.run(until=never)
