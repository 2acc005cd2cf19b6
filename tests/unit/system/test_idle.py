"""Idle threads without timers: a push still wakes the thread Redis would serve, work a
woken thread never took is still found at the next BRPOP re-issue, the audit runs only
when a job can be stranded, and a storage fault gives the timers back (system/idle.py)."""

from __future__ import annotations

from typing import Any

import pytest

from jobsim.broker import MemoryBroker
from jobsim.chaos.storage import FaultyBroker, StorageFaults
from jobsim.sim.simulation import Simulation
from jobsim.system import Job, JobSystem, SystemConfig
from jobsim.system.idle import IdleWaiters

from .conftest import Build, Events, history_events


class IdleSleepJob(Job):
    def perform(self, seconds: float) -> Any:
        yield self.sleep(seconds)


def test_a_push_wakes_the_thread_whose_last_brpop_is_oldest(build: Build,
                                                            events: Events) -> None:
    # p0 takes a 1 s job at t=0 and parks at 1 (re-issues at 3, 5, ...); p1 parks at 0
    # (re-issues at 2, 4, ...). At 102.5 p0's last BRPOP (101) is older than p1's (102),
    # though p1 parked first; p0 parks again at 103, so at 103.7 p1's (102) is older.
    sim, system = build(start=False, processes=2, concurrency=1)
    system.client.perform_async(IdleSleepJob, 1)
    system.start()
    sim.run(until=102.5)
    first = system.client.perform_async(IdleSleepJob, 0.5)
    sim.run(until=103.7)
    second = system.client.perform_async(IdleSleepJob, 0.5)
    sim.run(until=105)
    assert [e[4] for e in events(sim, "start", first)] == ["p0"]
    assert [e[4] for e in events(sim, "start", second)] == ["p1"]


def _crash_after_wake(build: Build, monkeypatch: pytest.MonkeyPatch | None = None
                      ) -> tuple[Any, JobSystem]:
    """p0 and p1 idle since 0 (re-issues at 2, 4, 6, ...); at 5.5 a push wakes p0 (first
    in line on the tie), which crashes at the same instant, before it can fetch."""
    sim, system = build(processes=2, concurrency=1)
    sim.run(until=5.5)
    system.client.perform_async(IdleSleepJob, 10)
    system.workers[0].crash()
    sim.run(until=8)
    return sim, system


def test_work_a_crashed_thread_was_woken_for_is_fetched_at_the_next_reissue(
        build: Build, events: Events) -> None:
    # The wake goes unused: the other process's idle thread finds the job at its next
    # BRPOP re-issue (t=6), as it would with a real 2 s timer.
    sim, _ = _crash_after_wake(build)
    assert [(e[0], e[4]) for e in events(sim, "start")] == [(6.0, "p1")]


def test_without_the_recheck_the_job_would_wait_for_the_next_push(
        build: Build, events: Events, monkeypatch: pytest.MonkeyPatch) -> None:
    # Negative control: with the recheck switched off the job is stranded.
    monkeypatch.setattr(IdleWaiters, "recheck", lambda self: None)
    sim, _ = _crash_after_wake(build)
    assert events(sim, "start") == []


def test_identical_processes_skip_the_audit_and_a_stranger_brings_it_back(
        build: Build, events: Events) -> None:
    # Every fetcher pops the same lists: a push's woken thread takes the job, so no
    # audit is scheduled. A waiter that pops no known lists (first in line: its timer
    # is due at 7.9) is woken by the next push and never fetches; the audit then finds
    # the job for the lazy thread whose re-issue comes next (8.0).
    sim, system = build(processes=2, concurrency=2)
    sim.run(until=5.5)
    system.client.perform_async(IdleSleepJob, 1)
    assert not system.idle._audit_due
    sim.run(until=5.9)
    sim.env.process(system.idle.wait(None))
    sim.run(until=7.8)
    jid = system.client.perform_async(IdleSleepJob, 1)
    assert system.idle._audit_due
    sim.run(until=9)
    assert [e[0] for e in events(sim, "start", jid)] == [8.0]


def test_a_storage_fault_gives_idle_threads_their_timers_back(build: Build) -> None:
    sim = Simulation(seed=1)
    faults = StorageFaults()
    store = MemoryBroker()
    calls = [0]
    pop = store.pop

    def counted_pop(queue: str) -> Any:
        calls[0] += 1
        return pop(queue)

    store.pop = counted_pop  # type: ignore[method-assign]
    broker = FaultyBroker(store, faults, sim.streams["chaos"], "workers")
    JobSystem(sim, broker, SystemConfig(processes=1, concurrency=1)).start()
    sim.run(until=10.5)
    quiet = calls[0]
    faults.duplicate_delivery_rate = 0.5     # acts only on a fetch that took a job
    sim.run(until=50.5)
    assert calls[0] == quiet
    faults.outage = True                     # fails even a fetch of empty queues
    sim.run(until=60.5)
    assert calls[0] == quiet                 # refused before reaching the store
    faults.outage = False
    faults.ambiguous_push_rate = 0.5         # a push may land and wake nobody
    sim.run(until=110.5)
    assert quiet == 1                        # the first fetch; then no timer, no fetch
    assert calls[0] - quiet == 25            # errors 52..60 each 1 s; then 61, 63, .., 109


# ---- the rule the skipped audit rests on ------------------------------------------------
def _audit_every_push(monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit after every push, as before it was skipped: fetchers never count as
    popping the same lists."""
    learn = IdleWaiters._learn

    def mixed(self: IdleWaiters, fetcher: Any) -> None:
        learn(self, fetcher)
        self._shared = None

    monkeypatch.setattr(IdleWaiters, "_learn", mixed)


@pytest.mark.parametrize(("scenario", "scale"), [
    ("deploy_storm", 0.05), ("duplicate_emails", 0.05), ("order_pipeline", 0.05),
    ("rq_abandoned", 0.05), ("redis_failover", 0.05), ("black_friday", 0.02)])
def test_skipping_the_audit_changes_no_history(scenario: str, scale: float,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # Crashes and deploys, redelivery, dependencies, RQ's registries, a failover and
    # weighted queues: the same history with the audit after every push as without.
    from jobsim.scenario.runner import run_scenario

    skipped = run_scenario(scenario, seed=3, scale=scale).history.digest()
    _audit_every_push(monkeypatch)
    assert run_scenario(scenario, seed=3, scale=scale).history.digest() == skipped


def _under_notified(build: Build) -> list[float]:
    """Two jobs written with one wake: when does the second start?"""
    sim, system = build(processes=1, concurrency=2)
    sim.run(until=5.5)
    for _ in range(2):
        system.broker.push("default", system.client.build(IdleSleepJob, [10]))
    system.notify("default", 1)
    sim.run(until=8)
    return sorted(e[0] for e in history_events(sim, "start"))


def test_the_skip_needs_every_write_to_notify_once_per_job(
        build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    # Negative control of the comparison above: a writer that wakes fewer threads than
    # it wrote jobs is where the two differ. Audited, the other idle thread finds the
    # second job at its next re-issue (6.0); skipped, it waits for the next push.
    assert _under_notified(build) == [5.5]
    _audit_every_push(monkeypatch)
    assert _under_notified(build) == [5.5, 6.0]
