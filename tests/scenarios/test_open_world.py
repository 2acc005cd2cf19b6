"""A user's own system: declared services and tables, Python jobs brought in with
``--import`` or ``jobs:``, plug-ins, and every undeclared reference refused at load."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from jobsim.cli import main

JOBS_MODULE = '''
from jobsim.system.job import Job


class DeliverWebhook(Job):
    """Check, deliver, record: the existence check alone races (see the test)."""

    services = ("webhooks",)
    tables = ("deliveries",)

    @classmethod
    def make_args(cls, index, params):
        return [f"evt-{index}"]

    def perform(self, event_id):
        db = self.world.db
        if db.exists("deliveries", {"event_id": event_id}):
            return
        yield from self.world.service("webhooks").call(
            self, "post", key=event_id, effect=True, once=True)
        db.insert(self, "deliveries", {"event_id": event_id}, effect=False)
'''

SCENARIO: dict[str, Any] = {
    "description": "webhooks, delivered twice by a flaky broker",
    "duration": "2m", "drain": "1m",
    "system": {"processes": 2, "concurrency": 5, "fetch": "reliable"},
    "world": {"services": {"webhooks": {"latency": {"dist": "exponential", "mean": "200ms"}}},
              "tables": {"deliveries": {"unique": ["event_id"]}}},
    "workload": [{"job": "DeliverWebhook", "count": 300, "spread": "1m"}],
    "faults": [{"type": "duplicate_delivery", "rate": 0.3, "start": "0s", "duration": "1m"}],
    "checks": ["idempotency", "no_loss"],
}


def write(folder: Path, doc: dict[str, Any], name: str = "hooks.yaml") -> Path:
    (folder / "myapp_hooks.py").write_text(textwrap.dedent(JOBS_MODULE))
    path = folder / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def simulate(folder: Path, *args: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.chdir(folder)
    result = CliRunner().invoke(main, ["simulate", *args, "--quiet", "--out", "out"])
    return result.exit_code, result.stderr


def metrics(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "out" / "metrics.json").read_text())


def test_a_python_job_loaded_with_import_runs_and_its_race_is_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, SCENARIO)
    code, err = simulate(tmp_path, str(path), "--import", "myapp_hooks",
                         monkeypatch=monkeypatch)
    assert code == 1, err                        # the idempotency check fails: a real race
    m = metrics(tmp_path)
    assert m["checks"]["idempotency"]["ok"] is False and m["effects"]["duplicates"] > 0
    assert "orders" not in m                     # no shop metrics without the shop


def test_without_import_the_job_is_unknown(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = simulate(tmp_path, str(write(tmp_path, SCENARIO)), monkeypatch=monkeypatch)
    assert code == 2 and "workload[0].job: unknown job 'DeliverWebhook'" in err
    assert err.count("\n") == 1


def test_the_jobs_section_names_a_class_by_import_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = {**SCENARIO, "jobs": {"Deliver": "myapp_hooks:DeliverWebhook"},
           "workload": [{"job": "Deliver", "count": 50, "spread": "1m"}]}
    code, err = simulate(tmp_path, str(write(tmp_path, doc)), monkeypatch=monkeypatch)
    assert code in (0, 1), err
    assert metrics(tmp_path)["jobs"]["enqueued"] >= 50


@pytest.mark.parametrize(("change", "path", "needle"), [
    ({"world": {"services": {"webhook": {"latency": "1s"}}, "tables": {"deliveries": {}}}},
     "workload[0].job", "uses service 'webhooks'"),
    ({"world": {"services": {"webhooks": {"latency": "1s"}}}},
     "workload[0].job", "uses table 'deliveries'"),
    ({"faults": [{"type": "service_outage", "target": "webhook", "start": "1s"}]},
     "faults[0].target", "unknown service 'webhook' for 'service_outage' (did you mean "
     "'webhooks'?); valid: webhooks"),
    ({"jobs": {"Deliver": "myapp_hooks:NoSuchJob"}}, "jobs.Deliver", "has no 'NoSuchJob'"),
    ({"jobs": {"Deliver": ["myapp_hooks:DeliverWebhook"]}}, "jobs.Deliver",
     "or a \"module:Class\" string, got a list"),
    ({"plugins": ["no.such.plugin"]}, "plugins[0]", "cannot import plug-in"),
    ({"system": {"queues": ["other"]}}, "workload[0].job", "goes to queue 'default'"),
    ({"world": {"services": {"webhooks": {"latency": {"dist": "lognormal", "mean": 1,
                                                      "sigma": 0.5}}}}},
     "world.services.webhooks.latency.sigma", "(did you mean 'sd'?)"),
])
def test_undeclared_references_exit_2_naming_the_field(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, Any], path: str,
        needle: str) -> None:
    code, err = simulate(tmp_path, str(write(tmp_path, {**SCENARIO, **change})), "--import",
                         "myapp_hooks", monkeypatch=monkeypatch)
    assert code == 2, err
    assert f": {path}: " in err and needle in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_variant_with_an_undeclared_target_is_refused_at_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = {**SCENARIO, "variants": {"typo": {
        "faults": [{"type": "latency", "target": "webhookz", "extra": "1s", "start": "1s"}]}}}
    code, err = simulate(tmp_path, str(write(tmp_path, doc)), "--import", "myapp_hooks",
                         monkeypatch=monkeypatch)
    assert code == 2 and "variants.typo.faults[0].target" in err, err


def test_a_bad_import_is_one_line_exit_2(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = simulate(tmp_path, str(write(tmp_path, SCENARIO)), "--import", "nope_mod",
                         monkeypatch=monkeypatch)
    assert code == 2 and err.startswith("jobsim: --import: cannot import 'nope_mod'"), err


def test_shop_jobs_need_the_shop_plugin(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    doc = {"description": "d", "duration": "1m",
           "workload": [{"job": "AnalyticsJob", "count": 3, "queue": "default"}]}
    code, err = simulate(tmp_path, str(write(tmp_path, doc)), monkeypatch=monkeypatch)
    assert code == 2 and "unknown job 'AnalyticsJob'" in err
    code, err = simulate(tmp_path, str(write(tmp_path, {**doc, "plugins": ["jobsim.shop"]})),
                         monkeypatch=monkeypatch)
    assert code == 0, err
    assert metrics(tmp_path)["orders"]["fulfilled"] == 0      # the shop's metrics hook ran
