"""The rq flavour: the work-horse timeout, the StartedJobRegistry and its cleanup,
dequeue strategies, and the failed registry as the dead set with RQ's limits."""

from __future__ import annotations

import random
from typing import Any

import pytest

from jobsim.broker.base import DEAD
from jobsim.broker.memory import MemoryBroker
from jobsim.system import Job
from jobsim.system.flavors import FlavorConfig, RQOptions
from jobsim.system.flavors.options import YEAR_S
from jobsim.system.flavors.rq import WIP
from jobsim.system.flavors.selectors import OrderedSelector

from .conftest import Build, Events


class RQSleepJob(Job):
    def perform(self, seconds: float) -> Any:
        yield self.sleep(seconds)


class RQFailJob(Job):
    def perform(self) -> Any:
        yield self.sleep(1)
        raise ValueError("no")


def rq(**options: Any) -> FlavorConfig:
    return FlavorConfig("rq", rq=RQOptions(**options))


def test_the_horse_is_killed_after_job_timeout(build: Build, events: Events) -> None:
    sim, system = build(concurrency=1, flavor=rq(job_timeout=180.0))
    jid = system.client.perform_async(RQSleepJob, 500)
    sim.run(until=400)
    failures = events(sim, "failure", jid)
    assert [(e[0], e[3]) for e in failures] == [(180.0, "JobTimeoutException")]
    assert not events(sim, "success", jid)
    assert [e[3] for e in events(sim, "dead", jid)] == ["failed"]
    assert system.broker.hgetall(WIP) == {}            # the registry entry is gone


def test_a_job_within_its_timeout_succeeds(build: Build, events: Events) -> None:
    sim, system = build(concurrency=1, flavor=rq(job_timeout=180.0))
    jid = system.client.perform_async(RQSleepJob, 170)
    sim.run(until=400)
    assert events(sim, "success", jid) and not events(sim, "failure", jid)


def test_a_crashed_workers_jobs_wait_for_the_cleanup_then_fail_as_abandoned(
        build: Build, events: Events) -> None:
    sim, system = build(processes=1, concurrency=2, flavor=rq(maintenance_interval=600.0))
    jids = [system.client.perform_async(RQSleepJob, 300) for _ in range(2)]
    sim.run(until=50)
    system.process("p0").crash()
    system.process("p0").restart()      # its start-up cleanup: entries not yet expired
    sim.run(until=600)
    assert not events(sim, "dead")
    assert len(system.broker.private_items("p0.1")) == 2     # still in the started registry
    sim.run(until=700)                  # the cleanup at 650 finds them expired
    dead = events(sim, "dead")
    assert sorted(e[2] for e in dead) == sorted(jids)
    assert {(e[0], e[3]) for e in dead} == {(650.0, "abandoned")}
    assert system.broker.zsize(DEAD) == 2 and not system.broker.private_items("p0.1")


def test_abandoned_jobs_with_retries_left_are_retried(build: Build, events: Events) -> None:
    sim, system = build(concurrency=1, flavor=rq(retry_max=2, retry_interval=(5,)))
    jid = system.client.perform_async(RQSleepJob, 100)
    sim.run(until=10)
    system.process("p0").crash()
    system.process("p0").restart()
    sim.run(until=2000)
    retries = events(sim, "retry", jid)
    assert [(e[3], e[4]) for e in retries] == [(0, 5.0)]
    assert events(sim, "success", jid) and not events(sim, "dead", jid)


def test_a_live_worker_keeps_its_long_jobs_registered(build: Build, events: Events) -> None:
    """The monitor refreshes the expiry, so a 20-minute job is never abandoned."""
    sim, system = build(concurrency=1, flavor=rq(job_timeout=1500.0))
    jid = system.client.perform_async(RQSleepJob, 1200)
    sim.run(until=1300)
    assert events(sim, "success", jid) and not events(sim, "dead")


def test_failed_registry_keeps_failures_a_year_without_a_size_bound(
        build: Build, events: Events) -> None:
    sim, system = build(concurrency=5, flavor=rq())
    for _ in range(12):
        system.client.perform_async(RQFailJob)
    sim.run(until=60)
    assert [e[3] for e in events(sim, "dead")] == ["failed"] * 12
    assert system.config.dead_timeout_s == YEAR_S
    assert system.broker.zsize(DEAD) == 12


def _order(strategy: str, picks: int, queues: list[str], full: set[str]) -> list[str]:
    broker = MemoryBroker()
    for name in full:
        for i in range(picks):
            broker.push(name, {"jid": f"{name}{i}"})
    selector = OrderedSelector(queues, strategy, random.Random(0))
    got = []
    for _ in range(picks):
        name = selector.choose(broker)
        assert name is not None
        broker.pop(name)
        got.append(name)
    return got


def test_dequeue_strategies_as_rq_and_kombu_reorder() -> None:
    three = ["a", "b", "c"]
    assert _order("priority", 4, three, {"a", "b", "c"}) == ["a"] * 4
    # kombu moves only the used queue to the end; rq moves it and all before it
    assert _order("round_robin", 6, three, {"a", "c"}) == ["a", "c", "a", "c", "a", "c"]
    kombu = OrderedSelector(three, "round_robin", random.Random(0))
    rqs = OrderedSelector(three, "rq_round_robin", random.Random(0))
    kombu.used("b")
    rqs.used("b")
    assert kombu.order == ["a", "c", "b"]
    assert rqs.order == ["c", "a", "b"]
    assert _order("sorted", 2, ["z", "y"], {"z", "y"}) == ["y", "y"]


def test_random_dequeue_serves_every_non_empty_queue() -> None:
    counts = {name: 0 for name in "abc"}
    for name in _order("random", 300, list("abc"), set("abc")):
        counts[name] += 1
    assert all(70 < n < 130 for n in counts.values()), counts


@pytest.mark.parametrize("broker", ["memory", "fakeredis"])
def test_rq_runs_are_the_same_on_every_broker(build: Build, broker: str) -> None:
    digests = []
    for name in ("memory", broker):
        sim, system = build(broker=name, processes=2, concurrency=2,
                            flavor=rq(retry_max=2, retry_interval=(3, 9)))
        for i in range(10):
            system.client.perform_async(RQFailJob if i % 3 == 0 else RQSleepJob,
                                        *([] if i % 3 == 0 else [i]))
        sim.run(until=30)
        system.process("p1").crash()
        sim.run(until=900)
        digests.append(sim.history.digest())
    assert digests[0] == digests[1]


class RQOomJob(Job):
    """Its work-horse is killed on the first run; the second run succeeds."""

    def perform(self) -> Any:
        yield self.sleep(1)
        if self.attempt == 1:
            yield self.crash_process()


@pytest.mark.parametrize("retry_max", [0, 1])
def test_a_killed_horse_fails_the_job_not_the_worker(
        build: Build, events: Events, retry_max: int) -> None:
    sim, system = build(concurrency=1, flavor=rq(retry_max=retry_max, retry_interval=(2,)))
    jid = system.client.perform_async(RQOomJob)
    sim.run(until=60)
    assert [e[3] for e in events(sim, "failure", jid)] == ["WorkHorseTerminated"]
    assert not events(sim, "crash")
    if retry_max:
        assert events(sim, "retry", jid) and events(sim, "success", jid)
    else:
        assert [e[3] for e in events(sim, "dead", jid)] == ["failed"]
    assert system.broker.hgetall(WIP) == {}
