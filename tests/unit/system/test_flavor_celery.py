"""The celery flavour against the documented rules of Celery and kombu's Redis transport.

The visibility timeout and prefetch cannot run in real Celery in simulated time, so each
is tested as a rule: a small judge reads a history (or storage samples) and lists what
breaks the documented rule. Each judge is first shown to work on hand-built inputs (one
that keeps the rule, ones that break it), then applied to jobsim's runs; the negative
controls change jobsim's mechanism and the judge must catch it.

Rules (kombu 5.7.0 ``kombu/transport/redis.py``, celery 5.7.0 ``celery/worker``):

* visibility: a message unacknowledged for ``visibility_timeout`` is pushed back by the
  next restore scan (scans every ``unacked_restore_interval * unacked_restore_throttle``
  = 100 s by default) and never earlier; so a countdown retry whose countdown exceeds
  the timeout plus one scan period is delivered twice, and one shorter than the timeout
  never is.
* prefetch: a worker holds at most ``worker_prefetch_multiplier * concurrency``
  unacknowledged messages it has not started (ETA messages excepted).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

import pytest

from jobsim.checks import no_loss
from jobsim.history.history import History
from jobsim.system import Job
from jobsim.system.flavors import CeleryOptions, FlavorConfig
from jobsim.system.flavors.celery import UNACKED, CeleryFlavor

from .conftest import Build, Events

SLACK_S = 5.0          # delivery lag: an idle thread waits at most 2 s for a push


class CelerySleepJob(Job):
    def perform(self, seconds: float) -> Any:
        yield self.sleep(seconds)


class CeleryFlakyJob(Job):
    """Fails its first execution, succeeds after."""

    def perform(self) -> Any:
        yield self.sleep(1)
        if self.attempt == 1:
            raise ConnectionError("flaky")


def celery(**options: Any) -> FlavorConfig:
    return FlavorConfig("celery", celery=CeleryOptions(**options))


# ---- the visibility rule ------------------------------------------------------------
def visibility_violations(events: list[tuple[Any, ...]], vt: float,
                          scan: float) -> list[tuple[str, str]]:
    """(problem, jid) for each breach: a restore before ``vt`` ("early"), or a message
    held past ``vt`` plus a scan and never restored ("missed")."""
    retries: dict[str, tuple[float, float]] = {}
    restored: dict[str, list[float]] = {}
    for event in events:
        if event[1] == "retry":
            retries[event[2]] = (event[0], event[5])
        elif event[1] == "copy" and event[4] == "visibility_timeout":
            restored.setdefault(event[2], []).append(event[0])
    out = []
    for jid, (published, due) in retries.items():
        times = restored.get(jid, [])
        if any(t < published + vt for t in times):
            out.append(("early", jid))
        if due > published + vt + scan + SLACK_S and not times:
            out.append(("missed", jid))
    return out


def test_the_visibility_judge_on_hand_built_histories() -> None:
    kept = [(0.0, "retry", "a", 0, 900.0, 900.0, "fixed:intervals=900", 3),
            (650.0, "copy", "a", "default", "visibility_timeout"),
            (1.0, "retry", "b", 0, 300.0, 301.0, "fixed:intervals=300", 3)]
    assert visibility_violations(kept, 600, 100) == []
    early = [kept[0], (300.0, "copy", "a", "default", "visibility_timeout")]
    assert visibility_violations(early, 600, 100) == [("early", "a")]
    assert visibility_violations(kept[:1], 600, 100) == [("missed", "a")]


def _retry_run(build: Build, countdown: float, vt: float) -> tuple[Any, Any]:
    sim, system = build(processes=2, concurrency=2, flavor=celery(
        autoretry_for=("ConnectionError",), default_retry_delay=countdown,
        visibility_timeout=vt))
    for _ in range(6):
        system.client.perform_async(CeleryFlakyJob)
    sim.run(until=countdown + vt + 400)
    return sim, system


@pytest.mark.parametrize("countdown", [300.0, 900.0, 2000.0])
def test_jobsim_keeps_the_visibility_rule(build: Build, events: Events,
                                          countdown: float) -> None:
    sim, _ = _retry_run(build, countdown, 600.0)
    history = list(sim.history.events)
    assert visibility_violations(history, 600.0, 100.0) == []
    copies = events(sim, "copy")
    starts = Counter(e[2] for e in events(sim, "start"))
    restored = Counter(e[2] for e in copies)
    if countdown > 700:            # held past the timeout: restored, so run twice or more
        # each redelivery is held again and restored again a timeout later
        expected = int((countdown - 10) // 600)
        assert set(restored.values()) == {expected} and len(restored) == 6
        assert all(starts[jid] == 2 + expected for jid in restored)
    else:
        assert not copies and set(starts.values()) == {2}
    assert all(events(sim, "success", jid) for jid in starts)


def test_negative_control_restoring_too_early_is_caught(
        build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    original = CeleryFlavor.restore_visible
    monkeypatch.setattr(CeleryFlavor, "restore_visible",
                        lambda self, now: original(self, now + self.opts.visibility_timeout))
    sim, _ = _retry_run(build, 300.0, 600.0)
    assert {p for p, _ in visibility_violations(list(sim.history.events), 600, 100)} == {
        "early"}


def test_negative_control_never_restoring_is_caught(
        build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CeleryFlavor, "restore_visible", lambda self, now: 0)
    sim, _ = _retry_run(build, 2000.0, 600.0)
    assert {p for p, _ in visibility_violations(list(sim.history.events), 600, 100)} == {
        "missed"}


# ---- the prefetch rule ---------------------------------------------------------------
def prefetch_excess(samples: list[dict[str, list[Any]]], limit: int) -> int:
    """Samples of the unacked hash (tag -> [delivered, queue, payload]); how far the
    most loaded worker went past ``limit`` messages without an ETA."""
    worst = 0
    for sample in samples:
        held = Counter(tag.partition(":")[0] for tag, (_t, _q, payload) in sample.items()
                       if payload.get("eta") is None)
        worst = max(worst, *held.values(), 0)
    return max(0, worst - limit)


def test_the_prefetch_judge_on_hand_built_samples() -> None:
    def sample(n: int) -> dict[str, list[Any]]:
        return {f"p0.1:{i}": [0.0, "default", {"jid": str(i)}] for i in range(n)}
    assert prefetch_excess([sample(8), sample(3)], 8) == 0
    assert prefetch_excess([sample(11)], 8) == 3


def _prefetch_run(build: Build, limit: int | None = None) -> tuple[list[dict[str, Any]], Any]:
    sim, system = build(processes=2, concurrency=2, flavor=celery())
    if limit is not None:
        for worker in system.workers:
            worker.fetcher.limit = limit
    for _ in range(40):
        system.client.perform_async(CelerySleepJob, 30)
    samples = []
    for t in range(1, 200, 7):
        sim.run(until=t)
        samples.append(system.broker.hgetall(UNACKED))
    return samples, sim


def test_jobsim_keeps_the_prefetch_rule_and_fills_it(build: Build) -> None:
    samples, _ = _prefetch_run(build)
    assert prefetch_excess(samples, 8) == 0
    assert prefetch_excess(samples, 7) == 1          # the limit is reached, not undershot


def test_negative_control_an_unlimited_consumer_is_caught(build: Build) -> None:
    samples, _ = _prefetch_run(build, limit=0)
    assert prefetch_excess(samples, 8) > 0


# ---- acknowledgement and failure storage ---------------------------------------------
def _crash_mid_job(build: Build, acks_late: bool) -> tuple[Any, str]:
    sim, system = build(processes=2, concurrency=1, flavor=celery(
        task_acks_late=acks_late, visibility_timeout=300.0))
    jid = system.client.perform_async(CelerySleepJob, 60)
    sim.run(until=10)
    holder = next(w for w in system.workers if any(p.current for p in w.processors))
    holder.crash()
    sim.run(until=700)
    system.inventory()
    return sim, jid


def test_early_ack_loses_the_running_task_on_a_crash(build: Build, events: Events) -> None:
    sim, jid = _crash_mid_job(build, acks_late=False)
    assert not events(sim, "success", jid)
    assert not no_loss.check(History(list(sim.history.events))).ok


def test_late_ack_redelivers_after_the_visibility_timeout(build: Build, events: Events) -> None:
    sim, jid = _crash_mid_job(build, acks_late=True)
    recovered = events(sim, "recover", jid)
    assert len(recovered) == 1 and 300.0 <= recovered[0][0] <= 410.0
    assert events(sim, "success", jid)
    assert no_loss.check(History(list(sim.history.events))).ok


def test_failures_go_to_the_result_backend_not_a_dead_set(
        build: Build, events: Events) -> None:
    sim, system = build(concurrency=2, flavor=celery(autoretry_for=("KeyError",)))
    jid = system.client.perform_async(CeleryFlakyJob)      # ConnectionError: no autoretry
    sim.run(until=60)
    assert [e[3] for e in events(sim, "discard", jid)] == ["FAILURE"]
    assert system.broker.hget("celery-task-meta", jid) == "FAILURE"
    assert not events(sim, "dead") and not events(sim, "retry")


def test_retries_stop_at_max_retries(build: Build, events: Events) -> None:
    class CeleryAlwaysFails(Job):
        def perform(self) -> Any:
            yield self.sleep(1)
            raise ConnectionError("down")

    sim, system = build(concurrency=2, flavor=celery(
        autoretry_for=("Exception",), max_retries=3, retry_backoff=2, retry_jitter=False))
    jid = system.client.perform_async(CeleryAlwaysFails)
    sim.run(until=200)
    assert [(e[3], e[4]) for e in events(sim, "retry", jid)] == [(0, 2.0), (1, 4.0), (2, 8.0)]
    assert [e[3] for e in events(sim, "discard", jid)] == ["FAILURE"]


def test_a_graceful_stop_gives_back_what_the_worker_reserved(
        build: Build, events: Events) -> None:
    """kombu restores a stopping consumer's unacknowledged messages at once (not after
    the visibility timeout): the other worker runs them without waiting an hour."""
    sim, system = build(processes=2, concurrency=1, flavor=celery())
    for _ in range(12):
        system.client.perform_async(CelerySleepJob, 20)
    sim.run(until=1)
    stopping = system.process("p0")
    held = [t for t in system.broker.hgetall(UNACKED) if t.startswith("p0.1:")]
    assert len(held) == 4                    # prefetch 4 x 1 thread
    stopping.shutdown()
    sim.run(until=400)
    assert len(events(sim, "copy")) == 4
    assert {e[4] for e in events(sim, "copy")} == {"restore_unacked"}
    assert len(events(sim, "success")) == 12


class CeleryOomJob(Job):
    """Its pool child is killed (an OOM) on the first run; the second run succeeds.
    (A redelivered message is the same attempt to Celery, so the job keeps count.)"""

    killed: ClassVar[set[str]] = set()       # cleared by each test that uses it

    def perform(self) -> Any:
        yield self.sleep(1)
        if self.jid not in self.killed:
            self.killed.add(self.jid)
            yield self.crash_process()


@pytest.mark.parametrize(("acks_late", "reject", "requeued"), [
    (False, False, False), (True, False, False), (False, True, False), (True, True, True)])
def test_a_lost_pool_child_requeues_only_with_late_ack_and_reject(
        build: Build, events: Events, acks_late: bool, reject: bool, requeued: bool) -> None:
    CeleryOomJob.killed.clear()
    sim, system = build(concurrency=2, flavor=celery(
        task_acks_late=acks_late, task_reject_on_worker_lost=reject))
    jid = system.client.perform_async(CeleryOomJob)
    other = system.client.perform_async(CelerySleepJob, 5)
    sim.run(until=60)
    assert [e[3] for e in events(sim, "failure", jid)] == ["WorkerLostError"]
    assert not events(sim, "crash")                      # the worker process lives on
    assert events(sim, "success", other)
    assert len(system.process("p0").processors) == 2     # a fresh child took the slot
    if requeued:
        assert events(sim, "requeue", jid) and events(sim, "success", jid)
    else:
        assert [e[3] for e in events(sim, "discard", jid)] == ["FAILURE"]
    assert system.broker.hgetall(UNACKED) == {}


def test_the_retry_budget_safeguard_applies_to_celery_retries(
        build: Build, events: Events) -> None:
    from jobsim.system import safeguards

    def run(budget: bool) -> tuple[int, int]:
        sim, system = build(concurrency=5, flavor=celery(
            autoretry_for=("Exception",), default_retry_delay=5))
        if budget:
            safeguards.install(system, {"retry_budget": {
                "tokens": 10, "cost": 5, "timeout_cost": 10, "refund": 0, "ratio": None}})
        for _ in range(10):
            system.client.perform_async(CeleryFlakyJob)
        sim.run(until=120)
        return len(events(sim, "retry")), len(events(sim, "discard"))

    assert run(budget=False) == (10, 0)
    assert run(budget=True) == (2, 8)            # two retries paid for, eight refused


def test_priority_steps_as_kombu_rounds_them() -> None:
    from jobsim.system.flavors.celery import priority_step

    steps = (0, 3, 6, 9)
    assert [priority_step(p, steps) for p in range(10)] == [0, 0, 0, 3, 3, 3, 6, 6, 6, 9]
    assert priority_step(42, steps) == 9 and priority_step(-1, steps) == 0
    assert priority_step(5, (0, 5)) == 5 and priority_step(4, (0, 5)) == 0


def test_lower_priority_steps_wait_for_higher_ones(build: Build, events: Events) -> None:
    """Redis: step 0 (no priority) first, then 3, 6, 9, across queues (one BRPOP)."""
    sim, system = build(concurrency=1, queues=["a", "b"], flavor=celery(
        worker_prefetch_multiplier=1))
    order = [("b", 9), ("a", 6), ("b", None), ("a", 3), ("a", None)]
    jids = {system.client.perform_async(CelerySleepJob, 1, queue=q, priority=p): (q, p)
            for q, p in order}
    sim.run(until=60)
    ran = [jids[e[2]] for e in events(sim, "start")]
    assert ran == [("a", None), ("b", None), ("a", 3), ("a", 6), ("b", 9)]   # a first: round robin
    assert {e[3] for e in events(sim, "start")} == {"a", "b", "a:p3", "a:p6", "b:p9"}
