"""retry_spread: delays within policy bounds, retry budgets respected, herds detected."""

from __future__ import annotations

import random

import pytest

from jobsim.backoff import parse
from jobsim.checks.retry_spread import chance_synchronised, check, peak_in_window
from jobsim.history.history import History

NO_JITTER = "exponential:base=1,cap=600,jitter=none"
FULL = "exponential:base=1,cap=600,jitter=full"


def retry(t: float, jid: str, count: int, delay: float, spec: str = "sidekiq",
          max_retries: int = 25) -> tuple:
    return (t, "retry", jid, count, delay, t + delay, spec, max_retries)


def herd(spec: str, jobs: int = 50, count: int = 8, t: float = 1000.0, seed: int = 1,
         delay: float | None = None) -> History:
    """``jobs`` jobs failing at the same instant at the same retry count."""
    rng = random.Random(seed)
    p = None if spec == "custom" else parse(spec)
    history = History()
    for i in range(jobs):
        d = delay if delay is not None else p.delay(count, rng)  # type: ignore[union-attr]
        history.append(t, "failure", f"j{i}", "Timeout", count + 1, 0)
        history.append(*retry(t, f"j{i}", count, d, spec))
    return history


def test_sidekiq_schedule_holds() -> None:
    """A full 25-retry schedule per job, drawn from the policy, passes every rule."""
    rng = random.Random(5)
    p = parse("sidekiq")
    history = History()
    for i in range(20):
        jid, t = f"j{i}", float(i * 7)
        history.append(t, "enqueue", jid, "default", "Job", True, True)
        for count in range(25):
            history.append(t, "start", jid, "default", "p0", count + 1, 0)
            history.append(t, "failure", jid, "Boom", count + 1, 0)
            d = p.delay(count, rng)
            history.append(*retry(t, jid, count, d))
            t += d
        history.append(t, "start", jid, "default", "p0", 26, 0)
        history.append(t, "failure", jid, "Boom", 26, 0)
        history.append(t, "dead", jid, "exhausted")
    result = check(history)
    assert result.ok, result.examples
    assert result.stats["retries"] == 500 and result.stats["max_attempt"] == 26


def test_delay_out_of_bounds_and_due_mismatch() -> None:
    history = History([
        retry(10, "a", 0, 5.0),                      # sidekiq count 0 is 15..24
        retry(10, "b", 0, 24.0),                     # upper end: fine
        retry(10, "c", 3, 96.0, "sidekiq:j=0.15"),   # 96 in [81.6, 155.25]: fine
        (10, "retry", "d", 0, 20.0, 31.0, "sidekiq", 25),   # due != t + delay
        retry(10, "e", 0, 9999.0, "custom"),         # retry_in chose it: no bounds
        retry(10, "f", 0, 20.0, "nope"),             # unparseable spec
    ])
    result = check(history)
    assert result.violations == 3
    problems = {e["jid"]: e["what"] for e in result.examples}
    assert problems == {"a": "delay_out_of_bounds", "d": "due_mismatch", "f": "bad_policy"}
    assert result.examples[0]["bounds"] == [15, 24]


def test_attempts_beyond_budget() -> None:
    """retry: 2 allows 3 attempts; retry: false allows one; a crash-recovered re-run
    keeps its attempt number and is no new attempt."""
    history = History([
        (0, "enqueue", "ok", "default", "Job", 2, True),
        *[(i, "start", "ok", "default", "p0", a, 0) for i, a in enumerate([1, 2, 3, 3])],
        (0, "enqueue", "over", "default", "Job", 2, True),
        *[(i, "start", "over", "default", "p0", a, 0) for i, a in enumerate([1, 2, 3, 4])],
        (0, "enqueue", "once", "default", "Job", False, True),
        (1, "start", "once", "default", "p0", 1, 0), (2, "start", "once", "default", "p1", 2, 1),
        (0, "enqueue", "twice", "default", "Job", False, True),
        (1, "start", "twice", "default", "p0", 2, 0),
        (0, "enqueue", "count", "default", "Job", True, True),
        retry(5, "count", 3, 16.0, NO_JITTER, max_retries=3),   # count 3 of 3 retries
        (30, "start", "count", "default", "p0", 5, 0),
        (0, "enqueue", "nil", "default", "Job", None, True),    # nil: the default, 25
        (1, "start", "nil", "default", "p0", 26, 0),
    ])
    result = check(history)
    over = sorted(e["jid"] for e in result.examples if e["what"] == "over_budget")
    assert over == ["count", "over", "twice"]
    assert result.violations == 3 and result.stats["over_budget"] == 3


def test_no_jitter_herd_is_a_violation_jittered_herd_is_not() -> None:
    synced = check(herd(NO_JITTER))
    spread = check(herd(FULL))
    assert not synced.ok and synced.violations == 1
    assert synced.examples[0]["what"] == "herd" and synced.examples[0]["jobs"] == 50
    assert synced.stats["synchronised_groups"] == 1 and synced.stats["herd_groups"] == 1
    assert spread.ok, spread.examples
    assert spread.stats["synchronised_groups"] == 0
    assert synced.stats["peak_per_window"] == 50
    assert synced.stats["peak_per_window"] >= 3 * spread.stats["peak_per_window"]
    assert 0.5 <= spread.stats["peak_ratio"] <= 3.0


@pytest.mark.parametrize("seed", range(20))
def test_jittered_herds_never_false_alarm(seed: int) -> None:
    for spec, count in ((FULL, 6), ("sidekiq", 8), ("grpc:max=600", 12)):
        result = check(herd(spec, jobs=30, count=count, seed=seed))
        assert result.ok, (spec, seed, result.examples)


def test_policy_that_promises_spread_but_gives_none() -> None:
    """All 50 draws equal though full jitter promised U(0, 512): a herd, and the
    measured peak is far above the policy's expected peak (50 * 60 / 512)."""
    result = check(herd(FULL, delay=300.0))
    assert result.violations == 1 and result.examples[0]["what"] == "herd"
    assert result.stats["peak_ratio"] == pytest.approx(50 / (50 * 60 / 512))
    assert result.stats["peak_ratio"] > 5


def test_edge_narrow_jitter_small_groups_and_opt_out() -> None:
    """Sidekiq's first retry spans 9 s < window: synchronised, yet no violation; a
    group under min_group is ignored; require_spread=False only reports."""
    narrow = check(herd("sidekiq", count=0))
    assert narrow.ok and narrow.stats["synchronised_groups"] == 1
    assert check(herd(NO_JITTER, jobs=9)).ok
    report_only = check(herd(NO_JITTER), require_spread=False)
    assert report_only.ok and report_only.stats["synchronised_groups"] == 1
    custom = check(herd("custom", delay=30.0))
    assert custom.ok and custom.stats["synchronised_groups"] == 1
    empty = check(History())
    assert empty.ok and empty.stats["peak_ratio"] is None and empty.stats["peak_per_window"] == 0


def test_failures_in_different_windows_are_different_groups() -> None:
    history = herd(NO_JITTER, jobs=8, t=100.0)
    for event in herd(NO_JITTER, jobs=8, t=200.0).events:
        history.append(*event)
    result = check(history)
    assert result.ok and result.stats["groups"] == 2


def test_peak_in_window() -> None:
    assert peak_in_window([], 60) == 0
    assert peak_in_window([200, 0, 61, 10, 60], 60) == 3      # [0, 60] holds 0, 10, 60
    assert peak_in_window([5.0] * 7, 0) == 7


def test_chance_synchronised_matches_simulation() -> None:
    assert chance_synchronised(2, 0.5) == pytest.approx(0.75)
    assert chance_synchronised(10, 1.5) == 1.0
    rng = random.Random(2)
    trials = 20000
    hits = 0
    for _ in range(trials):
        draws = [rng.random() for _ in range(5)]
        hits += max(draws) - min(draws) <= 0.4
    assert hits / trials == pytest.approx(chance_synchronised(5, 0.4), abs=0.01)
