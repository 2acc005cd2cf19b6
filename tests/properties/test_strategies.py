"""The public strategies: valid documents, the whole fault catalogue, and shrinking toward
the simplest run (the promise that makes a failing example readable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from jobsim import backoff
from jobsim import strategies as js
from jobsim.chaos.faults import FAULTS, build_fault
from jobsim.scenario import parse_duration
from jobsim.scenario.runner import load
from jobsim.shop import PLUGIN as SHOP
from jobsim.world.synthetic import BUILTIN_JOBS

from ._support import budget
from .test_scenarios import SCENARIOS

JOBS = [cls.__name__ for cls in (*SHOP.jobs, *BUILTIN_JOBS)]

QUICK = settings(database=None)


@budget(60)
@given(js.scenarios(jobs=tuple(JOBS), policies=js.retry_policies()))
def test_generated_scenarios_validate(doc: dict[str, Any]) -> None:
    scenario = js.validate(doc)
    assert len(scenario.faults) == len(doc["faults"]) <= 3
    assert all(f.start < scenario.duration for f in scenario.faults)


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_every_fault_parameter_is_generated(kind: str) -> None:
    for param in FAULTS[kind].PARAMS:
        found = find(js.fault_params(kind, processes=2, replicas=1, services=("api",)),
                     lambda p, param=param: param in p, settings=QUICK)
        fault = build_fault(kind, 0.0, 1.0, found.get("target"),
                            {k: v for k, v in found.items() if k != "target"},
                            parse_duration)
        assert fault.params[param] == pytest.approx(found[param]) or param in ("job", "args")


def test_schedules_shrink_to_one_early_short_mild_fault() -> None:
    minimal = find(js.fault_schedules(60, services=("api",)), lambda faults: len(faults) >= 1,
                   settings=QUICK)
    assert minimal == [{"type": js.ALL[0], "start": 0, "duration": 1, "target": "api",
                        "extra": 1}]


def test_no_service_is_assumed() -> None:
    """The world has no service built in: without ``services`` a schedule never targets
    the demo shop's, and naming a service fault without them says what to pass."""
    with pytest.raises(NoSuchExample):
        find(js.fault_schedules(60),
             lambda faults: any(js.needs_service(f["type"]) for f in faults),
             settings=settings(QUICK, max_examples=300))
    with pytest.raises(ValueError, match=r"'service_outage' targets a service: pass services="):
        find(js.fault_schedules(60, kinds=("outage",), min_faults=1), bool, settings=QUICK)
    aliased = find(js.fault_schedules(60, kinds=("outage",), services=("api",), min_faults=1),
                   bool, settings=QUICK)
    assert aliased[0]["type"] == "service_outage" and aliased[0]["target"] == "api"


def test_workloads_shrink_to_one_small_entry() -> None:
    def jobs(entries: list[dict[str, Any]]) -> int:
        return sum(e.get("count", e.get("burst", 0)) for e in entries)

    minimal = find(js.workloads(60), lambda w: jobs(w) >= 10, settings=QUICK)
    assert minimal == [{"job": "SyntheticJob", "count": 10, "start": 0, "spread": 0,
                        "args": {"dist": "fixed", "value": 0.0, "p_fail": 0.0}}]


def test_worker_configs_shrink_to_one_process_one_queue() -> None:
    minimal = find(js.worker_configs(), lambda s: True, settings=QUICK)
    assert minimal == {"processes": 1, "concurrency": 1, "fetch": "basic",
                       "queues": ["default"]}


def test_capsule_configs_shrink_to_one_thread_on_default() -> None:
    minimal = find(js.capsule_configs(), lambda c: True, settings=QUICK)
    assert minimal == {"cap0": {"concurrency": 1, "queues": ["default"]}}
    assert "capsules" not in find(js.worker_configs(), lambda s: True, settings=QUICK)


@budget(30)
@given(js.scenarios(jobs=("SyntheticJob",), max_faults=1, system=js.worker_configs(
    max_processes=2, max_concurrency=3, capsules=js.capsule_configs(
        queues=js.queue_configs(names=("low", "critical", "default"))))))
def test_generated_capsules_validate_and_their_queues_get_jobs(doc: dict[str, Any]) -> None:
    """Capsule queues are queues a workload entry may target: the loader accepts every
    generated document, and each entry's queue is served by some thread."""
    scenario = js.validate(doc)
    assert [c.name for c in scenario.system.capsules] == list(doc["system"]["capsules"])
    served = set(scenario.system.queue_names)
    assert served == set(js.served_queues(doc["system"]))
    assert all(entry.get("queue", "default") in served for entry in doc["workload"])


@budget(60)
@given(st.booleans().flatmap(lambda j: st.tuples(st.just(j), js.retry_policies(jitter=j))))
def test_retry_policies_parse_and_keep_their_jitter_promise(case: tuple[bool, str]) -> None:
    jittered, spec = case
    policy = backoff.parse(spec)
    widths = [hi - lo for lo, hi in (policy.bounds(count) for count in range(6))]
    assert all(w > 0 for w in widths) if jittered else all(w == 0 for w in widths)


@pytest.mark.parametrize("name", SCENARIOS)
def test_perturbations_keep_the_story(name: str) -> None:
    original = js.scenario_document(name)

    @budget(5)
    @given(js.scenario_perturbations(name))
    def perturbed(doc: dict[str, Any]) -> None:
        scenario = js.validate(doc)
        assert len(scenario.faults) == len(original.get("faults") or [])
        assert [f.type for f in scenario.faults] == [f["type"] for f in
                                                     original.get("faults") or []]
        for before, after in zip(original["workload"], doc["workload"], strict=True):
            for key in ("count", "burst", "fanout"):
                if key in before:
                    assert _scaled(before[key], 0.01) <= after[key] <= _scaled(before[key], 0.05)
        assert "variants" not in doc

    perturbed()
    unperturbed = find(js.scenario_perturbations(name), lambda d: True, settings=QUICK)
    assert [f["start"] for f in unperturbed["faults"]] == [
        parse_duration(f["start"]) for f in original.get("faults") or []]


def _scaled(n: int, factor: float) -> int:
    return max(1, int(n * factor + 0.5))


@pytest.mark.parametrize("name", ["black_friday", "rq_abandoned", "duplicate_emails"])
def test_a_perturbed_scale_is_the_scale_the_cli_would_run(name: str) -> None:
    """The drawn document runs the threads ``--scale`` gives the scenario: scaled with
    the load where it declares ``scale: {threads: true}`` (an overload story keeps its
    backlog), as declared where it does not (the negative control)."""
    original = load(name)

    @budget(5)
    @given(js.scenario_perturbations(name))
    def perturbed(doc: dict[str, Any]) -> None:
        scenario = js.validate(doc)
        first = doc["workload"][0]
        declared = js.scenario_document(name)["workload"][0]
        key = next(k for k in ("count", "burst", "fanout", "rate") if k in declared)
        scale = next(s for s in (0.01, 0.02, 0.03, 0.05)
                     if key == "rate" or _scaled(declared[key], s) == first[key])
        cli = original.scaled(scale).system
        assert (scenario.system.processes, scenario.system.concurrency) == (
            cli.processes, cli.concurrency)

    perturbed()
    assert load(name).scaling.threads is (name != "duplicate_emails")


CRASH_P3 = {
    "name": "crash_p3", "description": "a crash on the last of four processes",
    "duration": "10m", "scale": {"threads": True},
    "system": {"processes": 4, "concurrency": 10},
    "workload": [{"job": "SyntheticJob", "rate": "1/s"}],
    "faults": [{"type": "worker_crash", "target": "p3", "start": "1m"}],
}


def test_perturbed_scales_keep_the_processes_faults_target(tmp_path: Path) -> None:
    """A scale whose thread split drops p3 is never drawn (the CLI refuses it); when
    none is left, the error says what to pass."""
    path = tmp_path / "crash_p3.yaml"
    path.write_text(yaml.safe_dump(CRASH_P3))
    seen = set()

    @budget(5)
    @given(js.scenario_perturbations(str(path), scales=(0.05, 0.1, 0.5)))
    def perturbed(doc: dict[str, Any]) -> None:
        js.validate(doc)
        seen.add(doc["system"]["processes"])

    perturbed()
    assert seen <= {4}             # 0.05 gives 2 processes: never drawn
    with pytest.raises(ValueError, match=r"no scale in \(0.01, 0.05\) keeps every process"):
        js.scenario_perturbations(str(path), scales=(0.01, 0.05))
