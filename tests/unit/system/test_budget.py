"""Retry budgets: token-bucket arithmetic, the SRE retry ratio's window, per-process
accounting, and a run where an outage drains the budget and retries go dead."""

from __future__ import annotations

from typing import Any

import pytest

from jobsim.broker import make_broker
from jobsim.broker.base import DEAD
from jobsim.sim.simulation import Simulation
from jobsim.system import Job, JobSystem, SystemConfig
from jobsim.system.budget import RetryBudget, RetryRatio, TokenBucket, install, is_timeout
from jobsim.world.resources import PoolTimeout
from jobsim.world.services import ServiceError, ServiceTimeout
from jobsim.world.world import World


def test_a_bucket_pays_per_retry_double_after_a_timeout_and_refunds_up_to_capacity() -> None:
    bucket = TokenBucket(capacity=20, cost=5, timeout_cost=10, refund=1)
    bucket.pay(timeout=False)
    bucket.pay(timeout=True)
    assert bucket.tokens == 5
    assert bucket.can_pay(timeout=False) and not bucket.can_pay(timeout=True)
    bucket.pay(timeout=False)
    assert bucket.tokens == 0 and not bucket.can_pay(timeout=False)
    for _ in range(30):
        bucket.earn()
    assert bucket.tokens == 20


def test_timeouts_are_recognised_by_class_name() -> None:
    assert is_timeout(ServiceTimeout("t")) and is_timeout(PoolTimeout("p"))
    assert not is_timeout(ServiceError("e")) and not is_timeout(ValueError("v"))


def test_the_ratio_allows_retries_up_to_its_share_of_recent_requests() -> None:
    ratio = RetryRatio(0.1, window=60.0)
    for t in range(20):
        ratio.request(float(t))
    assert ratio.allows(20.0)
    ratio.retry(20.0)
    assert ratio.allows(20.0)
    ratio.retry(20.0)
    assert not ratio.allows(20.0)            # 3 retries / 20 requests > 10 %
    assert not ratio.allows(59.0)
    # at t=70 the requests at t <= 10 have left the window: 9 left, 2 retries
    assert not ratio.allows(70.0)
    for t in range(70, 81):
        ratio.request(float(t))              # 20 requests in the window again
    assert ratio.allows(81.0)


def test_budgets_are_per_process_and_a_refusal_charges_nothing() -> None:
    budget = RetryBudget(Simulation(1), tokens=10, cost=5, timeout_cost=10, refund=1)
    assert budget.allow_retry("p0", ServiceTimeout("t"))
    assert not budget.allow_retry("p0", ServiceError("e"))
    assert budget.bucket("p0").tokens == 0
    assert budget.allow_retry("p1", ServiceError("e"))     # p1 has its own bucket
    assert budget.bucket("p1").tokens == 5
    assert budget.stats()["refused"] == 1 and budget.stats()["allowed"] == 2


def test_with_a_ratio_both_limits_apply() -> None:
    budget = RetryBudget(Simulation(1), tokens=500, ratio=0.5)
    payload: dict[str, Any] = {"jid": "a"}
    budget.before_perform(payload, "p0")
    budget.before_perform({"jid": "b"}, "p0")
    assert budget.allow_retry("p0", ServiceError("e"))
    assert not budget.allow_retry("p0", ServiceError("e"))  # ratio: 2 retries / 2 requests
    assert budget.bucket("p0").tokens == 495                 # only the allowed one paid


def test_install_rejects_unknown_options() -> None:
    sim = Simulation(1)
    system = JobSystem(sim, make_broker("memory"), SystemConfig())
    with pytest.raises(ValueError, match="tokenz"):
        install(system, {"tokenz": 5})


class BudgetCaptureJob(Job):
    """Calls the payment API once; fails while it is down."""

    retry = 25
    backoff = "exponential:base=1,cap=4"

    def perform(self, index: int) -> Any:
        yield from self.world.service("payment").call(self, "capture")


def run_outage(tokens: int, jobs: int, outage: str = "error", until: float = 120.0,
               heal_at: float | None = None) -> tuple[Simulation, RetryBudget]:
    """One process, one thread, the payment API down from the start."""
    sim = Simulation(3)
    world = World(sim, {"services": {"payment": {"latency": 0.1, "timeout": 1.0}},
                        "sample_interval": 0})
    system = JobSystem(sim, make_broker("memory"),
                       SystemConfig(processes=1, concurrency=1, poll_interval_avg=1.0),
                       world)
    budget = install(system, {"tokens": tokens, "cost": 5, "timeout_cost": 10, "refund": 1})
    world.service("payment").set_outage(outage, timeout_s=0.5)
    system.start()
    for i in range(jobs):
        system.client.perform_async(BudgetCaptureJob, i)
    if heal_at is not None:
        sim.run(until=heal_at)
        world.service("payment").clear_outage()
    sim.run(until=until)
    return sim, budget


def events(sim: Simulation, kind: str) -> list[tuple[Any, ...]]:
    return list(sim.history.of_kind(kind))


def reasons(sim: Simulation, kind: str) -> list[str]:
    return [e[3] for e in events(sim, kind)]


def test_an_outage_drains_the_budget_then_failures_go_dead_with_reason_retry_budget() -> None:
    sim, budget = run_outage(tokens=50, jobs=4)
    retries = len(events(sim, "retry"))
    assert retries == 50 // 5                              # exactly what the bucket paid for
    assert reasons(sim, "dead") == ["retry_budget"] * 4    # every job, recoverable
    assert budget.bucket("p0").tokens == 0
    assert len(budget.buckets) == 1 and budget.stats()["refused"] == 4


def test_retries_after_timeouts_cost_double() -> None:
    sim, _ = run_outage(tokens=50, jobs=4, outage="timeout")
    assert reasons(sim, "failure")[0] == "ServiceTimeout"
    assert len(events(sim, "retry")) == 50 // 10


def test_successes_refund_tokens_and_a_healthy_service_keeps_jobs_out_of_the_dead_set(
) -> None:
    sim, budget = run_outage(tokens=500, jobs=20, heal_at=5.0)
    assert not events(sim, "dead")
    assert len(events(sim, "success")) == 20
    paid = 5 * len(events(sim, "retry"))
    assert budget.bucket("p0").tokens == min(500, 500 - paid + 20)


def test_without_a_budget_the_same_outage_retries_until_exhausted() -> None:
    sim = Simulation(3)
    world = World(sim, {"sample_interval": 0, "services": {"payment": {"latency": 0.1}}})
    system = JobSystem(sim, make_broker("memory"),
                       SystemConfig(processes=1, concurrency=1, poll_interval_avg=1.0), world)
    world.service("payment").set_outage("error")
    system.start()
    for i in range(4):
        system.client.perform_async(BudgetCaptureJob, i)
    sim.run(until=120.0)
    assert len(events(sim, "retry")) == 4 * BudgetCaptureJob.retry   # ten times as many
    assert reasons(sim, "dead") == ["exhausted"] * 4
    assert system.broker.zsize(DEAD) == 4
