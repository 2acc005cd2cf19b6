"""duplicate_emails: the seed's campaign under duplicate pushes, redelivery and crashes.

Duplicates are counted twice, independently: the metric (``effects.duplicates``) and a
replay of the history's email effects; both must agree, and the idempotency check's
violations must be the same number. Which safeguard stops which duplicate is checked
from who sent the second email (another jid, or the same jid again).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from jobsim.history.history import History
from jobsim.scenario.runner import Result, run_scenario

SCALE = 0.2                      # 2,400 recipients per run
VARIANTS = [None, "no_lock", "no_guard", "unguarded"]


@pytest.fixture(scope="module")
def runs() -> dict[str | None, Result]:
    return {v: run_scenario("duplicate_emails", variant=v, scale=SCALE) for v in VARIANTS}


def email_senders(history: History) -> dict[str, list[str]]:
    """email key -> the jids that sent it, in order."""
    senders: dict[str, list[str]] = {}
    for ev in history.events:
        if ev[1] == "effect" and ev[4] == "email":
            senders.setdefault(ev[3], []).append(ev[2])
    return senders


def duplicates(result: Result) -> int:
    """effects.duplicates, cross-checked against a replay and the idempotency check."""
    replayed = sum(len(jids) - 1 for jids in email_senders(result.history).values())
    metric = result.metrics["effects"]["duplicates"]
    assert metric == replayed == result.metrics["checks"]["idempotency"]["violations"]
    assert json.loads(json.dumps(result.metrics))["effects"]["duplicates"] == metric
    return metric


def recipients(result: Result) -> int:
    return result.scenario.workload[0].count or 0


@pytest.mark.parametrize("variant", [None, "no_lock"])
def test_the_constraint_lets_no_email_go_out_twice(runs: dict[str | None, Result],
                                                    variant: str | None) -> None:
    result = runs[variant]
    assert duplicates(result) == 0
    assert result.metrics["checks"]["idempotency"]["ok"]
    assert result.ok, [e for e in result.metrics["expectations"] if not e["ok"]]
    assert result.metrics["highlights"] == [["duplicate emails (guard=constraint)", 0]]


def test_the_lock_keeps_repushed_jobs_out_of_the_queue(runs: dict[str | None, Result]) -> None:
    locked, unlocked = runs[None], runs["no_lock"]
    assert locked.metrics["jobs"]["enqueued"] == recipients(locked)
    assert unlocked.metrics["jobs"]["enqueued"] > recipients(unlocked)
    dropped = [e for e in locked.history.events if e[1] == "unique_conflict"]
    assert dropped and all(e[4] == "drop" for e in dropped)
    assert locked.metrics["jobs"]["executions"] < unlocked.metrics["jobs"]["executions"]


@pytest.mark.parametrize("variant", ["no_guard", "unguarded"])
def test_switching_the_guard_off_sends_duplicates(runs: dict[str | None, Result],
                                                  variant: str) -> None:
    result = runs[variant]
    assert duplicates(result) > 0
    assert not result.metrics["checks"]["idempotency"]["ok"]
    assert all(e["ok"] for e in result.metrics["expectations"])
    assert result.metrics["highlights"][0] == ["duplicate emails (guard=none)",
                                               duplicates(result)]


def test_a_push_time_lock_cannot_stop_a_redelivered_copy(runs: dict[str | None, Result]
                                                         ) -> None:
    """With the lock, every second email comes from the same jid (a redelivered copy);
    without it, some come from a second job (a re-pushed one) as well."""
    def second_senders(result: Result) -> Counter[str]:
        return Counter("same jid" if jids[1] == jids[0] else "other jid"
                       for jids in email_senders(result.history).values() if len(jids) > 1)

    locked, unlocked = second_senders(runs["no_guard"]), second_senders(runs["unguarded"])
    assert locked["same jid"] > 0 and locked["other jid"] == 0
    assert unlocked["other jid"] > 0
    assert sum(unlocked.values()) > sum(locked.values())


def test_every_job_is_accounted_for_under_crashes(runs: dict[str | None, Result]) -> None:
    for variant, result in runs.items():
        failing = {k: c.violations for k, c in result.checks.items()
                   if k not in ("idempotency", "exactly_once") and not c.ok}
        assert failing == {}, variant
        assert any(e[1] == "crash" for e in result.history.events)


@pytest.mark.parametrize("variant", ["no_guard", "unguarded"])
def test_exactly_once_counts_the_duplicates_of_unguarded_sends(runs: dict[str | None, Result],
                                                               variant: str) -> None:
    stats = runs[variant].metrics["checks"]["exactly_once"]["stats"]
    assert stats["expected"] == recipients(runs[variant])
    twice = sum(len(jids) > 1 for jids in email_senders(runs[variant].history).values())
    assert stats["duplicated"] == twice > 0 and stats["missing"] == 0


def test_insert_before_send_is_at_most_once_under_crashes() -> None:
    """The constraint guard alone, with sends slow enough that crashes catch them in
    flight: the row is claimed, the process dies, and the retry finds the row and skips.
    exactly_once counts the recipients who never got the email; idempotency sees nothing."""
    doc = {
        "description": "constraint guard under frequent crashes", "duration": "2m",
        "drain": "2m", "plugins": ["jobsim.shop"],
        "system": {"processes": 2, "concurrency": 10, "fetch": "reliable",
                   "safeguards": {"idempotency": {"guard": "constraint"}}},
        "world": {"services": {"email": {"latency": {"dist": "fixed", "value": "2s"}}}},
        "workload": [{"job": "NotificationDeliveryJob", "fanout": 300, "spread": "1m",
                      "effect": "email:{1}:{0}"}],
        "faults": [{"type": "worker_crash", "target": "random", "every": "10s",
                    "restart_after": "2s", "start": "5s", "duration": "1m"}],
        "checks": ["no_loss", "idempotency", "exactly_once"],
    }
    from jobsim.pytest_plugin import _load

    result = run_scenario(_load(doc, doc))
    stats = result.checks["exactly_once"].stats
    assert stats["missing"] > 0 and stats["duplicated"] == 0
    assert result.checks["idempotency"].ok and result.checks["no_loss"].ok
    guarded = dict(doc, system={**doc["system"], "safeguards": {"idempotency": {"guard": "none"}}})
    unguarded = run_scenario(_load(guarded, guarded)).checks["exactly_once"].stats
    assert unguarded["missing"] == 0       # the control: without the claim, retries resend


@pytest.mark.slow
def test_full_campaign_safeguarded_against_unguarded() -> None:
    """The seed's scale: >= 12,000 recipients. Safeguarded: not one duplicate email."""
    safe = run_scenario("duplicate_emails")
    assert recipients(safe) >= 12_000
    assert duplicates(safe) == 0 and safe.ok
    bare = run_scenario("duplicate_emails", variant="unguarded")
    assert duplicates(bare) > 0.05 * recipients(bare)
    assert not bare.metrics["checks"]["idempotency"]["ok"]
