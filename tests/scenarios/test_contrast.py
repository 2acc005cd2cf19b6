"""Contrast in every safeguard story: the base's expectations that describe the safeguard
at work fail when the variant switches that safeguard off. Each pair below runs the
variant and judges it by the base's own expectation on that metric."""

from __future__ import annotations

from typing import Any

import pytest

from jobsim.report.metrics import evaluate
from jobsim.scenario.runner import load, run_scenario

# (scenario, variant with the safeguard off, the base's metric that shows it working, scale)
CONTRASTS = [
    ("api_outage", "no_budget", "jobs.dead", 0.25),                       # budget shed jobs
    ("api_outage", "jitter_only", "services.payment.rejected_by_breaker", 0.25),  # breaker
    ("duplicate_emails", "no_lock", "checks.uniqueness.stats.conflicts", 0.1),    # lock
    ("deploy_storm", "basic_fetch", "checks.no_loss.stats.recovered", 0.25),      # recovery
]


def _base_rule(scenario: str, metric: str) -> dict[str, Any]:
    base = load(scenario)
    rule = next(e for e in base.expect if e.metric == metric)
    return {"metric": rule.metric, "min": rule.min, "max": rule.max, "equals": rule.equals}


@pytest.mark.parametrize(("scenario", "variant", "metric", "scale"), CONTRASTS,
                         ids=[f"{s}-{v}" for s, v, _, _ in CONTRASTS])
def test_the_base_expectation_fails_with_the_safeguard_off(scenario: str, variant: str,
                                                           metric: str, scale: float) -> None:
    rule = _base_rule(scenario, metric)
    base = run_scenario(scenario, scale=scale)
    assert evaluate(base.metrics, [rule])[0]["ok"], (scenario, metric)
    off = run_scenario(scenario, variant=variant, scale=scale)
    verdict = evaluate(off.metrics, [rule])[0]
    assert not verdict["ok"], (scenario, variant, verdict)
