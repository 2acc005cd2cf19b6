"""exactly_once: every implied key has one effect; missing and repeated keys both fail."""

from __future__ import annotations

from jobsim.checks import exactly_once
from jobsim.history.history import History

CFG = {"effects": [{"job": "Mail", "key": "email:{1}:{0}"}]}


def run(*events: tuple, cfg: dict = CFG) -> exactly_once.CheckResult:
    return exactly_once.check(History([(0, "config", None, cfg), *events, (9, "horizon", None)]))


def push(jid: str, user: int, ack: bool = True) -> tuple:
    return (0, "enqueue", jid, "default", "Mail", True, ack, [user, 42])


def effect(t: float, jid: str, user: int) -> tuple:
    return (t, "effect", jid, f"email:42:{user}", "email", True)


def test_each_key_exactly_once_passes() -> None:
    result = run(push("a", 1), push("b", 2), effect(1, "a", 1), effect(2, "b", 2))
    assert result.ok and result.stats["expected"] == 2 and result.stats["exactly_once"] == 2


def test_missing_and_duplicated_are_counted_apart_with_typed_examples() -> None:
    result = run(push("a", 1), push("b", 2), push("c", 3),
                 effect(1, "a", 1), effect(2, "b", 2), effect(3, "b2", 2))
    assert result.violations == 2
    assert result.stats["missing"] == 1 and result.stats["duplicated"] == 1
    kinds = {e["what"]: e for e in result.examples}
    assert kinds["effect missing"]["key"] == "email:42:3"
    assert kinds["effect missing"]["jid"] == "c"
    assert kinds["effect repeated"] == {"jid": "b", "t": 3, "what": "effect repeated",
                                        "key": "email:42:2", "count": 2}


def test_a_repush_of_the_same_recipient_owes_one_effect() -> None:
    assert run(push("a", 1), push("a2", 1), effect(1, "a", 1)).ok


def test_unacknowledged_pushes_owe_an_effect_only_once_seen() -> None:
    assert run(push("a", 1, ack=False)).ok          # never seen again: the client knows
    result = run(push("a", 1, ack=False), (1, "start", "a", "default", "w", 1, 0))
    assert result.stats["missing"] == 1


def test_without_declared_effects_nothing_is_expected() -> None:
    result = run(push("a", 1), cfg={})
    assert result.ok and result.stats["expected"] == 0


def test_a_declared_jobs_key_names_a_field_of_its_args_object() -> None:
    """A declared job's args are one object: ``{event_id}`` is its field. Before, a
    name was refused and ``{0}`` rendered the whole object, so every delivered webhook
    was reported missing."""
    cfg = {"effects": [{"job": "Deliver", "key": "webhook:{event_id}"}]}

    def deliver(jid: str, event: str) -> tuple:
        return (0, "enqueue", jid, "default", "Deliver", True, True, [{"event_id": event}])

    def posted(t: float, event: str) -> tuple:
        return (t, "effect", "x", f"webhook:{event}", "endpoints", True)

    held = run(deliver("a", "e1"), deliver("b", "e2"), posted(1, "e1"), posted(2, "e2"),
               cfg=cfg)
    assert held.ok and held.stats["exactly_once"] == 2 and held.stats["unrendered"] == 0
    lost = run(deliver("a", "e1"), deliver("b", "e2"), posted(1, "e1"), cfg=cfg)
    assert not lost.ok and lost.examples[0]["key"] == "webhook:e2"        # negative control
