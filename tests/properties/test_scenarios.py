"""One property test per built-in scenario (every scenarios/*.yaml, found at collection):
Hypothesis perturbs the story's seed, fault timings and scale (1 % to 5 % of its load) and
the scenario's own checks must still hold.

Only the base story is asserted: a variant with a safeguard switched off is expected to
fail, which is what tests/properties/test_negative_controls.py exercises. Expectations
(``expect:``) are not asserted here: their thresholds are stated for full scale.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given

from jobsim import strategies as js
from jobsim.scenario.runner import scenarios_dir

from ._support import budget, run

SCENARIOS = sorted(path.stem for path in scenarios_dir().glob("*.yaml"))


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_holds_when_perturbed(name: str) -> None:
    @budget(3)
    @given(js.scenario_perturbations(name))
    def perturbed(doc: dict[str, Any]) -> None:
        failing = stated_failures(doc)
        run(doc, [c for c in doc.get("checks") or [] if _name(c) not in failing])

    perturbed()


def _name(check: Any) -> str:
    return check if isinstance(check, str) else next(iter(check))


def stated_failures(doc: dict[str, Any]) -> set[str]:
    """Checks the story says fail in its base (``checks.NAME.ok equals false``), as
    celery_visibility_timeout's idempotency does: that failure is the story."""
    return {str(rule["metric"]).split(".")[1] for rule in doc.get("expect") or []
            if str(rule.get("metric", "")).startswith("checks.")
            and str(rule["metric"]).endswith(".ok") and rule.get("equals") is False}


def test_every_scenario_is_exercised() -> None:
    assert SCENARIOS, f"no scenario files found in {scenarios_dir()}"
    for name in SCENARIOS:
        assert js.scenario_document(name).get("checks"), f"{name} declares no checks"
