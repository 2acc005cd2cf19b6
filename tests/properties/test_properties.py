"""One property test per checker: the reference job system, with the property's safeguard
on, under generated workloads and fault schedules, must satisfy the property.

Each test excludes only the faults that break its property *by design* (named below with
the reason); every other fault in the catalogue is in play. ``hypothesis.target`` steers
the search toward runs close to a violation (duplicate executions, lateness, jobs held in
storage at the horizon). A failure saves the generated scenario under reports/failing/
and prints ``jobsim simulate FILE --seed N``.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from jobsim import Job
from jobsim import strategies as js
from jobsim.system.job import Work

from ._support import budget, count, held_where, run, steer

# A failover drops acknowledged writes (asynchronous replication): jobs, retries and
# dead-set entries written in the last `lose` seconds vanish. That is the fault no_loss
# and dead_set exist to detect, so it is excluded where they are asserted.
WITHOUT_FAILOVER = tuple(k for k in js.ALL if k != "redis_failover")
# Retry due times are computed on the failing process's clock (as in production), so a
# skewed clock records due != t + delay: retry_spread reports that, by design.
WITHOUT_SKEW = tuple(k for k in js.ALL if k != "clock_skew")
APP_JOBS = ("SyntheticJob", "NotificationDeliveryJob", "AnalyticsJob")
SHORT_RETRIES = st.none() | st.integers(0, 3)
FAST_POLICIES = js.retry_policies(jitter=True)


def _reliable(**kw: Any) -> st.SearchStrategy[dict[str, Any]]:
    return js.worker_configs(fetch=("reliable",), **kw)


@budget(40)
@given(js.scenarios(min_faults=1, jobs=APP_JOBS, kinds=WITHOUT_FAILOVER, system=_reliable(),
                    retry=SHORT_RETRIES, checks=("no_loss", "lifecycle")))
def test_no_loss_under_reliable_fetch(doc: dict[str, Any]) -> None:
    result = run(doc, ["no_loss", "lifecycle"])
    steer("recovered orphans", count(result.history, "recover"))
    steer("duplicate executions", result.checks["no_loss"].stats["duplicated"])


@budget(40)
@given(js.scenarios(min_faults=1,
    jobs=("NotificationDeliveryJob",), system=js.worker_configs(),
    kinds=("duplicate_delivery", "duplicate_enqueue", "worker_crash", "rolling_deploy",
           "service_errors", "service_outage", "latency", "replica_lag", "redis_outage"),
    checks=("idempotency", "no_loss", "lifecycle"),
    extra={"system": {"safeguards": {"idempotency": {"guard": "constraint"}}}}))
def test_idempotency_with_constraint_guard(doc: dict[str, Any]) -> None:
    result = run(doc, ["idempotency", "lifecycle"])
    steer("duplicate executions", result.checks["no_loss"].stats["duplicated"])
    steer("once-only effects", result.checks["idempotency"].stats["once_keys"])


@budget(40)
@given(js.scenarios(min_faults=1, jobs=("SyntheticJob",), kinds=WITHOUT_SKEW, retry=SHORT_RETRIES,
                    policies=FAST_POLICIES, max_jobs=80, checks=("retry_spread", "lifecycle")))
def test_retry_spread_with_jittered_policies(doc: dict[str, Any]) -> None:
    result = run(doc, ["retry_spread", "lifecycle"])
    stats = result.checks["retry_spread"].stats
    steer("peak ratio", stats["max_ratio"])
    steer("retries", stats["retries"])


@budget(40)
@given(js.scenarios(min_faults=1, jobs=APP_JOBS, system=js.worker_configs(
    queues=js.queue_configs(modes=("strict", "weighted"))), checks=("priority", "lifecycle")))
def test_priority_order_and_shares(doc: dict[str, Any]) -> None:
    # alpha 1e-6: a correct weighted fetch still fails a 0.1 % test once per 1000 runs,
    # which a nightly run of thousands of examples would hit.
    result = run(doc, ["priority", "lifecycle"], {"priority": {"alpha": 1e-6}})
    queues = result.checks["priority"].stats["queues"]
    first = js.queue_names(doc["system"]["queues"])[0]
    steer("top queue max latency", queues.get(first, {}).get("latency_max_s"))


class FlakyStep(Job):
    """One step of a pipeline: a payment-API call, retried once, quickly."""

    queue = "critical"
    retry = 1
    backoff = "exponential:base=1,cap=4,jitter=full"

    def perform(self, order_id: int, step: str) -> Work:
        yield from self.world.service("payment").call(self, step)


class DiamondJob(Job):
    """a -> (b, c) -> d: a failing step must cancel what waits on it, transitively."""

    def perform(self, order_id: int) -> Work:
        push = self.client.perform_async
        a = push(FlakyStep, order_id, "a")
        b = push(FlakyStep, order_id, "b", depends_on=[a])
        c = push(FlakyStep, order_id, "c", depends_on=[a])
        push(FlakyStep, order_id, "d", depends_on=[b, c])
        yield self.sleep(0)


@budget(30)
@given(js.scenarios(min_faults=1,
    jobs=("DiamondJob", "PaymentProcessingJob"), job_classes=(DiamondJob, FlakyStep),
    kinds=WITHOUT_FAILOVER, max_jobs=20,
    system=_reliable(queues=st.just(["critical"])),
    checks=("dependencies", "no_loss", "lifecycle"),
    extra={"system": {"safeguards": {"dependencies": {"enabled": True}}}}))
def test_dependencies_wait_and_cancel(doc: dict[str, Any]) -> None:
    result = run(doc, ["dependencies", "no_loss", "lifecycle"], jobs=[DiamondJob, FlakyStep])
    steer("dependents still deferred", held_where(result.history)["deferred"])
    steer("canceled dependents", result.checks["dependencies"].stats["canceled"])


@budget(40)
@given(js.scenarios(min_faults=1, jobs=(*APP_JOBS, "PaymentProcessingJob", "DataExportJob"),
                    retry=SHORT_RETRIES, policies=js.retry_policies(), checks=("lifecycle",)))
def test_lifecycle_is_legal_under_any_schedule(doc: dict[str, Any]) -> None:
    result = run(doc, ["lifecycle"])
    steer("requeues and recoveries", count(result.history, "requeue", "recover"))
    steer("copies", count(result.history, "copy"))


@budget(30)
@given(js.scenarios(min_faults=1, jobs=("DataExportJob", "SyntheticJob"), max_jobs=30,
                    checks=("resources", "lifecycle"),
                    extra={"system": {"safeguards": {"resources": {"scoped": True}}},
                           "world": {"pools": {"db": 3},
                                     "export": {"error_rate": 0.3}}}))
def test_resources_released_when_scoped(doc: dict[str, Any]) -> None:
    result = run(doc, ["resources", "lifecycle"])
    pools = result.checks["resources"].stats["pools"]
    steer("peak db connections", pools.get("db", {}).get("peak"))
    steer("interrupted exports", count(result.history, "crash", "requeue"))


@budget(40)
@given(js.scenarios(min_faults=1,
    jobs=("SyntheticJob",), kinds=WITHOUT_FAILOVER, retry=st.integers(0, 2),
    policies=FAST_POLICIES, max_jobs=60,
    checks=("dead_set", "lifecycle"),
    extra={"system": {"death_handlers": ["notify_ops", "failing"], "dead_max_jobs": 5}}))
def test_dead_set_handlers_once_and_bounded(doc: dict[str, Any]) -> None:
    result = run(doc, ["dead_set", "lifecycle"])
    stats = result.checks["dead_set"].stats
    steer("deaths", stats["deaths"])
    steer("trimmed", sum(stats["trimmed"].values()))
