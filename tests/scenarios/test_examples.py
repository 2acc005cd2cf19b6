"""The example files docs/modelling.md walks through: each run tells the story told there.

outbox.yaml: the check-then-call jobs send duplicates (idempotency fails); claiming first
stops the duplicates but loses the sends whose call failed (the effects.total bound
fails); claiming and giving the claim back on failure holds both. exports.yaml: a Sidekiq
7 capsule keeps a burst of minute-long exports off the checkout threads; in one queue
list they take every idle thread and charges wait. Every example loads,
and `jobsim list examples` shows each one's jobs and variants in 80 columns.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobsim.cli import main
from jobsim.scenario.runner import Result, load, run_scenario

EXAMPLES = Path(__file__).parents[2] / "examples"
OUTBOX = EXAMPLES / "outbox.yaml"


@pytest.fixture(scope="module")
def outbox() -> dict[str | None, Result]:
    variants = (None, "claim_first", "claimed", "claimed_with_crashes")
    return {v: run_scenario(OUTBOX, variant=v) for v in variants}


def failed_expectations(result: Result) -> list[str]:
    return [e["metric"] for e in result.metrics["expectations"] if not e["ok"]]


def test_every_example_loads() -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert len(files) >= 2
    for path in files:
        assert load(path).description


def test_check_then_call_sends_duplicates(outbox: dict[str | None, Result]) -> None:
    base = outbox[None]
    idem = base.metrics["checks"]["idempotency"]
    assert not idem["ok"]
    assert set(idem["stats"]["by_service"]) == {"endpoints", "mail_api"}
    assert failed_expectations(base) == ["effects.duplicates"]


def test_claiming_first_stops_duplicates_but_loses_failed_sends(
        outbox: dict[str | None, Result]) -> None:
    claim = outbox["claim_first"]
    assert claim.metrics["checks"]["idempotency"]["ok"]
    assert claim.metrics["effects"]["total"] < 4500
    assert failed_expectations(claim) == ["effects.total"]


def test_giving_the_claim_back_holds_both(outbox: dict[str | None, Result]) -> None:
    claimed = outbox["claimed"]
    assert claimed.ok
    assert claimed.metrics["effects"] == {"total": 4500, "duplicates": 0}


def test_a_kill_during_the_call_keeps_the_claim(outbox: dict[str | None, Result]) -> None:
    crashed = outbox["claimed_with_crashes"]
    assert any(e[1] == "crash" for e in crashed.history.events)
    assert crashed.metrics["effects"]["duplicates"] == 0
    assert 0 < 4500 - crashed.metrics["effects"]["total"] < 20
    assert failed_expectations(crashed) == ["effects.total"]


def test_outbox_reads_its_sidekiq_yml() -> None:
    system = load(OUTBOX).system
    assert (system.concurrency, system.shutdown_timeout, system.max_retries) == (10, 8.0, 5)
    assert system.queues == (("webhooks", 3), ("mailers", 1))
    assert system.processes == 2                       # the scenario's own key


def test_simulate_warns_about_the_keys_it_ignores(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["simulate", str(OUTBOX), "--variant", "claimed",
                                       "--quiet", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warned) == 2
    assert "':pidfile'" in warned[0] and "':logfile'" in warned[1]
    assert json.loads((tmp_path / "claimed" / "metrics.json").read_text())["variant"] == \
        "claimed"


EXPORTS = EXAMPLES / "exports.yaml"


def test_the_exports_capsule_keeps_checkout_waiting_under_its_bound() -> None:
    base = run_scenario(EXPORTS)
    assert base.ok, failed_expectations(base)
    queues = base.metrics["queues"]
    assert queues["critical"]["latency_max_s"] < 10
    assert queues["exports"]["fetched"] == 60          # every export still ran
    assert {ev[4] for ev in base.history.events if ev[1] == "start"
            and ev[3] == "exports"} == {"p0", "p1"}      # one capsule thread per process


def test_in_one_queue_list_the_exports_hold_up_checkout() -> None:
    """Negative control: the same load without the capsule breaks the bound."""
    one_pool = run_scenario(EXPORTS, variant="one_pool")
    assert one_pool.verdict == "REPRODUCED"
    assert one_pool.metrics["queues"]["critical"]["latency_max_s"] > 10
    assert not one_pool.checks["priority"].ok
    assert one_pool.checks["priority"].stats["latency_violations"] > 0
    assert load(EXPORTS, variant="one_pool").system.capsules == ()


def test_list_shows_jobs_and_variants_in_80_columns() -> None:
    result = CliRunner().invoke(main, ["list", str(EXAMPLES)])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "jobs: DeliverWebhook, SendWelcomeEmail" in result.stdout
    assert "variants: claim_first, claimed, claimed_with_crashes" in result.stdout


def test_list_names_a_broken_file_and_goes_on(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("description: x\nduration: 1m\nworkload: []\n")
    (tmp_path / "fine.yaml").write_text(
        "description: Fine. More.\nduration: 1m\nworkload: [{job: NoopJob, count: 1}]\n")
    result = CliRunner().invoke(main, ["list", str(tmp_path)])
    assert result.exit_code == 0
    assert "invalid: must not be empty" in result.stdout
    assert "fine                 Fine.\n                     jobs: NoopJob" in result.stdout
    missing = CliRunner().invoke(main, ["list", str(tmp_path / "nope")])
    assert missing.exit_code == 2
