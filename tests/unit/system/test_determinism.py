"""Done-when: a run is a pure function of (workload, seed, code), on every broker.

The workload mixes everything that draws randomness or reorders work: weighted fetch,
failing jobs with jittered backoff, scheduled jobs, crashes (lost or recovered in-flight
jobs) and a graceful shutdown.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from jobsim.sim.simulation import Simulation
from jobsim.system import Job

from .conftest import build_system


class DetNoopJob(Job):
    def perform(self) -> Any:
        yield self.sleep(0.05)


class DetFlakyJob(Job):
    retry = 3
    backoff = "exponential:base=1,cap=20,jitter=full"
    jitter = 0.15

    def perform(self, fails: int) -> Any:
        yield self.sleep(0.2)
        if self.attempt <= fails:
            raise RuntimeError(f"attempt {self.attempt}")


class DetSlowJob(Job):
    queue = "critical"

    def perform(self) -> Any:
        yield self.sleep(30)


def workload(seed: int, broker: str, fetch: str) -> Simulation:
    sim, system = build_system(seed, broker, start=False, processes=2, concurrency=3,
                               fetch=fetch, queues=[["critical", 3], ["default", 1]])
    system.start()
    client = system.client
    client.push_bulk(DetSlowJob, [[] for _ in range(6)])
    client.push_bulk(DetNoopJob, [[] for _ in range(40)])
    for i in range(12):
        client.perform_async(DetFlakyJob, i % 5)           # 4 failures: dead after 3 retries
    for i in range(8):
        client.perform_in(5 + 3 * i, DetNoopJob, queue="critical")
    p0, p1 = system.workers

    def chaos() -> Any:
        yield sim.timeout(2)
        p0.crash()
        yield sim.timeout(68)
        p0.restart()
        yield sim.timeout(15)
        client.push_bulk(DetSlowJob, [[] for _ in range(6)])  # in flight at shutdown
        yield sim.timeout(5)
        p1.shutdown(5)
        yield sim.timeout(40)
        p1.restart()

    sim.process(chaos())
    sim.run(until=300)
    system.inventory()
    return sim


@pytest.fixture(scope="module", params=["basic", "reliable"])
def runs(request: pytest.FixtureRequest) -> dict[str, Any]:
    fetch = request.param
    return {
        "fetch": fetch,
        "memory": workload(7, "memory", fetch),
        "memory_again": workload(7, "memory", fetch),
        "fakeredis": workload(7, "fakeredis", fetch),
        "other_seed": workload(8, "memory", fetch),
    }


def test_workload_exercises_crashes_retries_and_schedules(runs: dict[str, Any]) -> None:
    kinds = Counter(e[1] for e in runs["memory"].history)
    for kind in ("crash", "restart", "shutdown", "requeue", "stop", "retry", "dead", "promote",
                 "success", "horizon"):
        assert kinds[kind] > 0, kind
    sources = {e[4] for e in runs["memory"].history.of_kind("promote")}
    assert sources == {"schedule", "retry"}
    jittered = {e[6] for e in runs["memory"].history.of_kind("retry")}
    assert all(",j=0.15" in spec for spec in jittered)
    if runs["fetch"] == "reliable":
        assert kinds["recover"] > 0
    else:
        assert kinds["recover"] == 0


def test_same_seed_same_digest(runs: dict[str, Any]) -> None:
    assert runs["memory"].history.digest() == runs["memory_again"].history.digest()


def test_memory_and_fakeredis_give_the_same_digest(runs: dict[str, Any]) -> None:
    memory, redis = runs["memory"].history, runs["fakeredis"].history
    for ours, theirs in zip(memory.lines(), redis.lines(), strict=True):
        assert ours == theirs                      # names the first differing event
    assert memory.digest() == redis.digest()


def test_different_seed_different_digest(runs: dict[str, Any]) -> None:
    assert runs["memory"].history.digest() != runs["other_seed"].history.digest()
