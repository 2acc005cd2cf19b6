"""Backoff policies: samples stay inside bounds(), bounds are tight, means and the
published Sidekiq schedule hold, specs round-trip, bad specs fail with clear messages."""

from __future__ import annotations

import random
import statistics

import pytest

from jobsim import backoff
from jobsim.backoff import parse, policy, sidekiq_schedule_mean

SPECS = [
    "sidekiq",
    "sidekiq_7",
    "seed",
    "seed:j=0.15",
    "exponential:jitter=none,base=1,cap=600",
    "exponential:jitter=full,base=1,cap=600",
    "exponential:jitter=equal,base=0.5,cap=3600",
    "exponential:jitter=decorrelated,base=1,cap=600",
    "exponential:jitter=decorrelated,base=2,cap=900,j=0.2",
    "fixed:intervals=10|30|60",
    "fixed:intervals=10|30|60,retries=5",
    "grpc",
    "sidekiq:j=0.15",
    "sidekiq_6_2_1",
    "retry_in:seconds=30",
    "retry_in:seconds=30,rule=sidekiq_7",
    "retry_in:seconds=45,rule=sidekiq_6_2_1",
    "celery",
    "celery:retry_backoff=2,retry_backoff_max=300,retry_jitter=false",
    "rq:max=3,interval=1|2|3",
    "rq:max=5,interval=10|20",
]
COUNTS = range(25)
SAMPLES = 2000
DAY = 86400.0


def chains(spec: str, seed: int = 7) -> list[list[float]]:
    """SAMPLES delay sequences over COUNTS, each job feeding its previous delay back."""
    p = parse(spec)
    rng = random.Random(seed)
    out = []
    for _ in range(SAMPLES):
        prev = None
        row = []
        for count in COUNTS:
            prev = p.delay(count, rng, prev)
            row.append(prev)
        out.append(row)
    return out


@pytest.fixture(scope="module", params=SPECS)
def sampled(request: pytest.FixtureRequest) -> tuple[str, list[list[float]]]:
    return request.param, chains(request.param)


def tol(hi: float) -> float:
    return 1e-9 * max(1.0, abs(hi))


def test_every_sample_lies_within_bounds(sampled: tuple[str, list[list[float]]]) -> None:
    spec, rows = sampled
    p = parse(spec)
    for count in COUNTS:
        lo, hi = p.bounds(count)
        column = [row[count] for row in rows]
        assert lo - tol(hi) <= min(column), (spec, count, lo, min(column))
        assert max(column) <= hi + tol(hi), (spec, count, hi, max(column))


def test_bounds_are_tight(sampled: tuple[str, list[list[float]]]) -> None:
    """The sample extremes reach the bounds (decorrelated: only at count 0, its later
    bounds are the loosest valid ones by design)."""
    spec, rows = sampled
    p = parse(spec)
    counts = [0] if "decorrelated" in spec else list(COUNTS)
    slack = 0.10 if "j=" in spec else 0.02  # a product of two uniforms thins its tails
    for count in counts:
        lo, hi = p.bounds(count)
        column = [row[count] for row in rows]
        width = hi - lo
        assert min(column) - lo <= slack * width + tol(hi), (spec, count)
        assert hi - max(column) <= slack * width + tol(hi), (spec, count)


def test_sample_mean_matches_mean(sampled: tuple[str, list[list[float]]]) -> None:
    spec, rows = sampled
    p = parse(spec)
    for count in (0, 1, 5, 12, 24):
        column = [row[count] for row in rows]
        se = statistics.pstdev(column) / SAMPLES**0.5
        assert abs(statistics.fmean(column) - p.mean(count)) <= 5 * se + tol(p.mean(count)), (
            spec, count)


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_sidekiq_hits_both_exact_ends(count: int) -> None:
    """Sidekiq 8: count**4 + 15 + randint(0, 10*(count+1) - 1), both ends reachable."""
    low, high = count**4 + 15, count**4 + 15 + 10 * (count + 1) - 1
    p = policy("sidekiq")
    assert p.bounds(count) == (low, high)
    rng = random.Random(count)
    sample = [p.delay(count, rng) for _ in range(SAMPLES)]
    assert min(sample) == low and max(sample) == high
    assert all(float(x).is_integer() for x in sample)


def test_sidekiq_first_retry_is_15_to_24_seconds() -> None:
    assert policy("sidekiq").bounds(0) == (15, 24)
    assert policy("sidekiq_7").bounds(0) == (15, 24)
    assert policy("sidekiq_7").bounds(1) == (16, 16 + 18)  # randint(0, 9) * 2


def test_sidekiq_25th_retry_lands_20_41_to_20_45_days_after_first_failure() -> None:
    p = policy("sidekiq")
    earliest = sum(p.bounds(c)[0] for c in range(25)) / DAY
    latest = sum(p.bounds(c)[1] for c in range(25)) / DAY
    assert round(earliest, 2) == 20.41 and round(latest, 2) == 20.45
    mean_days = sidekiq_schedule_mean(25) / DAY
    assert 20.41 <= mean_days <= 20.45
    assert round(mean_days, 1) == 20.4
    rng = random.Random(3)
    totals = [sum(p.delay(c, rng) for c in range(25)) / DAY for _ in range(300)]
    assert earliest <= min(totals) and max(totals) <= latest
    assert abs(statistics.fmean(totals) - mean_days) < 0.001


def test_schedule_mean_grows_with_retries() -> None:
    assert sidekiq_schedule_mean(0) == 0
    assert sidekiq_schedule_mean(1) == pytest.approx(19.5)  # 15 + mean of 0..9
    assert sidekiq_schedule_mean(10) < sidekiq_schedule_mean(25)


def test_exponential_shapes() -> None:
    """n = count + 1: the first retry waits base * 2; the cap holds at large counts."""
    assert policy("exponential", base=1, cap=600).bounds(0) == (2, 2)
    assert policy("exponential", base=1, cap=600).bounds(20) == (600, 600)
    assert policy("exponential", jitter="full", base=1, cap=600).bounds(2) == (0, 8)
    assert policy("exponential", jitter="equal", base=1, cap=600).bounds(2) == (4, 8)
    assert policy("exponential", base=1, cap=600).bounds(5000) == (600, 600)
    deco = policy("exponential", jitter="decorrelated", base=1, cap=600)
    assert deco.bounds(0) == (1, 3) and deco.bounds(1) == (1, 9)
    assert deco.bounds(24) == (1, 600)


def test_decorrelated_bunches_at_the_cap() -> None:
    """Brooker 2015: decorrelated jitter piles up at the cap once 3*sleep >= cap."""
    rows = chains("exponential:jitter=decorrelated,base=1,cap=60")
    at_cap = sum(row[24] == 60 for row in rows) / len(rows)
    assert at_cap > 0.3  # a point mass: a third of the herd retries at the same second
    full = chains("exponential:jitter=full,base=1,cap=60")
    assert sum(row[24] == 60 for row in full) == 0


def test_decorrelated_uses_prev() -> None:
    p = policy("exponential", jitter="decorrelated", base=1, cap=1000)
    rng = random.Random(1)
    draws = [p.delay(3, rng, prev=100.0) for _ in range(500)]
    assert min(draws) >= 1 and max(draws) <= 300 and max(draws) > 250


def test_fixed_matches_rq_rule() -> None:
    """RQ: intervals[max(len - retries_left, 0)], retries_left = retries - count."""
    intervals = [10.0, 30.0, 60.0]
    for retries in (1, 2, 3, 5, 8):
        p = policy("fixed", intervals=intervals, retries=retries)
        for count in range(retries):
            want = intervals[max(len(intervals) - (retries - count), 0)]
            assert p.bounds(count) == (want, want), (retries, count)
    plain = policy("fixed", intervals=intervals)
    assert [plain.bounds(c)[0] for c in range(5)] == [10, 30, 60, 60, 60]


def test_grpc_caps_at_120_with_20_percent_jitter() -> None:
    p = policy("grpc")
    assert p.bounds(0) == pytest.approx((0.8, 1.2))
    assert p.bounds(2) == pytest.approx((1.6**2 * 0.8, 1.6**2 * 1.2))
    assert p.bounds(30) == pytest.approx((96, 144))
    assert p.bounds(10_000) == pytest.approx((96, 144))


def test_jitter_fraction_widens_bounds_and_keeps_mean() -> None:
    plain, jittered = policy("seed"), policy("seed", jitter_fraction=0.15)
    assert jittered == policy("seed", j=0.15)
    assert jittered.bounds(4) == pytest.approx((16 * 0.85, 45 * 1.15))
    assert jittered.mean(4) == plain.mean(4)


def test_same_seed_same_delays() -> None:
    for spec in SPECS:
        p = parse(spec)
        first, second, other = random.Random(11), random.Random(11), random.Random(12)
        draws = [[p.delay(c, rng, 5.0) for c in COUNTS] for rng in (first, second, other)]
        assert draws[0] == draws[1]
        if p.bounds(3)[0] != p.bounds(3)[1]:
            assert draws[0] != draws[2], spec


@pytest.mark.parametrize("spec", SPECS)
def test_spec_round_trips(spec: str) -> None:
    p = parse(spec)
    assert parse(p.spec()) == p
    assert p.spec() == parse(p.spec()).spec()
    name, _, rest = p.spec().partition(":")
    keys = [kv.split("=")[0] for kv in rest.split(",")] if rest else []
    assert keys == sorted(keys) and name == spec.split(":")[0]


def test_spec_is_canonical() -> None:
    assert policy("sidekiq").spec() == "sidekiq"
    assert parse(" exponential : cap=600 , jitter=full ").spec() == (
        "exponential:base=1,cap=600,jitter=full")
    assert policy("exponential", base=1, cap=600, jitter="full") == parse(
        "exponential:jitter=full,cap=600.0,base=1")
    assert policy("sidekiq", j=0.15).spec() == "sidekiq:j=0.15"
    assert parse("fixed:intervals=10|30.5").intervals == (10.0, 30.5)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("nope", ["nope", "sidekiq", "exponential", "grpc"]),
        ("sidekiq:x=1", ["'x'", "valid", "j"]),
        ("exponential:jitter=half", ["half", "full", "decorrelated"]),
        ("exponential:base=abc", ["abc", "base"]),
        ("exponential:base", ["base", "value"]),
        ("exponential:base=0", ["base"]),
        ("fixed", ["intervals"]),
        ("fixed:intervals=1|x", ["intervals", "1|x"]),
        ("grpc:max=1,max=2", ["max", "twice"]),
        ("sidekiq:j=1.5", ["j"]),
        ("custom", ["custom", "retry_in"]),
    ],
)
def test_parse_errors_are_clear(spec: str, words: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        parse(spec)
    for word in words:
        assert word in str(info.value), (spec, str(info.value))


def test_policy_rejects_unknown_parameter() -> None:
    with pytest.raises(ValueError, match=r"bogus.*valid: base, cap, j, jitter"):
        policy("exponential", bogus=1)


def test_every_registered_policy_is_tested() -> None:
    assert {s.split(":")[0] for s in SPECS} == set(backoff.POLICIES)
