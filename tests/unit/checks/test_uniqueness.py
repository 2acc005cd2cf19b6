"""uniqueness: overlapping holds of one digest and holds past their TTL are flagged."""

from __future__ import annotations

from jobsim.checks import uniqueness
from jobsim.history.history import History


def lock(t: float, jid: str, op: str, key: str = "d1") -> tuple:
    return (t, "lock", jid, key, op, jid)


def run(*events: tuple, ttl: float | None = None) -> uniqueness.CheckResult:
    cfg = {"safeguards": {"unique": {"ttl": ttl}}}
    return uniqueness.check(History([(0, "config", None, cfg), *events]))


def test_one_holder_at_a_time_passes() -> None:
    result = run(lock(1, "a", "acquire"), lock(2, "a", "release"), lock(3, "b", "acquire"),
                 lock(4, "b", "acquire"))                      # re-entrant: same holder
    assert result.ok and result.stats["acquires"] == 3


def test_an_acquire_while_held_is_an_overlap() -> None:
    result = run(lock(1, "a", "acquire"), lock(3, "b", "acquire"))
    assert result.violations == 1 and result.examples[0]["what"] == "lock taken while held"
    assert result.examples[0]["holder"] == "a" and result.examples[0]["key"] == "d1"


def test_an_expiry_before_the_ttl_hides_an_overlap() -> None:
    """What a lock that always succeeds records: the old holder 'expires' as B takes it."""
    events = (lock(1, "a", "acquire"), lock(3, "a", "expire"), lock(3, "b", "acquire"))
    assert run(*events, ttl=10).stats["overlaps"] == 1
    assert run(*events, ttl=None).stats["overlaps"] == 1
    assert run(*events, ttl=2).ok                    # the TTL had run out: a legal takeover


def test_force_is_a_declared_takeover() -> None:
    assert run(lock(1, "a", "acquire"), lock(2, "b", "force")).ok


def test_holds_past_the_ttl() -> None:
    late_release = run(lock(1, "a", "acquire"), lock(20, "a", "release"), ttl=5)
    assert late_release.stats["past_ttl"] == 1
    conflict = (15, "unique_conflict", "b", "d1", "drop", "a")
    assert run(lock(1, "a", "acquire"), conflict, ttl=5).stats["past_ttl"] == 1
    assert run(lock(1, "a", "acquire"), conflict, ttl=50).ok
