"""The pytest plugin as a user meets it: fixtures, a user's own Job class run under a fault
schedule, and the message (and saved file) a failing run produces."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given

from jobsim import Job
from jobsim import strategies as js
from jobsim.broker.base import Broker
from jobsim.cli import main
from jobsim.pytest_plugin import ScenarioCheckFailed, run_scenario_and_assert
from jobsim.scenario.runner import Result
from jobsim.sim.simulation import Simulation
from jobsim.system.system import JobSystem
from jobsim.world.database import UniqueViolation

from ._support import budget


class SendReceipt(Job):
    """A user's job: claim the order's row first, so a second copy sends nothing."""

    services = ("email",)
    tables = ("receipts",)

    def perform(self, order_id: int) -> Any:
        try:
            self.world.db.insert(self, "receipts", {"id": order_id}, effect=False)
        except UniqueViolation:
            return
        yield from self.world.service("email").call(
            self, "send", key=f"receipt:{order_id}", effect=True, once=True)


class SendReceiptNaively(Job):
    """The same job without the claim: a duplicate delivery sends a second receipt."""

    def perform(self, order_id: int) -> Any:
        yield from self.world.service("email").call(
            self, "send", key=f"receipt:{order_id}", effect=True, once=True)


WORLD = {"services": {"email": {"latency": {"dist": "lognormal", "mean": "150ms", "sd": "60ms"}}},
         "tables": {"receipts": {"unique": ["id"]}}}
JOBS = [SendReceipt, SendReceiptNaively]


@pytest.fixture
def jobsim_world_config() -> dict[str, Any]:
    """The world the fixtures build for these jobs: an email API and a receipts table."""
    return {"services": {"email": {"latency": 0.15}}, "tables": {"receipts": ["id"]}}


def receipts(job: str, faults: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "description": f"{job} under duplicate deliveries and crashes",
        "duration": "1m",
        "system": {"processes": 2, "concurrency": 5, "fetch": "reliable"},
        "world": WORLD,
        "workload": [{"job": job, "count": 100, "spread": "30s"}],
        "faults": faults,
        "checks": ["idempotency", "no_loss"],
    }


CHAOS = [{"type": "duplicate_delivery", "rate": 0.3, "start": "0s", "duration": "1m"},
         {"type": "worker_crash", "target": "p0", "restart_after": "5s", "start": "10s"}]


def test_fixtures_run_a_job_system(jobsim_sim: Simulation, jobsim_system: JobSystem) -> None:
    jobsim_system.start()
    jobsim_system.client.perform_async(SendReceipt, 7)
    jobsim_sim.run(until=30)
    kinds = [ev[1] for ev in jobsim_sim.history.events if ev[2] is not None]
    assert kinds[:3] == ["enqueue", "start", "effect"] and kinds[-1] == "success"


@pytest.mark.parametrize("jobsim_broker", ["memory", "fakeredis"], indirect=True)
def test_broker_fixture_is_parametrizable(jobsim_broker: Broker) -> None:
    jobsim_broker.push("default", {"jid": "a", "class": "SendReceipt", "args": []})
    assert [p["jid"] for p in jobsim_broker.queue_items("default")] == ["a"]


def test_a_guarded_user_job_sends_each_receipt_once(jobsim_run: Callable[..., Result]) -> None:
    result = jobsim_run(receipts("SendReceipt", CHAOS), jobs=JOBS)
    assert result.checks["no_loss"].stats["duplicated"] > 0      # the faults did bite


def test_a_failing_run_names_the_check_and_the_replay(tmp_path: Path) -> None:
    with pytest.raises(ScenarioCheckFailed) as failed:
        run_scenario_and_assert(receipts("SendReceiptNaively", CHAOS), name="naive",
                                failing_dir=tmp_path, jobs=JOBS)
    message = str(failed.value)
    saved = tmp_path / "naive.yaml"
    assert "broke idempotency" in message and "receipt:" in message
    assert "duplicate_delivery at 0s for 60s" in message
    here = Path(__file__).resolve()
    # absolute paths, and an --import of the file that defines the test's jobs
    assert message.endswith(f"replay: jobsim simulate {saved.resolve()} --seed 0 "
                            f"--import {here}")
    assert yaml.safe_load(saved.read_text())["faults"][0]["type"] == "duplicate_delivery"


def test_a_declared_job_replays_from_the_shell_as_printed(tmp_path: Path) -> None:
    doc = receipts("Receipt", CHAOS)
    doc["jobs"] = {"Receipt": {"perform": [
        {"call": {"service": "email", "op": "send", "key": "receipt:{id}", "effect": True}}]}}
    doc["workload"][0]["args"] = {"id": "{n}"}
    with pytest.raises(ScenarioCheckFailed) as failed:
        run_scenario_and_assert(doc, name="declared", failing_dir=tmp_path)
    message = str(failed.value)
    command = message.split("replay: ")[1].splitlines()[0]
    assert "defined in the tests" not in message      # nothing to import: the file has it
    replay = CliRunner().invoke(main, [*command.split()[1:], "--quiet", "--out",
                                       str(tmp_path / "out")])
    assert command.startswith("jobsim simulate ") and replay.exit_code == 1, replay.stderr
    assert "FAIL" in replay.stdout


def test_a_saved_scenario_keeps_its_sidekiq_yml(tmp_path: Path, monkeypatch: Any) -> None:
    """A document's relative sidekiq_yml is read from the working directory; saved under
    the failing dir, it named a file there instead, and the replay exited 2."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "sidekiq.yml").write_text(":concurrency: 3\n")
    monkeypatch.chdir(tmp_path)
    doc = receipts("Receipt", CHAOS)
    doc["system"] = {**doc["system"], "sidekiq_yml": "config/sidekiq.yml"}
    doc["jobs"] = {"Receipt": {"perform": [
        {"call": {"service": "email", "op": "send", "key": "receipt:{id}", "effect": True}}]}}
    doc["workload"][0]["args"] = {"id": "{n}"}
    with pytest.raises(ScenarioCheckFailed) as failed:
        run_scenario_and_assert(doc, name="yml", failing_dir=tmp_path / "failing")
    command = str(failed.value).split("replay: ")[1].splitlines()[0]
    saved = yaml.safe_load((tmp_path / "failing" / "yml.yaml").read_text())
    assert saved["system"]["sidekiq_yml"] == str(tmp_path.resolve() / "config" / "sidekiq.yml")
    monkeypatch.chdir(tmp_path / "failing")                    # another folder
    replay = CliRunner().invoke(main, [*command.split()[1:], "--quiet", "--out",
                                       str(tmp_path / "out")])
    assert replay.exit_code == 1 and "FAIL" in replay.stdout, replay.stderr


@budget(5)
@given(js.fault_schedules(60, kinds=("duplicate_delivery", "worker_crash", "rolling_deploy"),
                          processes=2))
def test_a_guarded_user_job_under_generated_schedules(jobsim_run: Callable[..., Result],
                                                     faults: list[dict[str, Any]]) -> None:
    jobsim_run(receipts("SendReceipt", faults), jobs=JOBS)
