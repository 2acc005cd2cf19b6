"""The verdict words: one vocabulary, and how a run's checks and expectations map to it."""

from __future__ import annotations

import pytest

from jobsim.checks.verdicts import WORDS, combine, exit_code, word
from jobsim.report.metrics import evaluate
from jobsim.report.summary import held, story_line, verdict


def run(ok_checks: bool | None = True, expectations: list[bool | None] | None = None,
        reproduces: bool = False) -> dict:
    return {"checks": {"no_loss": {"ok": ok_checks}},
            "expectations": [{"ok": e} for e in (expectations or [])],
            "reproduces": reproduces}


@pytest.mark.parametrize(("m", "expected"), [
    (run(), "PASS"),
    (run(ok_checks=False), "FAIL"),
    (run(expectations=[True, False]), "FAIL"),
    (run(expectations=[True, None]), "UNKNOWN"),
    (run(expectations=[None, False]), "FAIL"),
    (run(reproduces=True, expectations=[True]), "REPRODUCED"),
    (run(reproduces=True, expectations=[False]), "NOT REPRODUCED"),
    # the failure a variant reproduces is often a failing check: expectations decide
    (run(ok_checks=False, reproduces=True, expectations=[True]), "REPRODUCED"),
    (run(ok_checks=False, reproduces=True, expectations=[False]), "NOT REPRODUCED"),
    (run(ok_checks=None, reproduces=True, expectations=[True]), "UNKNOWN"),
])
def test_verdict_words(m: dict, expected: str) -> None:
    assert verdict(m) == expected
    assert expected in WORDS
    assert exit_code(expected) == (0 if expected in ("PASS", "REPRODUCED") else 1)


def test_several_runs_take_the_worst_word() -> None:
    assert combine(["PASS", "REPRODUCED"]) == "PASS"
    assert combine(["REPRODUCED", "REPRODUCED"]) == "REPRODUCED"
    assert combine(["PASS", "NOT REPRODUCED"]) == "NOT REPRODUCED"
    assert combine(["UNKNOWN", "FAIL"]) == "FAIL"
    assert word(None) == "UNKNOWN"


def test_an_expectation_on_a_metric_without_data_is_unknown_not_failed() -> None:
    metrics = {"queues": {"low": {"latency_p99_s": None}}, "jobs": {"lost": 0}}
    rows = evaluate(metrics, [{"metric": "queues.low.latency_p99_s", "max": 5},
                              {"metric": "queues.nope.latency_p99_s", "max": 5},
                              {"metric": "jobs.lost", "max": 0}])
    assert [r["ok"] for r in rows] == [None, False, True]
    assert held({"checks": {}, "expectations": rows[:1]}) is None


def test_story_line_leads_with_the_metric_across_variants() -> None:
    story = {"question": "How long?", "metric": "jobs_by_class.P.latency_p99_s",
             "label": "payments p99 wait"}
    base = {"variant": None, "story": {**story, "value": 0.031}}
    fifo = {"variant": "single_fifo", "story": {**story, "value": 431.2}}
    assert story_line([base, fifo]) == "payments p99 wait: 0.031 s (base) -> 431 s (single_fifo)"
    assert story_line([{"variant": None}]) is None


def test_story_line_lists_three_runs_and_says_when_none_differs() -> None:
    story = {"question": "Lost?", "metric": "jobs.lost", "label": "jobs lost"}
    runs = [{"variant": v, "story": {**story, "value": n}}
            for v, n in ((None, 0), ("celery", 12), ("rq", 0))]
    assert story_line(runs) == "jobs lost: 0 (base), 12 (celery), 0 (rq)"
    same = [{**r, "story": {**story, "value": 0}} for r in runs]
    assert story_line(same) == "jobs lost: 0 in every run (base, celery, rq)"


def test_an_absent_count_of_something_that_never_happened_is_zero() -> None:
    """metrics.json keys ``dead_by_reason`` & co. by what occurred: no job abandoned
    leaves no ``abandoned`` key, and 'at most 0 abandoned' must hold, not fail."""
    metrics = {"jobs": {"dead_by_reason": {}}, "failures": {"KeyError": 2},
               "retries": {"by_attempt": [4]},
               "jobs_by_class": {"Pay": {"retries_by_error": {}}}}
    rows = evaluate(metrics, [{"metric": "jobs.dead_by_reason.abandoned", "max": 0},
                              {"metric": "failures.ServiceError", "equals": 0},
                              {"metric": "retries.by_attempt.3", "max": 0},
                              {"metric": "jobs_by_class.Pay.retries_by_error.E", "max": 0},
                              {"metric": "failures.KeyError", "max": 0}])
    assert [(r["actual"], r["ok"]) for r in rows] == [
        (0, True), (0, True), (0, True), (0, True), (2, False)]
    # a class that never ran has no map to count in: still missing, still failing
    gone = evaluate(metrics, [{"metric": "jobs_by_class.Other.dead_by_error.E", "max": 0}])
    assert gone[0]["ok"] is False
