"""Batches: complete, success and death callbacks fire exactly once each.

Exactly-once is judged from the history: each firing is a once-only effect, so the
idempotency checker counts any second firing; callback jobs are counted by class.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from jobsim.checks.registry import run_checks
from jobsim.sim.simulation import Simulation
from jobsim.system import JobSystem
from jobsim.system.batch import Batch, BatchManager
from jobsim.system.job import Job, Work

from .conftest import build_system, history_events

BROKERS = ["memory", "fakeredis"]


class BatchWorkJob(Job):
    def perform(self, seconds: float) -> Work:
        yield self.sleep(seconds)


class BatchFlakyJob(Job):
    """Fails its first attempt, then succeeds; retries after 10 s."""

    def perform(self, seconds: float) -> Work:
        yield self.sleep(seconds)
        if self.attempt == 1:
            raise RuntimeError("first attempt fails")

    def retry_in(self, count: int, exc: BaseException) -> float:
        return 10.0


class BatchDieJob(Job):
    retry = 0

    def perform(self, seconds: float) -> Work:
        yield self.sleep(seconds)
        raise RuntimeError("dies")


class BatchCallbackJob(Job):
    def perform(self, bid: str, kind: str) -> Work:
        yield self.sleep(0.1)


def fired(sim: Simulation, bid: str) -> dict[str, list[float]]:
    """Callback kind -> times its once-only effect was recorded."""
    out: dict[str, list[float]] = {}
    for ev in sim.history.of_kind("effect"):
        if ev[3].startswith(f"batch:{bid}:"):
            out.setdefault(ev[3].rsplit(":", 1)[1], []).append(ev[0])
    return out


def callback_runs(sim: Simulation) -> list[tuple[str, ...]]:
    return sorted(e[2] for e in sim.history.of_kind("enqueue") if e[4] == "BatchCallbackJob")


def run(sim: Simulation, system: JobSystem, until: float) -> dict[str, Any]:
    sim.run(until=until)
    system.inventory()
    return run_checks(sim.history, ["idempotency", "lifecycle", "no_loss"], {})


def at(sim: Simulation, t: float, action: Any) -> None:
    def go() -> Generator[Any, Any, None]:
        yield sim.timeout(t)
        action()
    sim.process(go())


def callbacks() -> dict[str, Any]:
    return {"on_success": BatchCallbackJob, "on_complete": BatchCallbackJob,
            "on_death": BatchCallbackJob}


@pytest.mark.parametrize("broker", BROKERS)
def test_all_jobs_succeed_fires_complete_and_success_once(broker: str) -> None:
    sim, system = build_system(broker=broker, concurrency=3)
    batch = Batch(system, **callbacks())
    jids = batch.jobs(lambda: [system.client.perform_async(BatchWorkJob, s) for s in (1, 2, 3)])
    assert {p["bid"] for p in system.broker.queue_items("default")} == {batch.bid}
    verdicts = run(sim, system, 30)
    assert len(jids) == 3
    assert fired(sim, batch.bid) == {"complete": [3.0], "success": [3.0]}
    callback_jobs = [e for e in sim.history.of_kind("enqueue") if e[4] == "BatchCallbackJob"]
    assert len(callback_jobs) == 2
    assert all(history_events(sim, "success", e[2]) for e in callback_jobs)
    assert all(v.ok for v in verdicts.values()), verdicts
    status = batch.status()
    assert (status["total"], status["unran"], status["pending"], status["dead"]) == (3, 0, 0, 0)
    assert status["fired"] == ["complete", "success"]


def test_a_death_fires_death_and_complete_but_never_success() -> None:
    sim, system = build_system(concurrency=3)
    batch = Batch(system, **callbacks())
    batch.add(BatchWorkJob, 1.0)
    batch.add(BatchDieJob, 2.0)
    batch.add(BatchWorkJob, 5.0)
    verdicts = run(sim, system, 30)
    assert fired(sim, batch.bid) == {"death": [2.0], "complete": [5.0]}
    assert verdicts["idempotency"].ok


def test_complete_fires_when_every_job_ran_once_success_after_the_retry() -> None:
    sim, system = build_system(concurrency=2)
    batch = Batch(system, **callbacks())
    batch.jobs(lambda: (system.client.perform_async(BatchWorkJob, 1.0),
                        system.client.perform_async(BatchFlakyJob, 2.0)))
    run(sim, system, 60)
    times = fired(sim, batch.bid)
    assert times["complete"] == [2.0]                # the flaky job failed once: it ran
    assert len(times["success"]) == 1 and times["success"][0] >= 12.0
    assert "death" not in times


def test_duplicate_deliveries_and_hooks_fire_nothing_twice() -> None:
    sim, system = build_system(concurrency=3)
    batch = Batch(system, **callbacks())
    jid = batch.add(BatchWorkJob, 2.0)
    batch.add(BatchWorkJob, 1.0)
    payload = next(p for p in system.broker.queue_items("default") if p["jid"] == jid)
    system.broker.push("default", payload)                # a duplicate delivery
    sim.record("copy", jid, "default", "duplicate")
    system.notify("default", 1)
    manager: BatchManager = system.batches  # type: ignore[attr-defined]
    at(sim, 5.0, lambda: manager.record(payload, ok=True))   # a hook delivered twice
    at(sim, 6.0, lambda: manager.record(payload, dead=False))
    verdicts = run(sim, system, 30)
    assert len(history_events(sim, "start", jid)) == 2    # the copy did run
    assert fired(sim, batch.bid) == {"complete": [2.0], "success": [2.0]}
    assert len(callback_runs(sim)) == 2
    assert verdicts["idempotency"].ok
    assert batch.status()["pending"] == 0 and batch.status()["unran"] == 0


@pytest.mark.parametrize("broker", BROKERS)
def test_crash_between_outcome_and_settle_fires_once_after_recovery(broker: str) -> None:
    sim, system = build_system(broker=broker, concurrency=2)
    manager = BatchManager.of(system)
    original = manager.settle
    crashed: list[float] = []

    def settle(bid: str, jid: str | None) -> list[str]:
        if jid is not None and not crashed:              # inside a job's hook: SIGKILL
            crashed.append(sim.now)
            system.process("p0").crash()
        return original(bid, jid)

    manager.settle = settle  # type: ignore[method-assign]
    batch = Batch(system, on_success=BatchCallbackJob, on_complete=BatchCallbackJob)
    batch.add(BatchWorkJob, 1.0)
    at(sim, 2.0, system.process("p0").restart)
    verdicts = run(sim, system, 30)
    assert crashed == [1.0]
    times = fired(sim, batch.bid)
    assert times == {"complete": [5.0], "success": [5.0]}   # the sweep's first tick
    assert len(callback_runs(sim)) == 2
    assert all(v.ok for v in verdicts.values()), verdicts


def test_without_the_sweep_the_same_crash_never_fires() -> None:
    """The control: the open marker alone does nothing; the sweep is what recovers."""
    sim, system = build_system(concurrency=2)
    manager = BatchManager(system, sweep_every_s=None)
    manager.attach()

    def crash_instead(bid: str, jid: str | None) -> list[str]:
        system.process("p0").crash()
        return []

    manager.settle = crash_instead  # type: ignore[method-assign]
    batch = Batch(system, on_success=BatchCallbackJob)
    batch.add(BatchWorkJob, 1.0)
    at(sim, 2.0, system.process("p0").restart)
    run(sim, system, 30)
    assert fired(sim, batch.bid) == {}
    assert system.broker.hgetall("batches:open") == {batch.bid: 1}


def test_plain_callables_get_the_status() -> None:
    sim, system = build_system()
    seen: list[dict[str, Any]] = []
    batch = Batch(system, on_complete=seen.append, on_success=lambda status: 1 / 0)
    batch.add(BatchWorkJob, 1.0)
    run(sim, system, 10)
    assert seen == [{"bid": batch.bid, "kind": "complete", "total": 1, "unran": 0,
                     "pending": 0, "dead": 0}]
    assert fired(sim, batch.bid) == {"complete": [1.0], "success": [1.0]}
    assert system.batches.errors == [(batch.bid, "success", "ZeroDivisionError")]  # type: ignore[attr-defined]


def test_batch_jobs_can_wait_on_dependencies() -> None:
    """Tagging runs before the dependency middleware takes a job into custody."""
    from jobsim.system.dependencies import install

    sim, system = build_system(concurrency=2)
    install(system, {"enabled": True})
    batch = Batch(system, on_success=BatchCallbackJob)
    first = batch.add(BatchWorkJob, 1.0)
    batch.add(BatchWorkJob, 1.0, depends_on=[first])
    run(sim, system, 30)
    assert fired(sim, batch.bid) == {"complete": [2.0], "success": [2.0]}
