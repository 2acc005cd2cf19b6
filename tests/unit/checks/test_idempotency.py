"""idempotency: once-only effect keys appear at most once."""

from __future__ import annotations

from jobsim.checks.idempotency import check
from jobsim.history.history import History


def effect(t: float, jid: str, key: str, service: str = "email", once: bool = True) -> tuple:
    return (t, "effect", jid, key, service, once)


def test_unique_keys_and_repeatable_effects_hold() -> None:
    history = History([
        effect(1, "a", "email:1"), effect(2, "b", "email:2"),
        effect(3, "c", "log:1", "db", once=False), effect(4, "c", "log:1", "db", once=False),
    ])
    result = check(history)
    assert result.ok
    assert result.stats["effects"] == 4
    assert result.stats["once_keys"] == 2


def test_repeated_once_keys_are_counted_per_extra_occurrence() -> None:
    history = History([
        effect(1, "a", "email:1"), effect(2, "a", "email:1"), effect(5, "b", "email:1"),
        effect(3, "p", "pay:9", "payment"), effect(4, "p", "pay:9", "payment"),
        effect(6, "q", "pay:10", "payment"),
    ])
    result = check(history)
    assert result.violations == 3
    assert result.stats["duplicate_keys"] == 2
    assert result.stats["by_service"] == {"email": 2, "payment": 1}
    first = next(e for e in result.examples if e["key"] == "email:1")
    assert first["jids"] == ["a", "a", "b"]
    assert first["times"] == [1, 2, 5]


def test_once_false_occurrence_does_not_count_against_a_once_key() -> None:
    history = History([
        effect(1, "a", "k", once=False), effect(2, "a", "k"), effect(3, "b", "k", once=False),
    ])
    assert check(history).ok
