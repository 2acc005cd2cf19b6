"""References resolved at load against the real registries: one line per problem, for the
base and every variant, before any simulated second (issue 13's cases, each a test)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from jobsim.backoff import POLICIES
from jobsim.broker.memory import MemoryBroker
from jobsim.chaos import storage
from jobsim.chaos.storage import FaultyBroker, StorageFaults
from jobsim.report.metric_schema import SCHEMA, leaf
from jobsim.report.metrics import lookup
from jobsim.scenario import ScenarioError
from jobsim.scenario.runner import load, run_scenario, scenarios_dir
from jobsim.system.job import Job

BASE = """\
description: d
duration: 10m
system: {processes: 2}
workload: [{job: SyntheticJob, count: 5}]
checks: [no_loss]
plugins: [jobsim.shop]
"""


def problems(tmp_path: Path, extra: str, base: str = BASE) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(base + extra)
    with pytest.raises(ScenarioError) as info:
        load(path)
    # LINE:PATH: REASON -- the columns are tested in test_problems.py
    return [re.sub(r"^(\d+):\d+:", r"\1:", line.removeprefix(f"{path}:"))
            for line in str(info.value).splitlines()]


@pytest.mark.parametrize(("extra", "expected"), [
    ("faults: [{type: worker_crash, target: p7, start: 1m}]",
     "7: faults[0].target: unknown process 'p7' for 'worker_crash'; "
     "valid: random, all, p0, p1"),
    ("faults: [{type: latency, target: emial, start: 1m}]",
     "7: faults[0].target: unknown service 'emial' for 'latency' (did you mean 'email'?); "
     "valid: analytics, email, fraud, inventory, payment"),
    ("faults: [{type: redis_failover, target: p0, start: 1m, duration: 5s}]",
     "7: faults[0].target: fault 'redis_failover' takes no target (it acts on the whole "
     "storage); remove target:"),
    ("faults: [{type: replica_lag, target: 0, start: 1m}]",
     "7: faults[0].target: no replica '0': world.database.replicas is 0"),
    ("faults: [{type: load_burst, job: SyntheticJb, start: 1m}]",
     "7: faults[0].job: unknown job 'SyntheticJb' (did you mean 'SyntheticJob'?); valid jobs: "
     "AnalyticsJob, DataExportJob, FraudCheckJob, FulfillmentJob, InventoryReservationJob, "
     "NoopJob, NotificationDeliveryJob, PaymentCaptureJob, PaymentProcessingJob, PoisonJob, "
     "SyntheticJob"),
    ("faults: [{type: load_burst, job: PaymentProcessingJob, args: {amount: {a: 1}}, start: 1m}]",
     "7: faults[0].args: PaymentProcessingJob takes workload args ['amount_cents'], "
     "not ['amount']"),
    ("faults: [{type: duplicate_delivery, rate: 1.0, start: 1m}]",
     "7: faults[0].rate: expected a probability in [0, 1), got 1.0: at 1 every delivery "
     "would be repeated forever"),
    ("faults: [{type: latency, target: payment, extr: 2s, start: 1m}]",
     "7: faults[0].extr: unknown parameter for 'latency' (did you mean 'extra'?); "
     "valid: extra"),
    ("expect: [{metric: jobs.lots, max: 0}]",
     "7: expect[0].metric: no metric 'lots' under 'jobs' (did you mean 'lost'?); valid: "
     "canceled, dead, dead_by_reason, discarded, discarded_by_reason, enqueued, executions, "
     "in_flight, lost, retries, succeeded"),
    ("expect: [{metric: queues.critical.latency_p99_s, max: 5}]",
     "7: expect[0].metric: queues: no queue 'critical' in this scenario; valid: default"),
    ("expect: [{metric: checks.idempotency.ok, equals: true}]",
     "7: expect[0].metric: checks: no check 'idempotency' in this scenario; valid: no_loss"),
    ("expect: [{metric: checks.no_loss.ok, max: 1}]",
     "7: expect[0]: 'checks.no_loss.ok' is true or false: use equals, not min or max"),
    ("expect: [{metric: jobs, max: 1}]",
     "7: expect[0].metric: 'jobs' is a section, not a value; under it: canceled, dead, "
     "dead_by_reason, discarded, discarded_by_reason, enqueued, executions, in_flight, lost, "
     "retries, succeeded"),
])
def test_unresolved_reference_is_one_line(tmp_path: Path, extra: str, expected: str) -> None:
    assert problems(tmp_path, extra + "\n") == [expected]


@pytest.mark.parametrize(("spec", "reason"), [
    ("'5s'", f"invalid backoff '5s': unknown backoff policy '5s'; valid: {', '.join(POLICIES)}"
     " (a spec like 'exponential:base=1,cap=600', not a duration)"),
    ("'exponential:jiter=full'", "invalid backoff 'exponential:jiter=full': unknown key "
     "'jiter' for exponential (did you mean 'jitter'?); valid: base, cap, j, jitter"),
])
def test_backoff_is_parsed_at_load(tmp_path: Path, spec: str, reason: str) -> None:
    base = BASE.replace("count: 5}", f"count: 5, backoff: {spec}}}")
    (line,) = problems(tmp_path, "", base)
    assert line.endswith(f"workload[0].backoff: {reason}")


def test_death_handlers_are_resolved(tmp_path: Path) -> None:
    base = BASE.replace("processes: 2}", "processes: 2, death_handlers: [alert_ops]}")
    assert problems(tmp_path, "", base) == [
        "3: system.death_handlers[0]: unknown death handler 'alert_ops'; "
        "valid death handlers: failing, notify_ops"
    ]


def test_args_the_job_does_not_take(tmp_path: Path) -> None:
    base = BASE.replace("count: 5}", "count: 5, args: {x: {y: 1}}}")
    assert problems(tmp_path, "", base) == [
        "4: workload[0].args: SyntheticJob: invalid args (unhashable type: 'dict')"
    ]


class _Odd(Job):
    """A user's job whose make_args builds what a push refuses, or raises."""

    @classmethod
    def make_args(cls, index: int, params: dict) -> list:
        if params.get("how") == "raise":
            raise IndexError("list index out of range")
        if params.get("how") == "tuple":
            return (index,)                    # type: ignore[return-value]
        return [{"at": object()}]


@pytest.mark.parametrize(("how", "reason"), [
    ("object", "_Odd.make_args: argument args[0]['at'] is a object"),
    ("raise", "_Odd.make_args raised IndexError: list index out of range"),
    ("tuple", "_Odd.make_args returned a tuple ((0,)); it must return the list of "
              "perform's arguments"),
])
def test_args_a_push_would_refuse_are_an_input_error(tmp_path: Path, how: str,
                                                     reason: str) -> None:
    """Before, the first arrival stopped the run with a traceback and 'a bug in jobsim'."""
    path = tmp_path / "s.yaml"
    path.write_text(f"description: d\nduration: 1m\nworkload: [{{job: _Odd, count: 1, "
                    f"args: {{how: {how}}}}}]\n")
    with pytest.raises(ScenarioError) as info:
        run_scenario(str(path), jobs=[_Odd])
    assert f"workload[0].args: {reason}" in str(info.value)


def test_a_variant_with_a_bad_reference_fails_the_base_run(tmp_path: Path) -> None:
    extra = "variants:\n  one: {system: {processes: 1}, faults: [{type: worker_crash, " \
            "target: p1, start: 1m}]}\n"
    assert problems(tmp_path, extra) == [
        "8: variants.one.faults[0].target: unknown process 'p1' for 'worker_crash'; "
        "valid: random, all, p0"
    ]


def test_a_variant_shrinking_processes_breaks_a_base_target(tmp_path: Path) -> None:
    extra = ("faults: [{type: worker_crash, target: p1, start: 1m}]\n"
             "variants:\n  small: {system: {processes: 1}}\n")
    assert problems(tmp_path, extra) == [
        "7: faults[0].target: in variant 'small': unknown process 'p1' for 'worker_crash'; "
        "valid: random, all, p0"
    ]


def test_all_reference_problems_of_a_file_at_once(tmp_path: Path) -> None:
    extra = ("faults:\n  - {type: worker_crash, target: p9, start: 1m}\n"
             "  - {type: redis_outage, target: x, start: 1m}\n"
             "expect: [{metric: jobs.lots, max: 0}]\n")
    lines = problems(tmp_path, extra)
    assert [line.split(": ")[1] for line in lines] == [
        "faults[0].target", "faults[1].target", "expect[0].metric"]


def test_valid_targets_load(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(BASE.replace("processes: 2}", "processes: 2}\nworld: {database: {replicas: 2}}")
                    + "faults:\n  - {type: worker_crash, target: p1, start: 1m}\n"
                    "  - {type: replica_lag, target: 1, start: 1m}\n"
                    "  - {type: latency, target: payment, start: 1m}\n"
                    "expect: [{metric: checks.no_loss.ok, equals: true}]\n")
    assert [f.target for f in load(path).faults] == ["p1", "1", "payment"]


def test_the_documented_complete_example_is_valid() -> None:
    docs = Path(__file__).parents[3] / "docs" / "scenarios.md"
    example = docs.read_text().split("```yaml\n", 1)[1].split("```", 1)[0]
    path = Path(__file__).parent / "_docs_example.yaml"
    try:
        path.write_text(example)
        scenario = load(path)
    finally:
        path.unlink(missing_ok=True)
    assert scenario.system.death_handlers == ("notify_ops",)


def test_every_builtin_expectation_and_run_metric_fits_the_schema() -> None:
    """Negative control for the schema: a real metrics.json has no path it lacks."""
    result = run_scenario(load(scenarios_dir() / "black_friday.yaml"), scale=0.01)
    metrics = result.metrics
    vocab = {"queue": list(metrics["queues"]), "check": list(metrics["checks"]),
             "service": list(metrics["services"])}
    for path in _leaves(metrics, ""):
        if path.split(".")[0] in SCHEMA and not path.startswith(("expectations", "highlights")):
            leaf(path, vocab)
    for rule in result.scenario.expect:
        assert lookup(metrics, rule.metric) is not None


def _leaves(node: object, prefix: str) -> list[str]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaves(v, f"{prefix}.{k}" if prefix else k)]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, f"{prefix}.{i}")]
    return [prefix]


def _redeliveries(rate: float) -> int:
    store = MemoryBroker()
    faults = StorageFaults()
    seen: list[str] = []
    broker = FaultyBroker(store, faults, random.Random(1), "workers",
                          lambda jid, queue: seen.append(jid))
    faults.duplicate_delivery_rate = rate
    store.push("default", {"jid": "a", "class": "SyntheticJob", "queue": "default", "args": []})
    for _ in range(50):
        if broker.pop("default") is None:
            break
    return len(seen)


def test_redeliveries_per_job_are_capped() -> None:
    assert _redeliveries(1.0) == storage.MAX_REDELIVERIES


def test_without_the_cap_rate_one_redelivers_without_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "MAX_REDELIVERIES", 10**9)
    assert _redeliveries(1.0) >= 49


def test_the_docs_list_the_metric_schema_exactly() -> None:
    from jobsim.report.metric_schema import rows

    doc = (Path(__file__).parents[3] / "docs" / "scenarios.md").read_text()
    table = doc.split("| metric path | kind |\n|---|---|\n", 1)[1].split("\n\n", 1)[0]
    assert table.splitlines() == [f"| `{path}` | {kind} |" for path, kind in rows()]


ROOT = Path(__file__).parents[3]
BUILT_IN = sorted([*ROOT.glob("scenarios/*.yaml"), *ROOT.glob("examples/*.yaml")])


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("path", BUILT_IN, ids=lambda p: p.name)
def test_every_built_in_file_resolves(path: Path) -> None:
    """Each shipped scenario and example, base and variants, passes the reference checks."""
    scenario = load(path)
    assert scenario.variants is not None


def test_the_story_metric_is_resolved_too(tmp_path: Path) -> None:
    extra = "story: {question: 'How long did it wait?', metric: queues.critcal.latency_p99_s}\n"
    assert problems(tmp_path, extra) == [
        "7: story.metric: queues: no queue 'critcal' in this scenario; valid: default"
    ]


def test_a_lognormal_latency_with_mean_zero_is_refused(tmp_path: Path) -> None:
    """Found by the fuzz test: it crashed the world's sampler mid-run (exit 3)."""
    extra = "world: {services: {email: {latency: {dist: lognormal, mean: 0, sd: 60ms}}}}\n"
    assert problems(tmp_path, extra) == [
        "7: world.services.email.latency.mean: must be positive, got 0"
    ]


def test_a_world_the_simulator_cannot_build_fails_at_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jobsim.world import world

    def refuse(self: object, sim: object, config: object) -> None:
        raise ValueError("world.services.email: math domain error")

    monkeypatch.setattr(world.World, "__init__", refuse)
    assert problems(tmp_path, "") == [
        "1: world: the world cannot be built: world.services.email: math domain error"
    ]


class _CallsPaymnet(Job):
    """A Python job that calls a service by a misspelt name and declares none."""

    def perform(self, index: int):  # type: ignore[no-untyped-def]
        yield from self.world.service("paymnet").call(self, "charge")


def test_a_call_to_an_undeclared_service_fails_the_job_by_that_name(tmp_path: Path) -> None:
    """Before, the history said KeyError, which the job's own code could have raised."""
    path = tmp_path / "s.yaml"
    path.write_text("description: d\nduration: 10s\nworld: {services: {payment: {}}}\n"
                    "workload: [{job: _CallsPaymnet, count: 2, retry: false}]\n")
    result = run_scenario(str(path), jobs=[_CallsPaymnet])
    assert result.metrics["failures"] == {"UndeclaredService": 2}


_DECLARED = """\
description: d
duration: 1m
world: {services: {endpoints: {}}}
jobs:
  Deliver:
    perform: [{call: {service: endpoints, op: post, key: "webhook:{event_id}", effect: true}}]
workload: [{job: Deliver, count: 3, args: {event_id: "evt-{n}"}, effect: "EFFECT"}]
checks: [exactly_once]
"""


@pytest.mark.parametrize(("effect", "reason"), [
    ("webhook:{event_idd}", "workload[0].effect: {event_idd} in 'webhook:{event_idd}' names "
     "nothing Deliver's args hold (positions 0..0; fields event_id)"),
    ("webhook:{0}", "workload[0].effect: {0} in 'webhook:{0}' is Deliver's args object, "
     "which no effect key spells; name its field instead ({event_id})"),
    ("webhook:{1}", "{1} in 'webhook:{1}' names nothing Deliver's args hold"),
])
def test_an_effect_template_names_what_the_jobs_args_hold(tmp_path: Path, effect: str,
                                                          reason: str) -> None:
    assert reason in problems(tmp_path, "", _DECLARED.replace("EFFECT", effect))[0]


def test_a_declared_job_owes_the_effect_its_field_names(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(_DECLARED.replace("EFFECT", "webhook:{event_id}"))
    result = run_scenario(str(path))
    assert result.checks["exactly_once"].ok
    assert result.checks["exactly_once"].stats["exactly_once"] == 3


def test_an_ordering_rule_names_a_job_the_run_has(tmp_path: Path) -> None:
    """A misspelt class matched no event, so the rule held by judging nothing (PASS)."""
    base = BASE.replace("checks: [no_loss]", "checks: [dependencies]")
    assert problems(tmp_path, 'order: [{before: "effect paid:{o}", '
                              'after: "start SyntheticJb({o})"}]', base) == [
        "7: order[0].after: unknown job 'SyntheticJb' (did you mean 'SyntheticJob'?); "
        "valid jobs: AnalyticsJob, DataExportJob, FraudCheckJob, FulfillmentJob, "
        "InventoryReservationJob, NoopJob, NotificationDeliveryJob, PaymentCaptureJob, "
        "PaymentProcessingJob, PoisonJob, SyntheticJob"]
    path = tmp_path / "ok.yaml"
    path.write_text(base + 'order: [{before: "success *({o})", after: "start SyntheticJob({o})"}]')
    assert load(path).order                                    # '*' and a real class load
