"""Dependency chaining: release exactly once, recover after a crash, cancel transitively.

Every scenario is judged twice: on what the history says (events, the ``dependencies``
checker) and on what storage still holds (the bookkeeping must not leak).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from jobsim.broker.base import BrokerError
from jobsim.checks.dependencies import check as check_dependencies
from jobsim.checks.registry import run_checks
from jobsim.sim.simulation import Simulation
from jobsim.system import JobSystem
from jobsim.system.dependencies import (
    DEFERRED,
    PENDING,
    UNRELEASED,
    DependencyError,
    JobDependencyManager,
    dependents_key,
    install,
)
from jobsim.system.job import Job, Work

from .conftest import build_system, history_events

BROKERS = ["memory", "fakeredis"]
CHECKS = ["dependencies", "lifecycle", "no_loss"]


class DepSleepJob(Job):
    def perform(self, seconds: float) -> Work:
        yield self.sleep(seconds)


class DepDieJob(Job):
    retry = 0

    def perform(self, seconds: float) -> Work:
        yield self.sleep(seconds)
        raise RuntimeError("boom")


class DepDiscardJob(Job):
    retry = False

    def perform(self) -> Work:
        yield self.sleep(0.1)
        raise RuntimeError("discarded")


def setup(broker: str = "memory", sweep: float | None = 5.0,
          **config: Any) -> tuple[Simulation, JobSystem, JobDependencyManager]:
    sim, system = build_system(broker=broker, **config)
    manager = JobDependencyManager(system, sweep_every_s=sweep)
    manager.attach()
    return sim, system, manager


def finish(sim: Simulation, system: JobSystem, until: float) -> dict[str, Any]:
    """Run to ``until``, take the inventory, and return the checkers' verdicts."""
    sim.run(until=until)
    system.inventory()
    return run_checks(sim.history, CHECKS, {})


def kinds_of(sim: Simulation, jid: str) -> list[str]:
    return [e[1] for e in sim.history.events if e[2] == jid]


def at(sim: Simulation, t: float, action: Any) -> None:
    def run() -> Generator[Any, Any, None]:
        yield sim.timeout(t)
        action()
    sim.process(run())


# ---- the ordinary path ---------------------------------------------------------------
def test_dependent_starts_only_after_every_dependency_succeeded() -> None:
    sim, system, _ = setup(concurrency=3)
    fast = system.client.perform_async(DepSleepJob, 1.0)
    slow = system.client.perform_async(DepSleepJob, 4.0)
    child = system.client.perform_async(DepSleepJob, 0.5, depends_on=[fast, slow])
    verdicts = finish(sim, system, 30)
    assert kinds_of(sim, child) == ["defer", "release", "start", "success"]
    (release,) = history_events(sim, "release", child)
    assert release[0] == 4.0
    assert all(v.ok for v in verdicts.values()), verdicts
    assert system.broker.hgetall(DEFERRED) == {}
    assert system.broker.hgetall(PENDING) == {}


def test_enqueue_api_and_empty_dependency_list() -> None:
    sim, system, manager = setup()
    parent = system.client.perform_async(DepSleepJob, 1.0)
    child = manager.enqueue(DepSleepJob, 0.1, dependencies=[parent])
    plain = system.client.perform_async(DepSleepJob, 0.1, depends_on=[])
    assert system.dependencies is manager  # type: ignore[attr-defined]
    assert kinds_of(sim, child) == ["defer"]
    assert kinds_of(sim, plain) == ["enqueue"]
    assert "depends_on" not in system.broker.queue_items("default")[-1]


def test_disabled_installs_nothing() -> None:
    _, system = build_system()
    assert install(system, {"enabled": False}) is None
    assert system.client.middleware == [] and not system.has_hooks


# ---- exactly once under concurrency ----------------------------------------------------
@pytest.mark.parametrize("broker", BROKERS)
def test_two_dependencies_finishing_at_the_same_instant_release_once(broker: str) -> None:
    sim, system, manager = setup(broker, concurrency=2)
    a = system.client.perform_async(DepSleepJob, 1.0)
    b = system.client.perform_async(DepSleepJob, 1.0)
    child = system.client.perform_async(DepSleepJob, 0.5, depends_on=[a, b])
    # A recovery sweep lands at the very same instant, and a's hook is delivered twice.
    at(sim, 1.0, lambda: manager.sweep(full=True))
    at(sim, 1.0, lambda: manager.finish(a, "succeeded"))
    verdicts = finish(sim, system, 20)
    assert [e[0] for e in history_events(sim, "success", a)] == [1.0]
    assert [e[0] for e in history_events(sim, "success", b)] == [1.0]
    assert len(history_events(sim, "release", child)) == 1
    assert len(history_events(sim, "start", child)) == 1
    assert verdicts["dependencies"].ok, verdicts["dependencies"]
    assert verdicts["dependencies"].stats["released_twice"] == 0


def test_a_stale_second_propagate_does_not_count_a_dependency_twice() -> None:
    """Two processes that both read a's dependents (a duplicated hook, a sweep racing
    the hook) both run step 2. Without one-shot edge tokens the pending counter would
    hit 0 on the second run and release the child while b is still running."""
    sim, system, manager = setup(concurrency=2)
    a = system.client.perform_async(DepSleepJob, 1.0)
    b = system.client.perform_async(DepSleepJob, 5.0)
    child = system.client.perform_async(DepSleepJob, 0.5, depends_on=[a, b])
    at(sim, 2.0, lambda: manager.propagate(system.broker, a, "succeeded", [child]))
    verdicts = finish(sim, system, 20)
    (release,) = history_events(sim, "release", child)
    assert release[0] == 5.0
    assert verdicts["dependencies"].ok, verdicts["dependencies"]


@pytest.mark.parametrize("broker", BROKERS)
def test_two_releasers_interleaved_between_read_and_claim_push_once(broker: str) -> None:
    """Process X (parent's success hook) reads the held payload; before X claims it,
    process Y releases the same job. Only the hdel winner may push."""
    sim, system, manager = setup(broker)
    parent = system.client.perform_async(DepSleepJob, 1.0)
    child = system.client.perform_async(DepSleepJob, 0.5, depends_on=[parent])
    store = system.broker
    read = store.hget
    interleaved: list[bool] = []

    def hget(key: str, field: str) -> Any:
        value = read(key, field)
        if key == DEFERRED and field == child and not interleaved:
            interleaved.append(False)
            interleaved[0] = manager._release(store, child)      # Y, between X's steps
        return value

    store.hget = hget  # type: ignore[method-assign]
    verdicts = finish(sim, system, 10)       # X: the release in parent's success hook
    assert interleaved == [True]
    assert len(history_events(sim, "release", child)) == 1
    assert [e for e in sim.history.of_kind("copy") if e[2] == child] == []
    assert len(history_events(sim, "start", child)) == 1
    assert verdicts["dependencies"].ok, verdicts["dependencies"]


# ---- crashes and storage errors ----------------------------------------------------------
def crash_before_release(system: JobSystem, manager: JobDependencyManager) -> list[float]:
    """The first propagate (right after the done mark) SIGKILLs the process instead."""
    crashed: list[float] = []
    original = manager.propagate

    def propagate(*args: Any, **kwargs: Any) -> None:
        if not crashed:
            crashed.append(system.sim.now)
            system.process("p0").crash()
        original(*args, **kwargs)

    manager.propagate = propagate  # type: ignore[method-assign]
    return crashed


@pytest.mark.parametrize("broker", BROKERS)
def test_crash_between_done_and_release_is_recovered(broker: str) -> None:
    sim, system, manager = setup(broker, concurrency=2)
    crashed = crash_before_release(system, manager)
    parent = system.client.perform_async(DepSleepJob, 1.0)
    child = system.client.perform_async(DepSleepJob, 0.5, depends_on=[parent])
    at(sim, 3.0, system.process("p0").restart)
    verdicts = finish(sim, system, 40)
    assert crashed == [1.0]
    assert kinds_of(sim, parent) == ["enqueue", "start", "success"]
    (release,) = history_events(sim, "release", child)
    assert release[0] > 3.0                     # by the sweep, after the restart
    assert kinds_of(sim, child)[-1] == "success"
    assert all(v.ok for v in verdicts.values()), verdicts
    assert system.broker.hgetall(UNRELEASED) == {}
    assert manager.let_go >= 1


def test_without_the_sweep_the_same_crash_leaves_the_dependent_stuck() -> None:
    """The control for the test above: the checker does see a stuck dependent."""
    sim, system, manager = setup(sweep=None, concurrency=2)
    crash_before_release(system, manager)
    parent = system.client.perform_async(DepSleepJob, 1.0)
    child = system.client.perform_async(DepSleepJob, 0.5, depends_on=[parent])
    at(sim, 3.0, system.process("p0").restart)
    verdicts = finish(sim, system, 40)
    assert history_events(sim, "release", child) == []
    assert ("held", child, "deferred") == history_events(sim, "held", child)[0][1:]
    assert not verdicts["dependencies"].ok
    assert verdicts["dependencies"].stats["stuck"] == 1
    assert verdicts["no_loss"].ok               # held, not lost


def test_a_done_mark_refused_by_storage_is_retried_by_the_sweep() -> None:
    sim, system, manager = setup()
    original = manager.mark_done
    refused: list[str] = []

    def flaky(broker: Any, jid: str, outcome: str) -> list[str]:
        if not refused:
            refused.append(jid)
            raise BrokerError("connection reset")
        return original(broker, jid, outcome)

    manager.mark_done = flaky  # type: ignore[method-assign]
    parent = system.client.perform_async(DepSleepJob, 1.0)
    child = system.client.perform_async(DepSleepJob, 0.5, depends_on=[parent])
    verdicts = finish(sim, system, 30)
    assert refused == [parent]
    (release,) = history_events(sim, "release", child)
    assert release[0] == 5.0                    # the first sweep tick
    assert all(v.ok for v in verdicts.values()), verdicts


# ---- refused at enqueue ------------------------------------------------------------------
def test_unknown_jids_are_rejected_by_name() -> None:
    sim, system, _ = setup()
    known = system.client.perform_async(DepSleepJob, 1.0)
    before = len(sim.history)
    with pytest.raises(DependencyError, match=r"unknown dependency jid\(s\) nope-1, nope-2") as err:
        system.client.perform_async(DepSleepJob, 1.0, depends_on=[known, "nope-1", "nope-2"])
    assert err.value.jids == ["nope-1", "nope-2"]
    assert len(sim.history) == before
    assert system.broker.hgetall(DEFERRED) == {}


def test_cycles_are_rejected_with_the_loop_named() -> None:
    _, system, _ = setup()
    a = system.client.perform_async(DepSleepJob, 1.0)
    b = system.client.perform_async(DepSleepJob, 1.0, depends_on=[a])
    c = system.client.perform_async(DepSleepJob, 1.0, depends_on=[b])
    with pytest.raises(DependencyError, match=f"cycle {a} -> {b} -> {c} -> {a}") as err:
        system.client.perform_async(DepSleepJob, 1.0, jid=a, depends_on=[c])
    assert err.value.jids == [a, b, c, a]
    with pytest.raises(DependencyError, match="cycle x -> x"):
        system.client.perform_async(DepSleepJob, 1.0, jid="x", depends_on=["x"])
    assert sorted(system.broker.hgetall(dependents_key(c))) == []
    assert system.lifecycle.get("x") is None


def test_an_existing_jid_cannot_be_deferred_again() -> None:
    _, system, _ = setup()
    a = system.client.perform_async(DepSleepJob, 1.0)
    b = system.client.perform_async(DepSleepJob, 1.0)
    with pytest.raises(DependencyError, match="already exists"):
        system.client.perform_async(DepSleepJob, 1.0, jid=b, depends_on=[a])


# ---- failure propagates ------------------------------------------------------------------
@pytest.mark.parametrize("broker", BROKERS)
def test_a_dead_dependency_cancels_its_dependents_transitively(broker: str) -> None:
    sim, system, _ = setup(broker, concurrency=3)
    client = system.client
    doomed = client.perform_async(DepDieJob, 1.0)
    fine = client.perform_async(DepSleepJob, 0.5)
    b = client.perform_async(DepSleepJob, 1.0, depends_on=[doomed])
    c = client.perform_async(DepSleepJob, 1.0, depends_on=[b])
    d = client.perform_async(DepSleepJob, 1.0, depends_on=[c, fine])
    e = client.perform_async(DepSleepJob, 1.0, depends_on=[fine])
    verdicts = finish(sim, system, 30)
    cancels = {ev[2]: ev[3:] for ev in sim.history.of_kind("cancel")}
    assert cancels == {b: ("dependency_dead", doomed), c: ("dependency_canceled", b),
                       d: ("dependency_canceled", c)}
    assert kinds_of(sim, e)[-1] == "success"
    assert history_events(sim, "start", b) == []
    assert all(v.ok for v in verdicts.values()), verdicts
    assert verdicts["dependencies"].stats["canceled"] == 3
    assert system.broker.hgetall(DEFERRED) == {}


def test_dependencies_finished_before_enqueue() -> None:
    sim, system, _ = setup()
    done = system.client.perform_async(DepSleepJob, 0.5)
    dead = system.client.perform_async(DepDieJob, 0.5)
    discarded = system.client.perform_async(DepDiscardJob)
    sim.run(until=5)
    runs = system.client.perform_async(DepSleepJob, 0.5, depends_on=[done])
    never = system.client.perform_async(DepSleepJob, 0.5, depends_on=[done, dead])
    dropped = system.client.perform_async(DepSleepJob, 0.5, depends_on=[discarded])
    verdicts = finish(sim, system, 20)
    assert kinds_of(sim, runs) == ["defer", "release", "start", "success"]
    assert kinds_of(sim, never) == ["defer", "cancel"]
    assert history_events(sim, "cancel", dropped)[0][3:] == ("dependency_discarded",
                                                              discarded)
    assert all(v.ok for v in verdicts.values()), verdicts


def test_jobs_still_waiting_at_the_horizon_are_held() -> None:
    sim, system, _ = setup()
    parent = system.client.perform_async(DepSleepJob, 100.0)
    child = system.client.perform_async(DepSleepJob, 1.0, depends_on=[parent])
    verdicts = finish(sim, system, 10)
    assert history_events(sim, "held", child)[0][3] == "deferred"
    assert verdicts["no_loss"].ok and verdicts["dependencies"].ok


def test_memory_and_fakeredis_record_the_same_history() -> None:
    """Storage iteration order never leaks into the history (hashes are read sorted)."""
    digests = []
    for broker in BROKERS:
        sim, system, _ = setup(broker, concurrency=4)
        roots = [system.client.perform_async(DepSleepJob, 1.0) for _ in range(3)]
        doomed = system.client.perform_async(DepDieJob, 1.0)
        for i in range(6):
            system.client.perform_async(DepSleepJob, 0.5, depends_on=[*roots[: i % 3 + 1]])
            system.client.perform_async(DepSleepJob, 0.5, depends_on=[roots[i % 3], doomed])
        finish(sim, system, 20)
        digests.append(sim.history.digest())
    assert digests[0] == digests[1]


HOLD = {"safeguards": {"dependencies": {"on_failure": "hold"}}}


@pytest.mark.parametrize("broker", BROKERS)
def test_under_the_hold_rule_a_failed_dependency_keeps_its_dependents_deferred(
        broker: str) -> None:
    """RQ's rule: the dependents of a failed job wait in the DeferredJobRegistry for good,
    transitively, and one enqueued after the failure waits too; nothing is lost."""
    sim, system = build_system(broker=broker, start=False, concurrency=3)
    JobDependencyManager(system, on_failure="hold").attach()
    system.start(HOLD)
    client = system.client
    doomed = client.perform_async(DepDieJob, 1.0)
    fine = client.perform_async(DepSleepJob, 0.5)
    b = client.perform_async(DepSleepJob, 1.0, depends_on=[doomed])
    c = client.perform_async(DepSleepJob, 1.0, depends_on=[b])
    e = client.perform_async(DepSleepJob, 1.0, depends_on=[fine])
    late: list[str] = []
    at(sim, 10, lambda: late.append(client.perform_async(DepSleepJob, 1.0,
                                                         depends_on=[doomed])))
    sim.run(until=30)
    assert system.dependencies.settled()              # nothing is owed to the held ones
    system.inventory()
    verdicts = run_checks(sim.history, CHECKS, {})
    assert all(v.ok for v in verdicts.values()), verdicts
    for jid in (b, c, *late):
        assert kinds_of(sim, jid) == ["defer", "held"]
    assert kinds_of(sim, e)[-1] == "success"
    assert sorted(system.broker.hgetall(DEFERRED)) == sorted([b, c, *late])
    # control: judged by the cancel rule, the same history has the two direct dependents
    # of the dead job not canceled (c waits on b, which did not fail)
    cancel = check_dependencies(sim.history, {})
    assert not cancel.ok and cancel.stats["not_canceled"] == 2
    assert {ex["jid"] for ex in cancel.examples} == {b, *late}


def test_under_the_hold_rule_a_canceled_dependent_is_a_violation() -> None:
    sim, system, _ = setup(concurrency=2)                 # the cancel rule runs...
    doomed = system.client.perform_async(DepDieJob, 1.0)
    b = system.client.perform_async(DepSleepJob, 1.0, depends_on=[doomed])
    sim.run(until=20)
    system.inventory()
    verdict = check_dependencies(sim.history, HOLD)       # ...the hold rule is asked
    assert not verdict.ok and verdict.stats["not_canceled"] == 1
    assert verdict.examples[0]["what"] == "not held" and verdict.examples[0]["jid"] == b
