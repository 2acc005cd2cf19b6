"""Declared jobs end to end: the issue's webhook example, and fidelity to Python jobs.

Fidelity is shown two ways. Four of the shop's jobs, declared with the same names and
steps, give the same history as their Python versions, event for event, once the args
entry events carry are spelled alike (a declared job's args are one object, a Python
job's a list): nothing in the step interpreter adds, drops or reorders anything. And a
Python DeliverWebhook written by hand, with the same args, gives the same digest.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from jobsim.checks.registry import NAMES as CHECK_NAMES
from jobsim.cli import main
from jobsim.scenario import load_document
from jobsim.scenario.build import FAULT_NAMES
from jobsim.scenario.jobs import base_library
from jobsim.scenario.runner import Result, run_scenario
from jobsim.system.job import Job, Work
from jobsim.world.database import UniqueViolation

EXAMPLE = Path(__file__).parents[2] / "examples" / "webhooks.yaml"


def load(raw: dict[str, Any], jobs: tuple[type[Job], ...] = ()) -> Any:
    return load_document(copy.deepcopy(raw), known_jobs=base_library(jobs),
                         known_faults=FAULT_NAMES, known_checks=CHECK_NAMES)


@pytest.fixture(scope="module")
def webhooks() -> dict[str | None, Result]:
    return {v: run_scenario(EXAMPLE, variant=v) for v in (None, "claim_first", "call_only")}


def duplicates(result: Result) -> int:
    return result.metrics["checks"]["idempotency"]["violations"]


def test_the_example_runs_from_the_command_line_and_fails_idempotency(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["simulate", str(EXAMPLE), "--quiet", "--out",
                                       str(tmp_path)])
    assert result.exit_code == 1, result.stderr       # a check failed, nothing else
    assert (tmp_path / "metrics.json").is_file()


def test_the_existence_check_races_a_copy_delivered_twice(webhooks: dict[Any, Result]
                                                          ) -> None:
    base = webhooks[None]
    assert duplicates(base) > 50
    assert base.metrics["checks"]["no_loss"]["ok"]
    raced = list(racing_pairs(base))
    # both copies started (and so read) before the first one's call returned and inserted
    assert len(raced) > 50


def racing_pairs(result: Result) -> Iterator[str]:
    starts: dict[str, list[float]] = {}
    first_effect: dict[str, tuple[float, str]] = {}
    repeated: set[str] = set()
    for ev in result.history.events:
        if ev[1] == "start":
            starts.setdefault(ev[2], []).append(ev[0])
        elif ev[1] == "effect" and ev[4] == "webhooks":
            if ev[3] in first_effect:
                repeated.add(ev[3])
            else:
                first_effect[ev[3]] = (ev[0], ev[2])
    for key in repeated:
        t, jid = first_effect[key]
        if sum(1 for s in starts[jid] if s <= t) >= 2:
            yield key


def test_claiming_first_passes_and_calling_alone_finds_more(webhooks: dict[Any, Result]
                                                            ) -> None:
    assert webhooks["claim_first"].metrics["checks"]["idempotency"]["ok"]
    assert duplicates(webhooks["claim_first"]) == 0
    assert duplicates(webhooks["call_only"]) > duplicates(webhooks[None])


class PyDeliverWebhook(Job):
    """The example's job in Python: read, call, insert (on_conflict: stop)."""

    abstract = True              # registered by name only while the test runs it
    retry = 5
    backoff = "exponential:jitter=full,base=1,cap=600"
    arrival_index = "entry"

    @classmethod
    def make_args(cls, index: int, params: dict[str, Any]) -> list[Any]:
        return [{"event_id": f"evt-{index}"}]

    def perform(self, args: dict[str, Any]) -> Work:
        db, key = self.world.db, args["event_id"]
        if db.exists("deliveries", {"event_id": key}):
            return
        yield from self.world.service("webhooks").call(self, "post", key=key, effect=True)
        try:
            db.insert(self, "deliveries", {"event_id": key}, effect=False)
        except UniqueViolation:
            return


def test_a_python_job_runs_the_same_way(webhooks: dict[Any, Result]) -> None:
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw.pop("variants")
    raw["name"] = "webhooks"
    spec = raw.pop("jobs")["DeliverWebhook"]
    assert spec["perform"][0]["read"]["exists"] == "stop"
    PyDeliverWebhook.__name__ = "DeliverWebhook"   # payloads carry the bare class name
    python = run_scenario(load(raw, jobs=(PyDeliverWebhook,)))
    assert python.metrics["history_digest"] == webhooks[None].metrics["history_digest"]


SHOP = {
    "description": "three shop jobs, Python or declared",
    "duration": "2m",
    "drain": "1m",
    "plugins": ["jobsim.shop"],    # its services; the Python versions of the jobs
    "system": {"processes": 2, "concurrency": 5, "fetch": "reliable",
               "queues": [["critical", 2], ["default", 1], ["low_priority", 1]],
               "safeguards": {"idempotency": {"guard": "primary"}}},
    "world": {"tables": {"notifications": {}, "fraud_checks": {}}},
    "workload": [
        {"job": "NotificationDeliveryJob", "fanout": 300, "spread": "1m",
         "args": {"campaign_id": 42}},
        {"job": "FraudCheckJob", "count": 100, "spread": "1m"},
        {"job": "InventoryReservationJob", "count": 100, "spread": "1m"},
        {"job": "AnalyticsJob", "rate": "5/s"},
    ],
    "faults": [
        {"type": "duplicate_delivery", "rate": 0.2, "start": "0s", "duration": "2m"},
        {"type": "worker_crash", "target": "p0", "restart_after": "5s", "start": "30s"},
        {"type": "service_errors", "target": "email", "rate": 0.2, "start": "10s",
         "duration": "20s"},
    ],
    "checks": ["idempotency", "no_loss", "lifecycle"],
}
ORDER = {"order_id": "{order_id}"}
DECLARED = {
    "NotificationDeliveryJob": {"perform": [
        {"read": {"table": "notifications",
                  "key": {"user_id": "{user_id}", "campaign_id": "{campaign_id}"}}},
        {"call": {"service": "email", "op": "send", "key": "email:{campaign_id}:{user_id}",
                  "effect": True, "once": True}},
        {"insert": {"table": "notifications",
                    "key": {"user_id": "{user_id}", "campaign_id": "{campaign_id}",
                            "status": "sent"}}},
    ]},
    "FraudCheckJob": {"queue": "critical", "perform": [
        {"call": {"service": "fraud", "op": "score"}},
        {"insert": {"table": "fraud_checks", "key": {**ORDER, "verdict": "ok"}}},
    ]},
    "InventoryReservationJob": {"queue": "critical", "perform": [
        {"call": {"service": "inventory", "op": "reserve", "key": "reserve:{order_id}",
                  "effect": True, "once": True}},
    ]},
    "AnalyticsJob": {"queue": "low_priority", "perform": [
        {"call": {"service": "analytics", "op": "track"}},
    ]},
}
DECLARED_ARGS = [{"user_id": "{n}", "campaign_id": 42}, {"order_id": "{n}"},
                 {"order_id": "{n}"}, {"event_id": "{n}"}]


ENTRY_EVENTS = ("enqueue", "schedule", "defer")       # their last field is the job's args


def positional(result: Result) -> list[tuple[Any, ...]]:
    """The history with a declared job's one args object spelled as a Python job's list
    (the values in declaration order, which is perform's parameter order here)."""
    out = []
    for ev in result.history.events:
        args = ev[-1] if ev[1] in ENTRY_EVENTS else None
        if isinstance(args, list) and len(args) == 1 and isinstance(args[0], dict):
            ev = (*ev[:-1], list(args[0].values()))
        out.append(ev)
    return out


def declared_shop(jobs: dict[str, Any]) -> dict[str, Any]:
    declared = copy.deepcopy(SHOP)
    declared["jobs"] = copy.deepcopy(jobs)
    for entry, args in zip(declared["workload"], DECLARED_ARGS, strict=True):
        entry["args"] = args
    return declared


def test_four_shop_jobs_declared_give_the_python_history() -> None:
    python, steps = run_scenario(load(SHOP)), run_scenario(load(declared_shop(DECLARED)))
    assert python.metrics["effects"]["duplicates"] > 0          # the race is exercised
    assert python.metrics["checks"] == steps.metrics["checks"]
    assert python.metrics["effects"] == steps.metrics["effects"]
    assert positional(python) == positional(steps)


def test_a_changed_step_changes_the_history() -> None:
    """The control: the histories above are equal because the jobs are, not by accident."""
    changed = copy.deepcopy(DECLARED)
    changed["NotificationDeliveryJob"]["perform"].pop(0)     # drop the read
    python, steps = run_scenario(load(SHOP)), run_scenario(load(declared_shop(changed)))
    assert positional(python) != positional(steps)
    assert steps.metrics["effects"]["duplicates"] > python.metrics["effects"]["duplicates"]


PY_JOB = '''
from typing import Any

from jobsim import Job
from jobsim.world.database import UniqueViolation


class DeliverWebhook(Job):
    """The example's job in Python: read, call, insert (on_conflict: stop)."""

    retry = 5
    backoff = "exponential:jitter=full,base=1,cap=600"
    arrival_index = "entry"

    @classmethod
    def make_args(cls, index, params):
        return [{"event_id": params["event_id"].format(n=index)}]

    def perform(self, args):
        db, key = self.world.db, args["event_id"]
        if db.exists("deliveries", {"event_id": key}):
            return
        yield from self.world.service("webhooks").call(self, "post", key=key, effect=True)
        try:
            db.insert(self, "deliveries", {"event_id": key}, effect=False)
        except UniqueViolation:
            return
'''


def test_a_python_job_loaded_with_import_runs_the_same_way(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhooks: dict[Any, Result]) -> None:
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw.pop("variants")
    raw.pop("jobs")
    raw["name"] = "webhooks"
    (tmp_path / "webhook_jobs.py").write_text(PY_JOB)
    (tmp_path / "webhooks.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["simulate", "webhooks.yaml", "--import", "webhook_jobs",
                                       "--quiet", "--out", "out"])
    assert result.exit_code == 1, result.stderr          # idempotency fails, as declared
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["history_digest"] == webhooks[None].metrics["history_digest"]
