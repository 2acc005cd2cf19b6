"""Every built-in scenario runs (at reduced scale) and its own checks and expectations
hold; a run is a pure function of scenario, seed and code, on every broker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from needs import need

from jobsim.scenario.runner import load, run_scenario, scenarios_dir

SCENARIOS = sorted(p.stem for p in (Path(__file__).parents[2] / "scenarios").glob("*.yaml"))
# Reduced scales that still tell each story; stories with thresholds at full scale are
# asserted at full scale in their own test modules.
SCALE = {"black_friday": 0.05}
DEFAULT_SCALE = 0.2


@pytest.mark.parametrize("name", SCENARIOS)
def test_builtin_scenario_holds_at_reduced_scale(name: str) -> None:
    result = run_scenario(name, scale=SCALE.get(name, DEFAULT_SCALE))
    verdicts = _expected_verdicts(result.metrics["expectations"])
    failing = {k: (c.violations, c.examples[:2]) for k, c in result.checks.items()
               if c.ok is not verdicts.get(k, True)}
    assert not failing, f"{name}: {failing}"
    missed = [e for e in result.metrics["expectations"] if not e["ok"]]
    assert not missed, f"{name}: {missed}"
    assert result.metrics["jobs"]["enqueued"] > 0


def _expected_verdicts(rows: list[dict[str, object]]) -> dict[str, bool]:
    """Checks whose verdict the story states (``checks.NAME.ok equals ...``): a story
    that shows a failure, such as celery_visibility_timeout, expects its check to fail."""
    out = {}
    for row in rows:
        parts = str(row["metric"]).split(".")
        if len(parts) == 3 and parts[0] == "checks" and parts[2] == "ok" and row["op"] == "equals":
            out[parts[1]] = bool(row["value"])
    return out


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_variant_loads_and_says_what_it_changes(name: str) -> None:
    base = load(name)
    assert base.description.strip()
    for variant in base.variants.values():
        assert variant.description.strip() and variant.description != base.description


def test_same_scenario_and_seed_give_the_same_digest() -> None:
    first = run_scenario("black_friday", scale=0.02)
    second = run_scenario("black_friday", scale=0.02)
    assert first.metrics["history_digest"] == second.metrics["history_digest"]
    other = run_scenario("black_friday", scale=0.02, seed=43)
    assert other.metrics["history_digest"] != first.metrics["history_digest"]


# black_friday and celery_visibility_timeout cost a minute of CPU on fakeredis (celery's
# two-hour drain is polled on the broker), so they run in make test-slow; make test keeps
# the celery flavour's parity with the compressed story below.
@pytest.mark.parametrize("name", [
    pytest.param("black_friday", marks=pytest.mark.slow), "deploy_storm", "redis_failover",
    pytest.param("celery_visibility_timeout", marks=pytest.mark.slow), "rq_abandoned"])
def test_fakeredis_gives_the_memory_brokers_digest(name: str) -> None:
    scale = 0.05 if name == "black_friday" else 0.02
    memory = run_scenario(name, scale=scale, broker="memory")
    fake = run_scenario(name, scale=scale, broker="fakeredis")
    assert fake.metrics["history_digest"] == memory.metrics["history_digest"]


def test_fakeredis_gives_the_memory_brokers_digest_for_celery_redeliveries(
        tmp_path: Path) -> None:
    """celery_visibility_timeout in minutes instead of hours (a 2 min countdown, a 1 min
    visibility timeout, a 2 min drain): retries are still redelivered while held and
    emails still go out twice, and both brokers record the same history."""
    doc = yaml.safe_load((scenarios_dir() / "celery_visibility_timeout.yaml").read_text())
    doc["system"]["celery"].update(default_retry_delay="2m",
                                   broker_transport_options={"visibility_timeout": "1m"})
    doc["drain"] = "2m10s"
    doc.pop("variants")
    path = tmp_path / "celery_minutes.yaml"
    path.write_text(yaml.safe_dump(doc))
    memory = run_scenario(path, scale=0.02, broker="memory")
    fake = run_scenario(path, scale=0.02, broker="fakeredis")
    assert memory.metrics["effects"]["duplicates"] >= 1          # the story still happens
    assert fake.metrics["history_digest"] == memory.metrics["history_digest"]


@pytest.mark.redis
def test_a_real_redis_server_gives_the_memory_brokers_digest() -> None:
    url = os.environ.get("JOBSIM_REDIS_URL", "").strip()
    need(bool(url), "JOBSIM_REDIS_URL not set: start redis-server and export it (CI does)")
    memory = run_scenario("deploy_storm", scale=0.01, broker="memory")
    real = run_scenario("deploy_storm", scale=0.01, broker=url)
    assert real.metrics["history_digest"] == memory.metrics["history_digest"]


def test_route_all_to_also_routes_jobs_that_jobs_enqueue() -> None:
    # PaymentProcessingJob enqueues FulfillmentJob (class queue: critical); in the FIFO
    # variant nothing listens to critical, so unrouted follow-ups would wait forever.
    result = run_scenario("black_friday", variant="single_fifo", scale=0.02)
    assert set(result.metrics["queues"]) == {"default"}
    assert result.metrics["jobs"]["in_flight"] == 0
    fulfilments = [e for e in result.history.events
                   if e[1] == "enqueue" and e[4] == "FulfillmentJob"]
    assert fulfilments and all(e[3] == "default" for e in fulfilments)


def test_the_scenario_docs_list_every_fault_and_parameter() -> None:
    from jobsim.chaos.faults import FAULTS

    doc = (Path(__file__).parents[2] / "docs" / "scenarios.md").read_text()
    catalogue = doc.split("**The fault catalogue**", 1)[1].split("\n## ", 1)[0]
    for kind, cls in FAULTS.items():
        row = next((line for line in catalogue.splitlines()
                    if line.startswith(f"| `{kind}` |")), "")
        assert row, f"docs/scenarios.md has no catalogue row for fault {kind!r}"
        for param in cls.PARAMS:
            assert f"`{param}`" in row, f"{kind}: parameter {param!r} is not documented"
