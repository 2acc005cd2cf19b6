"""The AWS 2015 contention experiment: mechanics and the published ordering."""

from __future__ import annotations

import random

from jobsim.report import contention


def test_a_lone_client_needs_one_read_and_one_write() -> None:
    for spec in contention.POLICIES.values():
        trial = contention.run_trial(1, spec, random.Random(1))
        assert trial.calls == 2
        assert 0.02 < trial.completion_s < 0.06   # three hops of about 10 ms


def test_without_backoff_every_conflict_costs_two_more_calls() -> None:
    trial = contention.run_trial(10, None, random.Random(5))
    assert trial.calls % 2 == 0 and trial.calls > 2 * 10


def test_trials_are_deterministic() -> None:
    spec = contention.POLICIES["full jitter"]
    one = contention.run_trial(20, spec, random.Random("x"))
    two = contention.run_trial(20, spec, random.Random("x"))
    assert one == two


def test_published_ordering_holds_at_small_n() -> None:
    doc = contention.experiment([20, 40], reps=4, seed=11)
    calls = {label: sum(r["calls"]) for label, r in doc["results"].items()}
    assert calls["no backoff"] > calls["exponential"] > calls["decorrelated jitter"]
    assert calls["decorrelated jitter"] > calls["full jitter"]
    assert calls["equal jitter"] >= 0.95 * calls["full jitter"]
    # jitter finishes far sooner than synchronised exponential backoff
    assert doc["results"]["full jitter"]["completion_s"][-1] < \
        doc["results"]["exponential"]["completion_s"][-1] / 3


def test_verdict_fails_when_the_order_is_broken() -> None:
    doc = contention.experiment([10], reps=1)
    doc["results"]["full jitter"]["calls"] = [10 * doc["results"]["no backoff"]["calls"][0]]
    rules = contention.verdict(doc)
    assert not all(r["ok"] for r in rules)
    assert any("full jitter" in r["rule"] and not r["ok"] for r in rules)
