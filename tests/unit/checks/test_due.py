"""due: promotions and starts before a job's due time fail, within the declared skew."""

from __future__ import annotations

from jobsim.checks import due
from jobsim.history.history import History


def retry(t: float, jid: str, due_at: float) -> tuple:
    return (t, "retry", jid, 0, due_at - t, due_at, "sidekiq", 25)


def run(*events: tuple, **options: float) -> due.CheckResult:
    return due.check(History([(0, "config", None, {}), *events]), **options)


def test_on_time_passes_and_early_fails_once_per_job() -> None:
    ok = run(retry(0, "a", 30), (31, "promote", "a", "default", "retry"),
             (32, "start", "a", "default", "w", 2, 0))
    assert ok.ok and ok.stats["promotions_checked"] == 1 and ok.stats["starts_checked"] == 1
    early = run(retry(0, "a", 30), (25, "promote", "a", "default", "retry"),
                (26, "start", "a", "default", "w", 2, 0))
    assert early.violations == 1
    assert early.examples[0] == {"jid": "a", "t": 25, "what": "promote before due",
                                 "due": 30, "early_s": 5}


def test_scheduled_jobs_and_starts_without_promotion() -> None:
    sched = (0, "schedule", "s", "default", "Job", True, True, 60.0, [])
    assert run(sched, (10, "start", "s", "default", "w", 1, 0)).violations == 1
    assert run(sched, (10, "start", "s", "default", "w", 1, 1)).ok   # a dup copy


def test_declared_clock_skew_is_allowed() -> None:
    skew = (0, "fault_start", None, "clock_skew", "p0", {"skew": 10.0})
    events = (retry(0, "a", 30), (25, "promote", "a", "default", "retry"))
    assert run(skew, *events).ok
    assert not run(*events).ok
    assert run(*events, skew_s=6.0).ok
