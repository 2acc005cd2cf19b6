"""Scenario `checks:` entries with options, `order:` rules and `effect:` templates: bad
ones are refused at load with the path and the reason; good ones reach the config."""

from __future__ import annotations

from typing import Any

import pytest

from jobsim.checks.registry import NAMES
from jobsim.scenario.errors import ScenarioError
from jobsim.scenario.loader import load_document

BASE: dict[str, Any] = {
    "description": "d", "duration": "1m",
    "workload": [{"job": "EmailJob", "count": 3}],
}


def load(**extra: Any):
    return load_document({**BASE, **extra}, known_jobs={"EmailJob"}, known_faults=set(),
                         known_checks=NAMES, file="s.yaml")


def test_options_and_rules_are_read_and_travel_in_the_config() -> None:
    s = load(checks=["no_loss", {"priority": {"alpha": 0.01}}],
             order=[{"before": "effect pay:{o}", "after": "start EmailJob({o})"}],
             workload=[{"job": "EmailJob", "count": 3, "effect": "email:{0}"}])
    assert s.checks == ("no_loss", "priority")
    assert s.check_options == {"priority": {"alpha": 0.01}}
    cfg = s.config(0)
    assert cfg["order"] == [{"before": "effect pay:{o}", "after": "start EmailJob({o})"}]
    assert cfg["effects"] == [{"job": "EmailJob", "key": "email:{0}"}]


@pytest.mark.parametrize(("extra", "message"), [
    ({"checks": [{"priority": {"alpah": 0.1}}]},
     "s.yaml: checks[0].priority.alpah: check 'priority' has no option 'alpah' "
     "(did you mean 'alpha'?)"),
    ({"checks": [{"retry_spread": {"window_s": "fast"}}]},
     "checks[0].retry_spread.window_s: check 'retry_spread' option 'window_s' must be a "
     "positive number, got 'fast'"),
    ({"checks": [{"no_loss": {"x": 1}}]}, "check 'no_loss' has no option 'x'; valid options: "
     "(none)"),
    ({"checks": ["no_loss", "no_loss"]}, "checks[1]: duplicate check 'no_loss'"),
    ({"order": [{"before": "effect pay:{o}", "after": "start EmailJob"}]},
     "order[0]: rule 'effect pay:{o}' -> 'start EmailJob': 'o' must also appear"),
    ({"order": [{"before": "paid {o}", "after": "start EmailJob({o})"}]},
     "order[0]: pattern 'paid {o}': expected '<kind> <what>'"),
    ({"order": [{"before": "effect a:{o}"}]}, "order[0]: missing required key 'after'"),
    ({"workload": [{"job": "EmailJob", "count": 1, "effect": "email:{user"}]},
     "workload[0].effect: template 'email:{user': braces must enclose a name"),
])
def test_bad_entries_name_the_path_and_reason(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load(**extra)
    assert message in str(caught.value)


def test_a_jobs_after_declaration_becomes_an_ordering_rule_in_the_config() -> None:
    from jobsim.scenario.runner import run_config
    from jobsim.system.job import Job
    from jobsim.system.library import JobLibrary

    class ShipAfterPayment(Job):
        after = ("effect paid:{0}",)

    rule = {"before": "effect paid:{0}", "after": "start ShipAfterPayment({0})"}
    with_it = load_document({**BASE, "workload": [{"job": "ShipAfterPayment", "count": 1}]},
                            known_jobs=JobLibrary([ShipAfterPayment]), known_faults=set(),
                            known_checks=NAMES, file="s.yaml")
    assert rule in run_config(with_it, 0)["order"]
    assert rule not in run_config(load(), 0)["order"]    # a class the run does not hold
