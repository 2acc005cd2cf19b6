"""Durations and rates: every accepted form, and the exact message for each rejection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobsim.scenario.durations import format_duration, parse_duration, parse_rate
from jobsim.scenario.errors import ScenarioError, Where

DURATION_HINT = "expected a duration like '30s', '10m' or '1h30m'"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (0, 0.0),
        (12, 12.0),
        (2.5, 2.5),
        ("0s", 0.0),
        ("500ms", 0.5),
        ("10s", 10.0),
        ("30m", 1800.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1.5h", 5400.0),
        ("1h30m", 5400.0),
        ("1d2h3m4s", 93784.0),
        ("1m500ms", 60.5),
        ("180d", 15552000.0),
    ],
)
def test_parse_duration_accepts(text: object, seconds: float) -> None:
    assert parse_duration(text, "spread") == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("fast", f"{DURATION_HINT}, got 'fast'"),
        ("", f"{DURATION_HINT}, got ''"),
        ("10", f"{DURATION_HINT}, got '10'"),
        ("10 s", f"{DURATION_HINT}, got '10 s' (did you mean '10s'?)"),
        ("10S", f"{DURATION_HINT}, got '10S' (did you mean '10s'?)"),
        ("1.s", f"{DURATION_HINT}, got '1.s'"),
        ("5min", f"{DURATION_HINT}, got '5min' (did you mean '5m'?)"),
        ("1 hour 30 mins", f"{DURATION_HINT}, got '1 hour 30 mins' (did you mean '1h30m'?)"),
        ("5 fortnights", f"{DURATION_HINT}, got '5 fortnights'"),
        ("-5s", "must not be negative, got '-5s'"),
        (-5, "must not be negative, got -5"),
        (-0.5, "must not be negative, got -0.5"),
        (True, f"{DURATION_HINT}, got true"),
        (False, f"{DURATION_HINT}, got false"),
        (None, f"{DURATION_HINT}, got null"),
        ([1], f"{DURATION_HINT}, got a list"),
        (float("inf"), f"{DURATION_HINT}, got inf"),
        ("30m1h", f"{DURATION_HINT} (largest unit first, each once), got '30m1h'"),
        ("1h1h", f"{DURATION_HINT} (largest unit first, each once), got '1h1h'"),
    ],
)
def test_parse_duration_rejects(value: object, reason: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_duration(value, Where("s.yaml", ("workload", 0, "spread")))
    assert str(info.value) == f"s.yaml: workload[0].spread: {reason}"
    assert info.value.reason == reason
    assert info.value.path == "workload[0].spread"


def test_bare_path_is_accepted_for_calls_from_python() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_duration("fast", "drain")
    assert str(info.value) == f"drain: {DURATION_HINT}, got 'fast'"


@pytest.mark.parametrize(
    ("text", "per_second"),
    [
        ("5/s", 5.0),
        ("2.5/s", 2.5),
        ("300/m", 5.0),
        ("300/min", 5.0),
        ("100/h", 100 / 3600),
        ("864/d", 0.01),
    ],
)
def test_parse_rate_accepts(text: str, per_second: float) -> None:
    assert parse_rate(text, "rate") == pytest.approx(per_second)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("fast", "expected '<number>/s', got 'fast'"),
        ("", "expected '<number>/s', got ''"),
        ("5", "expected '<number>/s', got '5'"),
        (5, "expected '<number>/s', got 5"),
        ("5/y", "expected '<number>/s', got '5/y'"),
        ("5 / s", "expected '<number>/s', got '5 / s' (did you mean '5/s'?)"),
        ("5/sec", "expected '<number>/s', got '5/sec' (did you mean '5/s'?)"),
        ("300 per minute", "expected '<number>/s', got '300 per minute' (did you mean '300/m'?)"),
        ("0/s", "must be positive, got '0/s'"),
        ("-5/s", "must be positive, got '-5/s'"),
        (True, "expected '<number>/s', got true"),
    ],
)
def test_parse_rate_rejects(value: object, reason: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_rate(value, Where("x.yaml", ("workload", 1, "rate")))
    assert str(info.value) == f"x.yaml: workload[1].rate: {reason}"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.25, "250ms"), (1.5, "1.5s"), (5400, "1h30m"), (93784, "1d2h3m4s"), (60, "1m")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.floats(min_value=0, max_value=400 * 86400, allow_nan=False))
def test_format_duration_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=1e-5)
