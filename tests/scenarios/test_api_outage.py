"""api_outage: the retry avalanche on a recovering payment API (docs/semantics.md).

The measure is the load that reaches the API (``metrics.services.payment``): calls per
second once it has recovered, calls over the run, and calls the breaker kept away.
Runs at scale 0.2 (a 400-job herd), each variant once per module.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jobsim.scenario.runner import Result, run_scenario

SCALE = 0.2
CAPACITY = 30          # world.services.payment.capacity in the scenario
PROCESSES, TOKENS, COST = 4, 500, 5


@cache
def run(variant: str | None) -> Result:
    return run_scenario("api_outage", variant=variant, scale=SCALE)


def load(variant: str | None) -> dict[str, Any]:
    return run(variant).metrics["services"]["payment"]


def dead_reasons(variant: str | None) -> list[str]:
    return [e[3] for e in run(variant).history.of_kind("dead")]


def test_synchronised_retries_hit_the_recovering_api_as_one_herd() -> None:
    base, herd = load(None), load("no_jitter")
    assert base["recovered_peak_calls_per_s"] <= CAPACITY and base["rejected"] == 0
    assert herd["recovered_peak_calls_per_s"] > 10 * base["recovered_peak_calls_per_s"]
    assert herd["recovered_peak_calls_per_s"] > CAPACITY and herd["rejected"] > 0
    assert run("no_jitter").metrics["jobs"]["succeeded"] < run(None).metrics["jobs"]["enqueued"]


def test_retry_spread_passes_with_jitter_and_fails_without_it() -> None:
    assert run(None).checks["retry_spread"].ok
    herd = run("no_jitter").checks["retry_spread"]
    assert not herd.ok and herd.violations > 0
    assert run("no_jitter").metrics["checks"]["retry_spread"]["ok"] is False
    assert all(run(v).ok for v in (None, "jitter_only"))


def test_more_jitter_means_less_load_on_the_recovering_api() -> None:
    peaks = {v: load(v)["recovered_peak_calls_per_s"]
             for v in ("jitter_only", "seed_policy", "no_jitter")}
    assert peaks["jitter_only"] < peaks["seed_policy"] < peaks["no_jitter"]


def test_the_budget_sheds_retries_to_the_dead_set_where_they_stay_recoverable() -> None:
    base, unbudgeted = run(None).metrics["jobs"], run("no_budget").metrics["jobs"]
    reasons = dead_reasons(None)
    assert reasons and set(reasons) == {"retry_budget"} and base["dead"] == len(reasons)
    assert base["retries"] <= PROCESSES * TOKENS // COST
    assert unbudgeted["dead"] == 0 and unbudgeted["succeeded"] == unbudgeted["enqueued"]
    assert unbudgeted["retries"] > 5 * base["retries"]
    assert base["lost"] == unbudgeted["lost"] == 0


def test_the_breaker_keeps_calls_off_the_api_while_it_is_down() -> None:
    guarded, bare = load("no_budget"), load("jitter_only")
    assert guarded["rejected_by_breaker"] > 0 and bare["rejected_by_breaker"] == 0
    assert guarded["calls"] < bare["calls"] / 2
    assert guarded["peak_calls_per_s"] <= CAPACITY < bare["peak_calls_per_s"]
    executions = run("no_budget").metrics["jobs"]["executions"]
    assert executions == guarded["calls"] + guarded["rejected_by_breaker"]
