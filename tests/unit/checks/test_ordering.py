"""Ordering rules: patterns bind keys, and an 'after' event before its 'before' is flagged."""

from __future__ import annotations

import pytest

from jobsim.checks import dependencies
from jobsim.checks.pattern import PatternError, parse, rule, template
from jobsim.history.history import History

RULES = [{"before": "effect payment:{order}", "after": "start FulfillmentJob({order})"}]


def run(*events: tuple, rules: list[dict[str, str]] = RULES) -> dependencies.CheckResult:
    return dependencies.check(History([(0, "config", None, {"order": rules}), *events]))


def enqueue(t: float, jid: str, cls: str, *args: object) -> tuple:
    return (t, "enqueue", jid, "default", cls, True, True, list(args))


def test_template_binds_names_and_repeats_must_agree() -> None:
    assert template("email:{c}:{u}").match("email:42:7") == {"c": "42", "u": "7"}
    assert template("a:{x}:{x}").match("a:1:2") is None
    assert template("a:{x}:{x}").match("a:1:1") == {"x": "1"}
    assert template("payment:{o}").render({"o": "9"}) == "payment:9"


def test_job_pattern_binds_positional_args_as_text() -> None:
    p = parse("start FulfillmentJob({order}, *, 'eu')")
    assert p.match_job("FulfillmentJob", [7, "x", "eu", "ignored"]) == {"order": "7"}
    assert p.match_job("FulfillmentJob", [7, "x", "us"]) is None
    assert p.match_job("OtherJob", [7, "x", "eu"]) is None
    assert parse("success *").match_job("AnyJob", [1]) == {}


@pytest.mark.parametrize("bad", ["payment:{order}", "start", "effect a:{", "start F({x)",
                                 "finish F(1)"])
def test_malformed_patterns_are_refused(bad: str) -> None:
    with pytest.raises(PatternError):
        parse(bad)


def test_before_names_must_be_bound_by_after() -> None:
    with pytest.raises(PatternError, match="'order' must also appear"):
        rule("effect payment:{order}", "start FulfillmentJob")


def test_fulfilment_before_capture_is_a_violation_per_order() -> None:
    result = run(
        enqueue(0, "f1", "FulfillmentJob", 1), enqueue(0, "f2", "FulfillmentJob", 2),
        (1, "effect", "p1", "payment:1", "payment", True),
        (2, "start", "f1", "default", "w", 1, 0),         # after payment:1: fine
        (3, "start", "f2", "default", "w", 1, 0),         # payment:2 not yet: violation
        (4, "start", "f2", "default", "w", 2, 0),         # same key again: counted once
        (5, "effect", "p2", "payment:2", "payment", True),
    )
    assert not result.ok and result.violations == 1
    example = result.examples[0]
    assert example["jid"] == "f2" and example["key"] == "payment:2" and example["t"] == 3
    assert result.stats["order_rules"][0]["checked"] == 3


def test_negative_control_the_same_history_in_order_passes() -> None:
    result = run(
        enqueue(0, "f2", "FulfillmentJob", 2),
        (1, "effect", "p2", "payment:2", "payment", True),
        (3, "start", "f2", "default", "w", 1, 0),
    )
    assert result.ok and result.stats["order_rules"][0]["checked"] == 1


def test_no_rules_no_ordering_verdict() -> None:
    result = run(enqueue(0, "f", "FulfillmentJob", 1), (1, "start", "f", "default", "w", 1, 0),
                 rules=[])
    assert result.ok and result.stats["order_rules"] == []


def test_success_pattern_ignores_duplicate_copies() -> None:
    rules = [{"before": "success Capture({o})", "after": "start Ship({o})"}]
    result = run(enqueue(0, "c", "Capture", 5), enqueue(0, "s", "Ship", 5),
                 (1, "success", "c", 1),                      # a dup copy: not the job's success
                 (2, "start", "s", "default", "w", 1, 0), rules=rules)
    assert result.violations == 1


def test_named_fields_bind_a_declared_jobs_args_object() -> None:
    """A declared job's args are one JSON object: ``{p}`` in position 0 binds the whole
    object, which never equals the ``pay-1`` of ``auth:pay-1``, so a capture that waited
    for its authorization was reported as having run first. ``payment_id={p}`` binds
    the field."""
    def history(capture_at: float) -> list:
        return sorted([enqueue(0, "c1", "CaptureCard", {"payment_id": "pay-1", "amount": 5}),
                       (1, "effect", "a1", "auth:pay-1", "card", True),
                       (capture_at, "start", "c1", "default", "w", 1, 0)],
                      key=lambda ev: ev[0])

    named = [{"before": "effect auth:{p}", "after": "start CaptureCard(payment_id={p})"}]
    in_order, early = run(*history(2), rules=named), run(*history(0.5), rules=named)
    assert in_order.ok and in_order.stats["order_rules"][0]["checked"] == 1
    assert not early.ok and early.examples[0]["key"] == "auth:pay-1"   # negative control
    literal = parse("start CaptureCard(payment_id={p}, amount=5)")
    assert literal.match_job("CaptureCard", [{"payment_id": "pay-1", "amount": 5}]) == {
        "p": "pay-1"}
    assert literal.match_job("CaptureCard", [{"payment_id": "pay-1", "amount": 6}]) is None
    assert literal.match_job("CaptureCard", [{"amount": 5}]) is None          # no such field
    assert parse("start F({o}, region={r})").match_job("F", [7, {"region": "eu"}]) == {
        "o": "7", "r": "eu"}
    with pytest.raises(PatternError, match=r"positional argument '\{y\}' after a named one"):
        parse("start F(x={a}, {y})")
