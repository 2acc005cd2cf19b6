"""Scenario loading: a full valid file field by field, and one exact message per bad file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobsim.scenario import (
    Distribution,
    Expectation,
    Fault,
    Scenario,
    ScenarioError,
    WorkloadEntry,
    apply_variant,
    deep_merge,
    list_scenarios,
    load_document,
    load_scenario,
)
from jobsim.scenario.runner import load
from jobsim.scenario.schema import PoolConfig

BAD = Path(__file__).parent / "bad"
JOBS = {"AnalyticsJob", "PaymentProcessingJob", "SyntheticJob", "EmailJob", "OrderJob",
        "NotificationDeliveryJob"}
FAULTS = {"latency", "outage", "crash"}
CHECKS = {"no_loss", "priority", "idempotency", "retry_spread", "lifecycle"}
KNOWN: dict[str, Any] = {"known_jobs": JOBS, "known_faults": FAULTS, "known_checks": CHECKS}

FULL = """\
name: black_friday
description: >
  Payment jobs must skip ahead of 80,000 analytics jobs
  at the sale peak.
seed: 42
duration: 2h
drain: 10m
system:
  processes: 4
  concurrency: 10
  fetch: reliable
  queues: [[critical, 6], [default, 3], [low_priority, 1]]
  poll_interval: 2s
  shutdown_timeout: 30s
  dead_max_jobs: 500
  dead_timeout: 7d
  death_handlers: [alert_ops, refund]
  safeguards:
    unique: {lock: until_executed, ttl: 1h}
    idempotency: {guard: constraint}
    retry_budget: {tokens: 100, ratio: 0.1}
    circuit_breaker: {threshold: 3, cooldown: 1m}
world:
  services:
    payment_api:
      latency: {dist: lognormal, mean: 120ms, sd: 40ms}
      capacity: 20
      on_full: reject
      timeout: 2s
      error_rate: 0.01
    email_api: {latency: 50ms}
  database: {replicas: 2, lag: 500ms}
  pools: {db: 25, redis: 10}
workload:
  - {job: AnalyticsJob, count: 80000, start: 0s, spread: 10m, queue: low_priority}
  - job: PaymentProcessingJob
    rate: 5/s
    end: 2h
    queue: critical
    retry: 5
    backoff: "exponential:jitter=full,base=1,cap=600"
    jitter: 0.15
    args: {amount_cents: 1999, currency: EUR, tags: [sale, vip], meta: {safe: true}}
  - {job: EmailJob, burst: 500, at: 1h}
  - {job: OrderJob, fanout: 1201, start: 30m, spread: 5m, retry: false}
faults:
  - {type: latency, target: payment_api, extra: 2s, start: 30m, duration: 15m}
  - {type: crash, start: 2h5m, target: p0, signal: KILL}
checks: [no_loss, priority, idempotency, retry_spread, lifecycle]
expect:
  - {metric: queues.critical.latency_p99_s, max: 5}
  - {metric: jobs.lost, equals: 0}
  - {metric: retries.peak_per_minute, min: 1, max: 400}
latency_bounds: {critical: 5s, default: 10m}
variants:
  single_fifo:
    description: One FIFO queue, as in the seed's incident.
    system: {queues: [default]}
    route_all_to: default
    latency_bounds: {critical: null}
  no_breaker:
    system: {safeguards: {circuit_breaker: null}}
"""


@pytest.fixture
def full(tmp_path: Path) -> Scenario:
    path = tmp_path / "black_friday.yaml"
    path.write_text(FULL)
    return load_scenario(path, **KNOWN)


def test_full_scenario_top_level(full: Scenario, tmp_path: Path) -> None:
    assert full.name == "black_friday"
    assert full.description == (
        "Payment jobs must skip ahead of 80,000 analytics jobs at the sale peak."
    )
    assert (full.seed, full.duration, full.drain, full.horizon) == (42, 7200.0, 600.0, 7800.0)
    assert full.file == str(tmp_path / "black_friday.yaml")
    assert (full.variant, full.scale, full.route_all_to) == (None, 1.0, None)
    assert full.checks == ("no_loss", "priority", "idempotency", "retry_spread", "lifecycle")
    assert full.latency_bounds == {"critical": 5.0, "default": 600.0}
    assert full.expect == (
        Expectation("queues.critical.latency_p99_s", max=5.0),
        Expectation("jobs.lost", equals=0),
        Expectation("retries.peak_per_minute", min=1.0, max=400.0),
    )
    assert [e.bounds() for e in full.expect] == [
        [("<=", 5.0)],
        [("==", 0)],
        [(">=", 1.0), ("<=", 400.0)],
    ]
    assert set(full.variants) == {"single_fifo", "no_breaker"}


def test_full_scenario_system(full: Scenario) -> None:
    system = full.system
    assert (system.processes, system.concurrency, system.fetch) == (4, 10, "reliable")
    assert system.queues == (("critical", 6), ("default", 3), ("low_priority", 1))
    assert system.queue_mode == "weighted"
    assert system.queue_names == ("critical", "default", "low_priority")
    assert (system.poll_interval, system.shutdown_timeout) == (2.0, 30.0)
    assert (system.dead_max_jobs, system.dead_timeout) == (500, 7 * 86400.0)
    assert system.death_handlers == ("alert_ops", "refund")
    assert system.safeguards == {
        "unique": {"lock": "until_executed", "ttl": 3600.0, "on_conflict": "drop", "args": None},
        "idempotency": {"guard": "constraint", "payment_keys": False},
        "retry_budget": {"tokens": 100, "cost": 5, "timeout_cost": 10, "refund": 1, "ratio": 0.1},
        "circuit_breaker": {"threshold": 3, "cooldown": 60.0},
    }


def test_full_scenario_world(full: Scenario) -> None:
    payment = full.world.services["payment_api"]
    assert payment.latency == Distribution("lognormal", {"mean": 0.12, "sd": 0.04})
    assert (payment.capacity, payment.on_full, payment.timeout) == (20, "reject", 2.0)
    assert payment.error_rate == 0.01
    email = full.world.services["email_api"]
    assert email.latency == Distribution("fixed", {"value": 0.05})
    assert (email.capacity, email.on_full, email.timeout, email.error_rate) == (
        None,
        "queue",
        None,
        0.0,
    )
    assert (full.world.database.replicas, full.world.database.lag) == (2, 0.5)
    assert full.world.pools == {"db": PoolConfig(25), "redis": PoolConfig(10)}


def test_full_scenario_workload_and_faults(full: Scenario) -> None:
    analytics, payment, email, order = full.workload
    assert analytics == WorkloadEntry(
        "AnalyticsJob", "count", count=80000, start=0.0, spread=600.0, queue="low_priority"
    )
    assert payment == WorkloadEntry(
        "PaymentProcessingJob",
        "rate",
        rate=5.0,
        start=0.0,
        end=7200.0,
        queue="critical",
        retry=5,
        backoff="exponential:jitter=full,base=1,cap=600",
        jitter=0.15,
        args={
            "amount_cents": 1999,
            "currency": "EUR",
            "tags": ["sale", "vip"],
            "meta": {"safe": True},
        },
    )
    assert email == WorkloadEntry("EmailJob", "burst", count=500, start=3600.0)
    assert order == WorkloadEntry(
        "OrderJob", "fanout", count=1201, start=1800.0, spread=300.0, retry=False
    )
    assert full.faults == (
        Fault("latency", 1800.0, 900.0, "payment_api", {"extra": "2s"}),
        Fault("crash", 7500.0, None, "p0", {"signal": "KILL"}),
    )


def test_config_event_payload(full: Scenario) -> None:
    assert full.config(seed=7) == {
        "latency_bounds": {"critical": 5.0, "default": 600.0},
        "horizon": 7800.0,
        "scenario": "black_friday",
        "variant": None,
        "seed": 7,
        "checks": ["no_loss", "priority", "idempotency", "retry_spread", "lifecycle"],
        "safeguards": full.config()["safeguards"],
        "order": [],
        "effects": [],
    }
    assert full.config()["safeguards"]["idempotency"] == {"guard": "constraint",
                                                          "payment_keys": False}
    assert full.config()["seed"] == 42


def test_a_variant_without_a_description_says_what_it_changes(tmp_path: Path) -> None:
    """It inherited the base's description, so its report and compare.html told the base
    story under the variant's name."""
    path = tmp_path / "s.yaml"
    path.write_text(
        "description: Payments under crashes.\nduration: 1m\n"
        "workload: [{job: SyntheticJob, count: 1}]\n"
        "variants:\n"
        "  basic: {system: {fetch: basic, safeguards: {unique: null}}}\n"
        "  told: {description: Its own words., system: {fetch: basic}}\n")
    scenario = load(path)
    assert scenario.description == "Payments under crashes."
    assert scenario.variants["basic"].description == (
        "Changed from the base story: system.fetch: basic; system.safeguards.unique: null.")
    assert scenario.variants["told"].description == "Its own words."
    assert scenario.with_variant("basic").description == scenario.variants["basic"].description


def test_variant_merges_over_base(full: Scenario) -> None:
    fifo = full.with_variant("single_fifo")
    assert (fifo.name, fifo.variant, fifo.variants) == ("black_friday", "single_fifo", {})
    assert fifo.description == "One FIFO queue, as in the seed's incident."
    assert fifo.system.queues == (("default", 1),)
    assert fifo.system.queue_mode == "strict"
    assert fifo.route_all_to == "default"
    assert {entry.queue for entry in fifo.workload} == {"default"}
    assert fifo.latency_bounds == {"default": 600.0}  # null removed the inherited key
    assert fifo.system.processes == 4  # untouched keys are inherited
    assert fifo.config()["variant"] == "single_fifo"
    no_breaker = full.with_variant("no_breaker")
    assert set(no_breaker.system.safeguards) == {"unique", "idempotency", "retry_budget"}
    assert full.with_variant(None) is full


def test_variant_argument_returns_that_variant(tmp_path: Path) -> None:
    path = tmp_path / "black_friday.yaml"
    path.write_text(FULL)
    fifo = load_scenario(path, variant="single_fifo", **KNOWN)
    assert fifo.variant == "single_fifo"
    assert fifo.system.queue_names == ("default",)


def test_unknown_variant_lists_the_available_ones(tmp_path: Path, full: Scenario) -> None:
    path = tmp_path / "black_friday.yaml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, variant="single_fif", **KNOWN)
    assert str(info.value) == (
        f"{path}: unknown variant 'single_fif' (did you mean 'single_fifo'?); "
        "valid variants: no_breaker, single_fifo"
    )
    with pytest.raises(ScenarioError, match="unknown variant 'x'"):
        full.with_variant("x")


def test_scaled_multiplies_counts_and_rates(full: Scenario) -> None:
    small = full.scaled(0.001)
    assert [entry.count for entry in small.workload] == [80, None, 1, 1]
    assert small.workload[1].rate == pytest.approx(0.005)
    assert small.scale == 0.001
    assert small.variants["single_fifo"].workload[0].count == 80
    double = full.scaled(2)
    assert [entry.count for entry in double.workload] == [160000, None, 1000, 2402]
    assert full.workload[0].count == 80000  # the original is untouched
    half = full.scaled(0.5)
    assert half.workload[3].count == 601  # 600.5 rounds half up
    with pytest.raises(ScenarioError, match="scale must be positive, got 0"):
        full.scaled(0)


def test_deep_merge_replaces_lists_and_does_not_mutate() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    merged = deep_merge(base, {"a": {"c": [3]}, "e": None})
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 1, "e": None}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    raw = {"x": 1, "variants": {"v": {"x": 2}}}
    assert apply_variant(raw, "v") == {"x": 2}
    with pytest.raises(ScenarioError) as info:
        apply_variant(raw, "w", file="f.yaml")
    assert str(info.value) == "f.yaml: unknown variant 'w'; valid variants: v"


@pytest.mark.parametrize(
    ("queues", "mode", "expected"),
    [
        ("[critical, default]", "strict", (("critical", 1), ("default", 1))),
        ("[[a, 1], [b, 1]]", "random", (("a", 1), ("b", 1))),
        ("[[a, 2], [b, 1]]", "weighted", (("a", 2), ("b", 1))),
        ("null", "strict", (("default", 1),)),
    ],
)
def test_queue_modes(tmp_path: Path, queues: str, mode: str, expected: tuple[Any, ...]) -> None:
    path = tmp_path / "q.yaml"
    path.write_text(
        f"description: d\nduration: 1m\nsystem: {{queues: {queues}}}\n"
        "workload: [{job: SyntheticJob, count: 1}]\n"
    )
    scenario = load_scenario(path, **KNOWN)
    assert (scenario.system.queues, scenario.system.queue_mode) == (expected, mode)


def test_defaults_and_name_from_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text("description: d\nduration: 90\nworkload: [{job: SyntheticJob, rate: 1/m}]\n")
    scenario = load_scenario(path, **KNOWN)
    assert (scenario.name, scenario.seed, scenario.drain, scenario.duration) == ("tiny", 0, 0, 90)
    assert scenario.system.fetch == "basic"
    assert (scenario.system.processes, scenario.system.concurrency) == (1, 5)
    assert (scenario.system.shutdown_timeout, scenario.system.dead_max_jobs) == (25.0, 10_000)
    assert scenario.system.dead_timeout == 180 * 86400
    assert (scenario.faults, scenario.checks, scenario.expect, scenario.variants) == (
        (),
        (),
        (),
        {},
    )
    assert scenario.workload[0].rate == pytest.approx(1 / 60)
    assert scenario.workload[0].end == 90


BAD_FILES = [
    (
        "invalid_yaml.yaml",
        "invalid YAML: expected ',' or '}', but got '<stream end>'",
    ),
    ("empty.yaml", "file is empty"),
    ("top_level_list.yaml", "expected a mapping at the top level, got a list"),
    (
        "python_tag.yaml",
        "invalid YAML: unsupported tag "
        "'tag:yaml.org,2002:python/object/apply:os.system'; scenario files are plain YAML",
    ),
    ("duplicate_key.yaml", "workload[0].count: duplicate key 'count' (lines 5 and 6)"),
    ("missing_description.yaml", "missing required key 'description'"),
    (
        "unknown_top_key.yaml",
        "workloads: unknown key 'workloads' (did you mean 'workload' or 'world'?); valid keys: "
        "checks, description, drain, duration, expect, faults, jobs, latency_bounds, name, "
        "order, plugins, reproduces, route_all_to, scale, seed, story, system, variants, workload, "
        "world",
    ),
    (
        "unknown_system_key.yaml",
        "system.concurency: unknown key 'concurency' (did you mean 'concurrency'?); valid keys: "
        "capsules, celery, concurrency, dead_max_jobs, dead_timeout, death_handlers, fetch, "
        "flavor, max_retries, poll_interval, processes, queues, rq, safeguards, "
        "shutdown_timeout, sidekiq_env, sidekiq_yml",
    ),
    (
        "unknown_entry_key.yaml",
        "workload[0].qeue: unknown key 'qeue' (did you mean 'queue'?); valid keys: args, at, "
        "backoff, burst, count, effect, end, fanout, jitter, job, queue, rate, retry, scale, "
        "spread, start",
    ),
    (
        "unknown_service_key.yaml",
        "world.services.payment_api.latncy: unknown key 'latncy' (did you mean 'latency'?); "
        "valid keys: capacity, error_rate, idempotency_window, latency, on_full, timeout",
    ),
    (
        "unknown_safeguard_key.yaml",
        "system.safeguards.unique.tll: unknown key 'tll' (did you mean 'ttl'?); "
        "valid keys: args, lock, on_conflict, ttl",
    ),
    (
        "unknown_safeguard.yaml",
        "system.safeguards.uniqueness: unknown safeguard 'uniqueness' (did you mean 'unique'?); "
        "valid safeguards: circuit_breaker, dependencies, idempotency, resources, "
        "retry_budget, unique",
    ),
    ("negative_count.yaml", "workload[0].count: must be at least 1, got -5"),
    ("zero_duration.yaml", "duration: must be positive, got '0s'"),
    (
        "bad_duration.yaml",
        "workload[0].spread: expected a duration like '30s', '10m' or '1h30m', got 'soon'",
    ),
    ("bad_rate.yaml", "workload[1].rate: expected '<number>/s', got 'fast'"),
    (
        "unknown_job.yaml",
        "workload[0].job: unknown job 'PaymentJob' (did you mean 'PaymentProcessingJob'?); "
        "valid jobs: AnalyticsJob, EmailJob, NotificationDeliveryJob, OrderJob, "
        "PaymentProcessingJob, SyntheticJob",
    ),
    (
        "unknown_fault.yaml",
        "faults[0].type: unknown fault type 'latancy' (did you mean 'latency'?); "
        "valid fault types: crash, latency, outage",
    ),
    (
        "unknown_check.yaml",
        "checks[1]: unknown check 'priorty' (did you mean 'priority'?); "
        "valid checks: idempotency, lifecycle, no_loss, priority, retry_spread",
    ),
    ("duplicate_check.yaml", "checks[2]: duplicate check 'no_loss'"),
    (
        "queues_mixed.yaml",
        "system.queues[1]: mixes plain queue names with [name, weight] pairs; "
        "use one form for every queue",
    ),
    ("queues_weight_zero.yaml", "system.queues[1][1]: must be at least 1, got 0"),
    ("queues_weight_float.yaml", "system.queues[0][1]: expected an integer, got 2.5"),
    ("queues_duplicate.yaml", "system.queues[2]: duplicate queue 'critical'"),
    ("queues_pair_length.yaml", "system.queues[0]: expected [name, weight], got a list of 3 items"),
    ("bool_for_int.yaml", "system.processes: expected an integer, got true"),
    (
        "two_arrivals.yaml",
        "workload[0]: conflicting arrivals 'count' and 'rate': "
        "expected exactly one of 'count', 'rate', 'burst' or 'fanout'",
    ),
    (
        "no_arrival.yaml",
        "workload[0]: missing arrival: "
        "expected exactly one of 'count', 'rate', 'burst' or 'fanout'",
    ),
    (
        "timing_wrong_kind.yaml",
        "workload[0].end: cannot be used with 'count', which takes 'start' and 'spread'",
    ),
    (
        "start_after_duration.yaml",
        "workload[0].at: must be before the end of arrivals (duration 1h), got '2h'",
    ),
    (
        "spread_past_duration.yaml",
        "workload[0].spread: start + spread (1h10m) runs past the scenario's duration (1h)",
    ),
    ("rate_end_before_start.yaml", "workload[0].end: must be after start (30m), got '10m'"),
    ("jitter_out_of_range.yaml", "workload[0].jitter: must be less than 1, got 1"),
    (
        "bad_retry.yaml",
        "workload[0].retry: expected true, false or a non-negative integer, got -1",
    ),
    (
        "args_date.yaml",
        "workload[0].args.since: expected a JSON value (null, boolean, number, string, list or "
        "mapping), got a date (2024-01-31)",
    ),
    (
        "queue_not_declared.yaml",
        "workload[0].queue: queue 'low' is not in system.queues (critical, default)",
    ),
    ("expect_without_bounds.yaml", "expect[0]: expected 'min', 'max' (or both) or 'equals'"),
    ("expect_equals_and_max.yaml", "expect[0]: 'equals' cannot be combined with 'min' or 'max'"),
    ("expect_min_above_max.yaml", "expect[0].max: must not be less than min (5), got 1"),
    ("fault_missing_start.yaml", "faults[0]: missing required key 'start'"),
    ("empty_workload.yaml", "workload: must not be empty"),
    (
        "unknown_distribution.yaml",
        "world.services.payment_api.latency.dist: unknown distribution 'gaussian'; "
        "valid distributions: exponential, fixed, lognormal, normal, uniform",
    ),
    ("fetch_choice.yaml", "system.fetch: expected one of 'basic', 'reliable', got 'super'"),
    (
        "latency_bound_unknown_queue.yaml",
        "latency_bounds.critical: queue 'critical' is not in system.queues (default)",
    ),
    (
        "variant_unknown_key.yaml",
        "variants.single_fifo.sytem: unknown key 'sytem' (did you mean 'system'?); valid keys: "
        "checks, description, drain, duration, expect, faults, jobs, latency_bounds, "
        "order, plugins, reproduces, route_all_to, scale, seed, story, system, workload, world",
    ),
    (
        "variant_renames.yaml",
        "variants.other.name: unknown key 'name'; valid keys: checks, description, drain, "
        "duration, expect, faults, jobs, latency_bounds, order, plugins, reproduces, "
        "route_all_to, scale, "
        "seed, story, system, workload, world",
    ),
    ("variant_bad_value.yaml", "variants.slow.system.concurrency: must be at least 1, got 0"),
    (
        "variant_partial_mapping.yaml",
        "variants.new_service.world.services.email_api.latency: missing required key 'dist'",
    ),
    (
        "variant_merged_mapping.yaml",
        "world.services.payment_api.latency: in variant 'normal': missing required key 'sd'",
    ),
    (
        "variant_breaks_base.yaml",
        "workload[0].queue: in variant 'single_fifo': "
        "queue 'critical' is not in system.queues (default)",
    ),
    ("pool_timeout_zero.yaml", "world.pools.db.checkout_timeout: must be positive, got '0s'"),
    (
        "pool_not_a_size.yaml",
        "world.pools.db: expected a pool size (integer >= 1) or a mapping with 'size' and "
        "'checkout_timeout', got 'ten'",
    ),
    ("pool_missing_size.yaml", "world.pools.db: missing required key 'size'"),
    (
        "pool_unknown_key.yaml",
        "world.pools.db.wait_timeout: unknown key 'wait_timeout' (did you mean "
        "'checkout_timeout'?); valid keys: checkout_timeout, size",
    ),
    ("export_error_rate_range.yaml",
     "world.export: error_rate: expected a number in [0, 1], got 1.5"),
    ("scale_unknown_key.yaml",
     "scale.processes: unknown key 'processes'; valid keys: threads"),
]


# Files whose one mistake also leaves something required missing: both are reported.
EXTRA_PROBLEMS = {"unknown_top_key.yaml": 2}


@pytest.mark.parametrize(("filename", "message"), BAD_FILES)
def test_bad_file_gives_one_exact_message(filename: str, message: str) -> None:
    path = BAD / filename
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, **KNOWN)
    lines = str(info.value).splitlines()
    assert len(lines) == len(info.value.problems) == EXTRA_PROBLEMS.get(filename, 1)
    pattern = rf"{re.escape(str(path))}(:\d+:\d+)?: {re.escape(message)}"
    assert any(re.fullmatch(pattern, line) for line in lines), lines
    assert info.value.file == str(path)


def test_every_bad_fixture_is_covered() -> None:
    assert sorted(p.name for p in BAD.glob("*.yaml")) == sorted(name for name, _ in BAD_FILES)


def test_only_the_safe_loader_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    loaders: list[Any] = []
    real_load, real_compose = yaml.load, yaml.compose

    def spy_load(stream: Any, Loader: Any) -> Any:
        loaders.append(Loader)
        return real_load(stream, Loader)

    def spy_compose(stream: Any, Loader: Any) -> Any:
        loaders.append(Loader)
        return real_compose(stream, Loader)

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("unsafe YAML loader called")

    monkeypatch.setattr(yaml, "load", spy_load)
    monkeypatch.setattr(yaml, "compose", spy_compose)
    monkeypatch.setattr(yaml, "unsafe_load", forbidden)
    monkeypatch.setattr(yaml, "full_load", forbidden)
    with pytest.raises(ScenarioError, match="unsupported tag"):
        load_scenario(BAD / "python_tag.yaml", **KNOWN)
    (tmp_path / "good.yaml").write_text(FULL)
    assert load_scenario(tmp_path / "good.yaml", **KNOWN).name == "black_friday"
    assert loaders and set(loaders) == {yaml.SafeLoader}


def test_bare_name_lookup(tmp_path: Path) -> None:
    (tmp_path / "black_friday.yaml").write_text(FULL)
    (tmp_path / "broken.yaml").write_text("- not a mapping\n")
    scenario = load_scenario("black_friday", search_dir=tmp_path, **KNOWN)
    assert scenario.file == str(tmp_path / "black_friday.yaml")
    with pytest.raises(ScenarioError) as info:
        load_scenario("black_fridya", search_dir=tmp_path, **KNOWN)
    assert str(info.value) == (
        f"{tmp_path}/: unknown scenario 'black_fridya' (did you mean 'black_friday'?); "
        "valid scenarios: black_friday, broken"
    )


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "nope.yaml", **KNOWN)
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: file not found"


def test_list_scenarios(tmp_path: Path) -> None:
    (tmp_path / "black_friday.yaml").write_text(FULL)
    (tmp_path / "broken.yaml").write_text("- not a mapping\n")
    (tmp_path / "notes.txt").write_text("ignored")
    assert list_scenarios(tmp_path) == [
        ("black_friday", "Payment jobs must skip ahead of 80,000 analytics jobs at the sale peak."),
        ("broken", "(invalid: expected a mapping at the top level, got a list)"),
    ]


def test_load_document_without_a_file() -> None:
    raw = {"description": "d", "duration": "1m", "workload": [{"job": "SyntheticJob"}]}
    with pytest.raises(ScenarioError) as info:
        load_document(raw, **KNOWN)
    assert str(info.value) == (
        "workload[0]: missing arrival: expected exactly one of 'count', 'rate', 'burst' or 'fanout'"
    )
    raw["workload"] = [{"job": "SyntheticJob", "count": 3}]
    assert load_document(raw, stem="inline", **KNOWN).name == "inline"


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("seed: -1", "seed: must not be negative, got -1"),
        ("seed: 1.5", "seed: expected an integer, got 1.5"),
        ("name: black friday", "name: expected a name of letters, digits, '_', '.', ':' or '-'"),
        ("name: '  '", "name: must not be empty"),
        ("route_all_to: low", "route_all_to: queue 'low' is not in system.queues (default)"),
        ("system: []", "system: expected a mapping, got a list"),
        ("world: {pools: {db: 0}}", "world.pools.db: must be at least 1, got 0"),
        ("world: {database: {replicas: -1}}", "world.database.replicas: must not be negative"),
        (
            "system: {safeguards: {idempotency: {guard: maybe}}}",
            "system.safeguards.idempotency.guard: expected one of 'none'",
        ),
        (
            "system: {safeguards: {dependencies: {enabled: 1}}}",
            "system.safeguards.dependencies.enabled: expected true or false, got 1",
        ),
        (
            "system: {death_handlers: [a, a]}",
            "system.death_handlers[1]: duplicate death handler 'a'",
        ),
        ("expect: [{metric: 'jobs lost', max: 1}]", "expect[0].metric: expected a dotted metric"),
        ("faults: [{type: crash, start: 2m}]", "faults[0].start: must be before the horizon"),
        ("faults: [{type: crash, start: 1s, when: 2024-01-01}]", "faults[0].when: expected a JSON"),
        ("1: x", "keys must be strings, got 1"),
    ],
)
def test_more_field_errors(tmp_path: Path, snippet: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        f"description: d\nduration: 1m\n{snippet}\nworkload: [{{job: SyntheticJob, count: 1}}]\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, **KNOWN)
    assert re.match(rf"{re.escape(str(path))}:3:\d+: {re.escape(message)}", str(info.value))


def test_docs_example_is_valid(tmp_path: Path) -> None:
    docs = Path(__file__).parents[3] / "docs" / "scenarios.md"
    example = docs.read_text().split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "black_friday.yaml"
    path.write_text(example)
    scenario = load_scenario(path, **KNOWN)
    assert scenario.system.queue_mode == "weighted"
    fifo = scenario.with_variant("single_fifo")
    assert fifo.latency_bounds == {"default": 5.0}
    assert fifo.expect == (Expectation("queues.default.latency_p99_s", max=5.0),)


@pytest.mark.parametrize(("system", "rule"), [
    ("{safeguards: {dependencies: {}}}", "cancel"),
    ("{flavor: rq, safeguards: {dependencies: {}}}", "hold"),          # RQ's own rule
    ("{flavor: celery, safeguards: {dependencies: {}}}", "cancel"),
    ("{flavor: rq, safeguards: {dependencies: {on_failure: cancel}}}", "cancel"),
])
def test_dependency_failure_rule_defaults_to_the_job_systems(tmp_path: Path, system: str,
                                                              rule: str) -> None:
    path = tmp_path / "deps.yaml"
    path.write_text(f"description: d\nduration: 1m\nsystem: {system}\n"
                    "workload: [{job: SyntheticJob, count: 1}]\n")
    scenario = load_scenario(path, **KNOWN)
    assert scenario.system.safeguards["dependencies"]["on_failure"] == rule
    assert scenario.config()["safeguards"]["dependencies"]["on_failure"] == rule


def test_an_unknown_dependency_failure_rule_names_the_choices(tmp_path: Path) -> None:
    path = tmp_path / "deps.yaml"
    path.write_text("description: d\nduration: 1m\n"
                    "system: {safeguards: {dependencies: {on_failure: retry}}}\n"
                    "workload: [{job: SyntheticJob, count: 1}]\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path, **KNOWN)
    text = str(err.value)
    assert "on_failure" in text and "cancel" in text and "hold" in text and ":3" in text


@pytest.mark.parametrize(("text", "position", "char"), [
    ("name: x\ndescription: bell\x07 here\n", "2:18", "#x0007"),
    ("\x1fname: x\n", "1:1", "#x001f"),
])
def test_a_character_yaml_refuses_is_one_line_at_its_place(
        tmp_path: Path, text: str, position: str, char: str) -> None:
    """PyYAML's own message for it spans three lines and names no line."""
    path = tmp_path / "control.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path, **KNOWN)
    assert str(err.value) == (f"{path}:{position}: invalid YAML: unacceptable character "
                              f"{char}: special characters are not allowed")
