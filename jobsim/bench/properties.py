"""Property-test throughput: Hypothesis examples per second for an idempotency property.

The property: 50 NotificationDeliveryJobs with the insert-before-send constraint, Redis
redelivering fetched jobs at a drawn rate, never send an email twice (the idempotency
checker). Each example is a whole ``run_scenario``; the figure says how many fault
schedules a CI minute can try.
"""

from __future__ import annotations

import time
from typing import Any

TARGETS = {"examples_per_s_min": 20.0}
JOBS = 50


def document(rate: float, crash: bool) -> dict[str, Any]:
    faults: list[dict[str, Any]] = [
        {"type": "duplicate_delivery", "rate": rate, "start": "0s", "duration": "50s"}]
    if crash:
        faults.append({"type": "worker_crash", "target": "random", "every": "20s",
                       "restart_after": "5s", "start": "5s", "duration": "40s"})
    return {
        "name": "idempotency_property", "description": "benchmark: property test",
        "duration": 60.0, "drain": 120.0,
        "plugins": ["jobsim.shop"],
        "system": {"processes": 2, "concurrency": 5, "fetch": "reliable",
                   "safeguards": {"idempotency": {"guard": "constraint"}}},
        "workload": [{"job": "NotificationDeliveryJob", "fanout": JOBS, "spread": "50s",
                      "args": {"campaign_id": 1}}],
        "faults": faults,
        "checks": ["idempotency"],
    }


def run(quick: bool) -> dict[str, Any]:
    """Run the property for a fixed number of examples; examples per second."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from jobsim.scenario.runner import run_scenario
    from jobsim.validate.runs import scenario

    examples = 20 if quick else 200
    seen = {"n": 0, "failed": 0}

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(seed=st.integers(0, 2**31 - 1), rate=st.floats(0.0, 0.5), crash=st.booleans())
    def idempotent(seed: int, rate: float, crash: bool) -> None:
        seen["n"] += 1
        result = run_scenario(scenario(document(rate, crash)), seed=seed)
        if not result.checks["idempotency"].ok:
            seen["failed"] += 1
            raise AssertionError(f"duplicate email: seed={seed} rate={rate} crash={crash}")

    started = time.perf_counter()
    idempotent()
    wall = time.perf_counter() - started
    rate = seen["n"] / wall
    return {"examples": seen["n"], "jobs_per_example": JOBS, "wall_s": wall,
            "examples_per_s": rate, "property_held": seen["failed"] == 0,
            "pass": {"examples_per_s": rate >= TARGETS["examples_per_s_min"]}}
