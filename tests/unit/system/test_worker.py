"""Worker processes: crash, reliable-fetch recovery, poison, graceful shutdown, heartbeat."""

from __future__ import annotations

from typing import Any

import pytest

from jobsim.broker.base import DEAD
from jobsim.sim.simulation import Simulation
from jobsim.system import Job, JobSystem
from jobsim.system.worker import PROCESSES_KEY

from .conftest import Build, Events

HOUR = 3600.0


class WorkerSleepJob(Job):
    def perform(self, seconds: float) -> Any:
        yield self.sleep(seconds)


class WorkerPoisonJob(Job):
    """Kills its own process a second in, every time it runs (an OOM on a bad input)."""

    def perform(self) -> Any:
        yield self.sleep(1)
        self.crash_process()
        yield self.sleep(1)


def at(sim: Simulation, t: float, action: Any) -> None:
    """Call ``action()`` at simulated time ``t``."""
    def run() -> Any:
        yield sim.timeout(t - sim.now)
        action()
    sim.process(run())


def restart_every(sim: Simulation, system: JobSystem, every: float) -> None:
    def loop() -> Any:
        while True:
            yield sim.timeout(every)
            system.workers[0].restart()
    sim.process(loop())


def after(sim: Simulation, jid: str, t: float) -> list[tuple[Any, ...]]:
    return [e for e in sim.history if e[2] == jid and e[0] > t]


# ---- crash ---------------------------------------------------------------------------
def test_basic_fetch_crash_loses_the_job_in_flight(build: Build, events: Events) -> None:
    sim, system = build(processes=1, concurrency=2, fetch="basic")
    jid = system.client.perform_async(WorkerSleepJob, 100)
    at(sim, 10, system.workers[0].crash)
    at(sim, 20, system.workers[0].restart)
    sim.run(until=300)
    system.inventory()
    assert [e[1] for e in sim.history if e[2] == jid] == ["enqueue", "start"]
    assert events(sim, "crash") == [(10, "crash", None, "p0")]
    assert events(sim, "restart") == [(20, "restart", None, "p0")]
    assert events(sim, "held") == []
    assert system.lifecycle.get(jid) == "processing"     # it never finished, and never will


def test_reliable_fetch_crash_keeps_the_job_in_the_private_list(
        build: Build, events: Events) -> None:
    sim, system = build(processes=1, concurrency=2, fetch="reliable")
    jid = system.client.perform_async(WorkerSleepJob, 100)
    at(sim, 10, system.workers[0].crash)
    sim.run(until=300)
    system.inventory()
    assert [e[1] for e in sim.history if e[2] == jid] == ["enqueue", "start", "held"]
    assert events(sim, "held") == [(300, "held", jid, "private:p0")]


@pytest.mark.parametrize("fetch", ["basic", "reliable"])
def test_restart_recovers_own_private_list(build: Build, events: Events, fetch: str) -> None:
    sim, system = build(processes=1, concurrency=2, fetch=fetch)
    jid = system.client.perform_async(WorkerSleepJob, 100)
    at(sim, 10, system.workers[0].crash)
    at(sim, 20, system.workers[0].restart)
    sim.run(until=300)
    system.inventory()
    if fetch == "basic":
        assert after(sim, jid, 10) == []
        return
    assert after(sim, jid, 10) == [
        (20, "recover", jid, "default", "p0", 1),
        (20, "start", jid, "default", "p0", 1, 0),   # recovery is not a failure
        (120, "success", jid, 0),
    ]
    assert system.broker.private_workers() == []


def test_recovery_takes_stale_processes_lists_only(build: Build, events: Events) -> None:
    """A starting process reclaims another's list only when its heartbeat is > 60 s old."""
    sim, system = build(start=False, processes=2, concurrency=1, fetch="reliable")
    system.client.push_bulk(WorkerSleepJob, [[500], [500]])
    system.start()
    p0, p1 = system.workers
    sim.run(until=1)
    ran_on = {e[4]: e[2] for e in events(sim, "start")}
    assert set(ran_on) == {"p0", "p1"}
    at(sim, 10, p0.crash)
    at(sim, 10, p1.crash)
    at(sim, 30, p1.restart)                 # p0 beat 20 s ago: maybe alive, leave it
    at(sim, 40, p1.crash)
    at(sim, 100, p1.restart)                # p0 beat 90 s ago: orphaned, take it
    sim.run(until=35)
    assert [e[2:5] for e in events(sim, "recover")] == [(ran_on["p1"], "default", "p1")]
    assert [p["jid"] for p in system.broker.private_items("p0")] == [ran_on["p0"]]
    sim.run(until=120)
    assert sorted(e[2:5] for e in events(sim, "recover") if e[0] == 100) == sorted([
        (ran_on["p0"], "default", "p0"), (ran_on["p1"], "default", "p1")])
    assert system.broker.private_items("p0") == []


# ---- poison ----------------------------------------------------------------------------
def test_job_recovered_more_than_three_times_is_poison(build: Build, events: Events) -> None:
    sim, system = build(processes=1, concurrency=1, fetch="reliable")
    jid = system.client.perform_async(WorkerPoisonJob)
    restart_every(sim, system, 10)
    sim.run(until=200)
    assert [e[5] for e in events(sim, "recover", jid)] == [1, 2, 3]
    assert [e[0] for e in events(sim, "start", jid)] == [0, 10, 20, 30]
    assert [e[0] for e in events(sim, "crash")] == [1, 11, 21, 31]
    assert events(sim, "failure") == []                # a crash is not a failure
    assert events(sim, "dead", jid) == [(40, "dead", jid, "poison")]
    assert [p["jid"] for _, p in system.broker.zitems(DEAD)] == [jid]
    assert system.lifecycle.get(jid) == "dead"


def test_recoveries_spread_beyond_72_hours_are_not_poison(build: Build, events: Events) -> None:
    sim, system = build(processes=1, concurrency=1, fetch="reliable", idle_wait_s=600,
                        poll_interval_avg=HOUR, heartbeat_s=HOUR)
    jid = system.client.perform_async(WorkerPoisonJob)
    restart_every(sim, system, 30 * HOUR)
    sim.run(until=200 * HOUR)
    counts = [e[5] for e in events(sim, "recover", jid)]
    assert counts == [1, 2, 3, 3, 3, 3]                # only the last 72 h count
    assert events(sim, "dead") == []


def test_basic_fetch_self_crash_loses_the_job(build: Build, events: Events) -> None:
    sim, system = build(processes=1, concurrency=1, fetch="basic")
    jid = system.client.perform_async(WorkerPoisonJob)
    restart_every(sim, system, 10)
    sim.run(until=100)
    assert [e[1] for e in sim.history if e[2] == jid] == ["enqueue", "start"]
    assert [e[0] for e in events(sim, "crash")] == [1]


# ---- graceful shutdown ---------------------------------------------------------------
@pytest.mark.parametrize("fetch", ["basic", "reliable"])
def test_shutdown_waits_for_short_jobs_and_requeues_long_ones_to_the_front(
        build: Build, events: Events, fetch: str) -> None:
    sim, system = build(start=False, processes=1, concurrency=3, fetch=fetch)
    short_a, short_b, long_job, wait_1, wait_2 = system.client.push_bulk(
        WorkerSleepJob, [[5], [8], [100], [1], [1]])
    system.start()
    worker = system.workers[0]
    at(sim, 1, lambda: worker.shutdown(25))
    sim.run(until=29)
    assert events(sim, "shutdown") == [(1, "shutdown", None, "p0", 25)]
    assert [e[2] for e in events(sim, "success")] == [short_a, short_b]
    assert [e[0] for e in events(sim, "success")] == [5, 8]
    assert events(sim, "requeue") == [(26, "requeue", long_job, "default", "p0")]
    assert events(sim, "stop") == [(26, "stop", None, "p0")]
    assert [p["jid"] for p in system.broker.queue_items("default")] == [
        long_job, wait_1, wait_2]
    assert system.broker.private_workers() == []
    worker.restart()
    sim.run(until=200)
    restarted = [(e[2], e[5]) for e in events(sim, "start") if e[0] >= 29]
    assert restarted[0] == (long_job, 1)               # next fetched, not a failed attempt
    assert {jid for jid, _ in restarted} == {long_job, wait_1, wait_2}


def test_shutdown_with_only_short_jobs_stops_when_they_finish(
        build: Build, events: Events) -> None:
    sim, system = build(start=False, processes=1, concurrency=2)
    system.client.push_bulk(WorkerSleepJob, [[3], [7]])
    system.start()
    done = system.workers[0].shutdown()
    sim.run(until=done)
    assert events(sim, "requeue") == []
    assert events(sim, "stop") == [(7, "stop", None, "p0")]
    assert not system.workers[0].alive
    sim.run(until=100)
    assert len(events(sim, "start")) == 2              # nothing fetched after stop


# ---- heartbeat -------------------------------------------------------------------------
def test_heartbeat_every_ten_seconds_until_crash(build: Build) -> None:
    sim, system = build(processes=2, concurrency=1)
    beat = lambda: system.broker.hget(PROCESSES_KEY, "p0")  # noqa: E731
    assert beat() == 0
    seen = []
    for t in (5, 15, 35, 41):
        sim.run(until=t)
        seen.append(beat())
    assert seen == [0, 10, 30, 40]
    system.workers[0].crash()
    sim.run(until=105)
    assert beat() == 40
    assert system.broker.hget(PROCESSES_KEY, "p1") == 100
    system.workers[0].restart()
    assert beat() == 105
    sim.run(until=116)
    assert beat() == 115
