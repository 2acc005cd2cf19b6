"""uniqueness: overlapping holds of one digest and holds past their TTL are flagged."""

from __future__ import annotations

from jobsim.checks import uniqueness
from jobsim.history.history import History


def lock(t: float, jid: str, op: str, key: str = "d1", *ttl: float | None) -> tuple:
    """A lock event; ``ttl`` (at most one) is the hold's own, absent in older histories."""
    return (t, "lock", jid, key, op, jid, *ttl)


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


def test_each_hold_is_judged_by_the_ttl_its_lock_event_carries() -> None:
    """A class with its own 10 s TTL in a run whose default has none: the takeover at 15 s
    is legal; judged by the run's default (or an overriding option) it is an overlap."""
    own = (lock(0, "a", "acquire", "d1", 10.0), lock(15, "a", "expire", "d1", None),
           lock(15, "b", "acquire", "d1", 10.0))
    assert run(*own).ok
    unknown = tuple(ev[:-1] for ev in own)             # no TTL recorded: the run's default
    assert run(*unknown).stats["overlaps"] == 1
    assert run(*unknown, ttl=10).ok
    cfg = {"safeguards": {"unique": {"ttl": None}}}
    forced = uniqueness.check(History([(0, "config", None, cfg), *own]), ttl=100)
    assert forced.stats["overlaps"] == 1               # the option overrides every hold
    late = (lock(0, "a", "acquire", "d1", 5.0), lock(9, "a", "release", "d1", None))
    assert run(*late, ttl=3600).stats["past_ttl"] == 1  # its own TTL, not the default
