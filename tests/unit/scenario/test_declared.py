"""Declared jobs: validation at load (one error naming the field), and what each step does.

Every run here is small (tens of jobs); the end-to-end stories are in
tests/scenarios/test_declared_jobs.py.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from jobsim.checks.registry import NAMES as CHECK_NAMES
from jobsim.scenario import ScenarioError, load_document
from jobsim.scenario.build import FAULT_NAMES
from jobsim.scenario.jobs import base_library
from jobsim.scenario.runner import Result, run_scenario

BASE: dict[str, Any] = {
    "description": "declared jobs under test",
    "duration": "1m",
    "system": {"processes": 1, "concurrency": 5, "queues": ["default", "low"]},
    "world": {
        "services": {"hooks": {"latency": {"dist": "fixed", "value": "100ms"}}},
        "tables": {"deliveries": {"unique": ["event_id"]}, "pairs": {"unique": ["a", "b"]},
                   "log": {}},
        "pools": {"api": 2},
    },
    "jobs": {
        "Deliver": {
            "retry": 3,
            "perform": [
                {"read": {"table": "deliveries", "key": "{event_id}"}},
                {"call": {"service": "hooks", "op": "post", "key": "{event_id}",
                          "effect": True}},
                {"insert": {"table": "deliveries", "key": "{event_id}",
                            "on_conflict": "stop"}},
            ],
        },
    },
    "workload": [{"job": "Deliver", "count": 20, "spread": "20s",
                  "args": {"event_id": "evt-{n}"}}],
    "checks": ["idempotency", "no_loss"],
}


def doc(**jobs: Any) -> dict[str, Any]:
    out = copy.deepcopy(BASE)
    out["jobs"].update(jobs)
    return out


def load(raw: dict[str, Any]) -> Any:
    return load_document(raw, known_jobs=base_library(), known_faults=FAULT_NAMES,
                         known_checks=CHECK_NAMES, file="t.yaml")


def run(raw: dict[str, Any], seed: int = 0) -> Result:
    return run_scenario(load(raw), seed=seed)


def error(raw: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as err:
        load(raw)
    return str(err.value)


def steps(*items: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"perform": list(items), **options}


# ---- validation ----------------------------------------------------------------------
@pytest.mark.parametrize(("job", "where", "reason"), [
    (steps({"sleep": "1s"}), "jobs.Bad.perform[0].sleep", "unknown key 'sleep'"),
    (steps({"call": {"service": "hooks", "op": "x", "retries": 2}}),
     "jobs.Bad.perform[0].call.retries", "unknown key 'retries'"),
    (steps({"call": {"service": "hookz", "op": "x"}}),
     "jobs.Bad.perform[0].call.service", "unknown service 'hookz' (did you mean 'hooks'?)"),
    (steps({"read": {"table": "delivery", "key": "x"}}),
     "jobs.Bad.perform[0].read.table", "unknown table 'delivery'"),
    (steps({"use": {"pool": "apl", "for": "1s"}}),
     "jobs.Bad.perform[0].use.pool", "unknown pool 'apl'"),
    (steps({"enqueue": {"job": "Delivr"}}),
     "jobs.Bad.perform[0].enqueue.job", "unknown job 'Delivr'"),
    (steps({"work": {"dist": "gamma", "mean": "1s"}}),
     "jobs.Bad.perform[0].work.dist", "unknown distribution 'gamma'"),
    (steps({"work": {"dist": "uniform", "min": "2s", "max": "1s"}}),
     "jobs.Bad.perform[0].work.max", "must not be less than min"),
    (steps({"read": {"table": "deliveries", "key": "x", "from": "cache"}}),
     "jobs.Bad.perform[0].read.from", "expected one of 'primary', 'replica'"),
    (steps({"insert": {"table": "pairs", "key": "x"}}),
     "jobs.Bad.perform[0].insert.key", "unique on ['a', 'b']"),
    (steps({"insert": {"table": "pairs", "key": {"a": 1}}}),
     "jobs.Bad.perform[0].insert.key", "the key must give ['b']"),
    (steps({"call": {"service": "hooks", "op": "x", "effect": True}}),
     "jobs.Bad.perform[0].call", "effect: true needs a key"),
    (steps({"fail": {"rate": 1.5}}), "jobs.Bad.perform[0].fail.rate", "at most 1"),
    (steps({"fail": {"rate": 0.1, "error": "not a name"}}),
     "jobs.Bad.perform[0].fail.error", "expected an error class name"),
    (steps({"tempfile": {"bytes": -1}}), "jobs.Bad.perform[0].tempfile.bytes",
     "must not be negative"),
    (steps({"read": {"table": "log", "key": "x"}, "call": {"service": "hooks", "op": "x"}}),
     "jobs.Bad.perform[0]", "a step is one of"),
    (steps({"enqueue": {"job": "Deliver", "after": ["Deliver"]}}),
     "jobs.Bad.perform[0].enqueue.after[0]", "not an earlier enqueue step"),
    (steps({"work": "1s"}, queue="critical"), "jobs.Bad.queue", "not in system.queues"),
    (steps({"work": "1s"}, backoff="exponential:base=x"), "jobs.Bad.backoff", ""),
    (steps({"work": "1s"}, unique={"lock": "forever"}), "jobs.Bad.unique.lock", "forever"),
    (steps({"work": "1s"}, unique={"args": ["x"]}), "jobs.Bad.unique.args", "unknown key"),
    (steps({"work": "1s"}, priority=3), "jobs.Bad.priority", "unknown key 'priority'"),
    (steps(), "jobs.Bad.perform", "must not be empty"),
])
def test_a_bad_step_or_option_names_its_field(job: dict[str, Any], where: str,
                                              reason: str) -> None:
    message = error(doc(Bad=job))
    assert message.startswith(f"t.yaml: {where}: "), message
    assert reason in message
    assert "\n" not in message


def test_a_template_naming_no_arg_is_refused_at_load() -> None:
    raw = doc()
    raw["jobs"]["Deliver"]["perform"][1]["call"]["key"] = "{event}"
    message = error(raw)
    assert message.startswith("t.yaml: jobs.Deliver.perform[1].call.key: template {event} is "
                              "not an arg of Deliver (its args: event_id)"), message


def test_workload_args_may_only_template_n() -> None:
    raw = doc()
    raw["workload"][0]["args"] = {"event_id": "evt-{i}"}
    assert error(raw).startswith("t.yaml: workload[0].args.event_id: template {i}")


def test_an_enqueue_gives_its_child_args_that_are_checked_too() -> None:
    raw = doc(Fan=steps({"enqueue": {"job": "Deliver", "args": {"id": "{event_id}"}}}))
    raw["workload"].append({"job": "Fan", "count": 1, "args": {"event_id": "e"}})
    message = error(raw)
    assert "jobs.Deliver.perform[0].read.key: template {event_id}" in message
    assert "its args: none" in message or "its args: id" not in message


def test_a_bad_job_name_and_a_non_mapping_declaration_are_refused() -> None:
    assert "a job name must be a class name" in error(doc(**{"bad-name": steps({"work": 1})}))
    assert error(doc(Bad=["work"])).startswith("t.yaml: jobs.Bad: expected a mapping")


def test_a_variant_may_redeclare_the_steps() -> None:
    raw = doc()
    raw["variants"] = {"bare": {"jobs": {"Deliver": {"perform": [
        {"call": {"service": "hooks", "op": "post", "key": "{event_id}", "effect": True}}]}}}}
    base = load(raw)
    assert len(base.jobs["Deliver"].steps) == 3
    assert len(base.variants["bare"].jobs["Deliver"].steps) == 1
    assert base.variants["bare"].jobs["Deliver"].retry == 3      # merged, not replaced


# ---- behaviour -----------------------------------------------------------------------
def effects(result: Result, service: str) -> list[str]:
    return [e[3] for e in result.history.events if e[1] == "effect" and e[4] == service]


def test_args_are_one_object_and_n_counts_arrivals_within_the_entry() -> None:
    raw = doc()
    raw["workload"].append({"job": "Deliver", "count": 3, "args": {"event_id": "b-{n}"}})
    keys = effects(run(raw), "hooks")
    assert sorted(k for k in keys if k.startswith("b-")) == ["b-0", "b-1", "b-2"]
    assert len([k for k in keys if k.startswith("evt-")]) == 20


def test_read_stop_skips_a_row_that_exists_and_insert_stop_ends_quietly() -> None:
    raw = doc()
    raw["workload"][0] = {"job": "Deliver", "count": 5, "spread": "20s",
                          "args": {"event_id": "same"}}
    result = run(raw)
    assert effects(result, "hooks") == ["same"]        # the later four read the row
    assert result.metrics["checks"]["idempotency"]["ok"]
    raw["workload"][0] = {"job": "Deliver", "burst": 5, "at": "0s", "args": {"event_id": "x"}}
    assert effects(run(raw), "hooks") == ["x"] * 5    # all five read before any inserts


def test_exists_fail_and_conflict_fail_fail_the_job() -> None:
    fail_on_read = doc(Deliver=steps(
        {"read": {"table": "deliveries", "key": "{event_id}", "exists": "fail"}},
        {"insert": {"table": "deliveries", "key": "{event_id}"}}, retry=False))
    fail_on_read["workload"][0] = {"job": "Deliver", "count": 3, "args": {"event_id": "k"}}
    failures = [e for e in run(fail_on_read).history.events if e[1] == "failure"]
    assert [e[3] for e in failures] == ["StepFailed", "StepFailed"]
    fail_on_insert = copy.deepcopy(fail_on_read)
    fail_on_insert["jobs"]["Deliver"]["perform"].pop(0)
    failures = [e for e in run(fail_on_insert).history.events if e[1] == "failure"]
    assert [e[3] for e in failures] == ["UniqueViolation", "UniqueViolation"]


def test_fail_raises_the_named_error_at_its_rate() -> None:
    raw = doc(Flaky=steps({"fail": {"rate": 0.5, "error": "PaymentDeclined"}}, retry=False))
    raw["workload"] = [{"job": "Flaky", "count": 400, "spread": "40s"}]
    failures = [e[3] for e in run(raw).history.events if e[1] == "failure"]
    assert set(failures) == {"PaymentDeclined"}
    assert 160 < len(failures) < 240


def test_work_and_use_take_simulated_time_and_hold_the_pool() -> None:
    raw = doc(Slow=steps({"work": "2s"}, {"use": {"pool": "api", "for": "3s"}}))
    raw["workload"] = [{"job": "Slow", "burst": 4, "at": "0s"}]
    events = run(raw).history.events
    ends = sorted(e[0] for e in events if e[1] == "success")
    # pool of 2: two jobs hold it 2s..5s, the other two 5s..8s
    assert ends == pytest.approx([5.0, 5.0, 8.0, 8.0])


def test_enqueue_after_uses_dependencies_when_the_safeguard_is_on() -> None:
    first = steps({"work": "5s"}, {"call": {"service": "hooks", "op": "a", "key": "a:{id}",
                                           "effect": True}})
    second = steps({"call": {"service": "hooks", "op": "b", "key": "b:{id}", "effect": True}})
    parent = steps({"enqueue": {"job": "First"}},
                   {"enqueue": {"job": "Second", "after": ["First"]}})
    raw = doc(First=first, Second=second, Parent=parent)
    raw["workload"] = [{"job": "Parent", "count": 1, "args": {"id": 7}}]
    raced = effects(run(raw), "hooks")
    raw["system"]["safeguards"] = {"dependencies": {"enabled": True}}
    ordered = effects(run(raw), "hooks")
    assert raced == ["b:7", "a:7"]                 # no dependencies: the steps race
    assert ordered == ["a:7", "b:7"]


@pytest.mark.parametrize(("scoped", "leaked"), [(True, 0), (False, 1)])
def test_tempfiles_are_released_per_the_resources_safeguard(scoped: bool, leaked: int) -> None:
    raw = doc(Export=steps({"tempfile": {"bytes": 1000}}, {"memory": {"bytes": 5000}},
                           {"work": "1s"}, {"fail": {"rate": 1.0}}, retry=False))
    raw["workload"] = [{"job": "Export", "count": 10, "spread": "10s"}]
    raw["system"]["safeguards"] = {"resources": {"scoped": scoped}}
    raw["checks"] = ["resources"]
    result = run(raw)
    files = [e[4] for e in result.history.events if e[1] == "sample" and e[3] == "tempfiles.count"]
    assert files[-1] == 10 * leaked
    assert result.metrics["checks"]["resources"]["ok"] is scoped


def test_declared_jobs_do_not_outlive_their_run() -> None:
    run(doc())
    assert "Deliver" not in base_library()


def test_a_declared_class_names_the_world_parts_it_uses() -> None:
    raw = doc(Fan=steps({"use": {"pool": "api", "for": "1s"}},
                        {"enqueue": {"job": "Deliver", "args": {"event_id": "x"}}}))
    jobs = load(raw).jobs
    assert (jobs["Deliver"].services, jobs["Deliver"].tables) == (("hooks",), ("deliveries",))
    assert (jobs["Fan"].pools, jobs["Fan"].enqueues, jobs["Fan"].services) == (
        ("api",), ("Deliver",), ())


def claim_then_call(rescue: bool) -> dict[str, Any]:
    job = steps({"insert": {"table": "deliveries", "key": "{event_id}", "on_conflict": "stop"}},
                {"call": {"service": "hooks", "op": "post", "key": "{event_id}",
                          "effect": True}},
                retry=5, backoff="fixed:intervals=1")
    if rescue:
        job["rescue"] = [{"delete": {"table": "deliveries", "key": "{event_id}"}}]
    raw = doc(Deliver=job)
    raw["world"]["services"]["hooks"]["error_rate"] = 0.3
    raw["drain"] = "2m"
    return raw


@pytest.mark.parametrize("rescue", [True, False])
def test_rescue_gives_the_claim_back_so_the_retry_delivers(rescue: bool) -> None:
    result = run(claim_then_call(rescue))
    delivered = set(effects(result, "hooks"))
    assert result.metrics["checks"]["idempotency"]["ok"]
    if rescue:
        assert len(delivered) == 20
    else:            # the control: a failed call keeps its claim, the retry stops
        assert len(delivered) < 20


def test_a_rescue_step_is_validated_like_a_perform_step() -> None:
    raw = claim_then_call(True)
    raw["jobs"]["Deliver"]["rescue"] = [{"delete": {"table": "nope", "key": "x"}}]
    assert error(raw).startswith("t.yaml: jobs.Deliver.rescue[0].delete.table: unknown table")


def test_a_push_time_lock_stops_repushes_but_not_a_redelivered_copy() -> None:
    bare = steps({"call": {"service": "hooks", "op": "post", "key": "{event_id}",
                           "effect": True}},
                 unique={"lock": "until_executed"})
    raw = doc(Deliver=bare)
    raw["workload"] = [{"job": "Deliver", "count": 200, "spread": "50s",
                        "args": {"event_id": "evt-{n}"}}]
    raw["system"]["safeguards"] = {"unique": {}}
    raw["faults"] = [{"type": "duplicate_enqueue", "rate": 0.3, "start": "0s"}]
    repushed = run(raw)
    conflicts = [e for e in repushed.history.events if e[1] == "unique_conflict"]
    assert conflicts and repushed.metrics["checks"]["idempotency"]["ok"]
    raw["system"]["safeguards"] = {}                       # control: no lock, duplicates
    assert not run(raw).metrics["checks"]["idempotency"]["ok"]
    raw["system"]["safeguards"] = {"unique": {}}
    raw["faults"] = [{"type": "duplicate_delivery", "rate": 0.3, "start": "0s"}]
    redelivered = run(raw)
    assert not redelivered.metrics["checks"]["idempotency"]["ok"]


def test_a_load_burst_of_a_declared_job_must_give_its_args() -> None:
    raw = doc()
    raw["faults"] = [{"type": "load_burst", "job": "Deliver", "count": 5, "start": "30s"}]
    assert error(raw).startswith(
        "t.yaml: jobs.Deliver.perform[0].read.key: template {event_id} is not an arg")
    raw["faults"][0]["args"] = {"event_id": "burst-{n}"}
    keys = effects(run(raw), "hooks")
    assert sorted(k for k in keys if k.startswith("burst-")) == [f"burst-{i}" for i in range(5)]
