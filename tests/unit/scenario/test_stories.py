"""Every built-in scenario states its question, and its story metric names a metric."""

from __future__ import annotations

import re

import pytest

from jobsim.scenario.loader import list_scenarios
from jobsim.scenario.runner import load, scenarios_dir

NAMES = [name for name, _ in list_scenarios(scenarios_dir())]
METRIC_ROOTS = ("jobs", "jobs_by_class", "queues", "effects", "services", "checks", "orders",
                "retries", "failures")


@pytest.mark.parametrize("name", NAMES)
def test_builtin_scenario_has_a_story(name: str) -> None:
    scenario = load(name)
    assert scenario.story is not None, f"{name}: no story"
    assert scenario.story.question.endswith("?")
    assert scenario.story.metric.split(".")[0] in METRIC_ROOTS
    assert re.fullmatch(r"[\w.:-]+", scenario.story.metric)


def test_a_variant_that_reproduces_a_failure_says_so() -> None:
    black_friday = load("black_friday")
    assert not black_friday.reproduces
    assert black_friday.variants["single_fifo"].reproduces
