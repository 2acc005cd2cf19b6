"""replica_lag: where the existence check reads decides whether duplicates go out.

One guard per variant; the duplicate count is read from metrics (``effects.duplicates``,
the idempotency check and the guard's highlight line) and the duplicates the replica lets
through are placed in time: only while the replica lags.
"""

from __future__ import annotations

import pytest

from jobsim.scenario.runner import Result, run_scenario

SCALE = 0.2                        # 800 recipients per run
VARIANTS = [None, "guard_primary", "guard_replica", "guard_none", "primary_concurrent"]


@pytest.fixture(scope="module")
def runs() -> dict[str | None, Result]:
    return {v: run_scenario("replica_lag", variant=v, scale=SCALE) for v in VARIANTS}


def dups(result: Result) -> int:
    metric = result.metrics["effects"]["duplicates"]
    assert metric == result.metrics["checks"]["idempotency"]["violations"]
    return metric


def guard_line(result: Result) -> tuple[str, int]:
    ((label, value),) = result.metrics["highlights"]
    return label, value


def test_each_guard_gets_its_own_duplicate_line(runs: dict[str | None, Result]) -> None:
    guards = {None: "constraint", "guard_primary": "primary", "guard_replica": "replica",
              "guard_none": "none", "primary_concurrent": "primary"}
    for variant, result in runs.items():
        assert guard_line(result) == (f"duplicate emails (guard={guards[variant]})",
                                      dups(result))


def test_constraint_and_serial_primary_checks_send_no_duplicate(
        runs: dict[str | None, Result]) -> None:
    for variant in (None, "guard_primary"):
        assert dups(runs[variant]) == 0
        assert runs[variant].ok


def test_a_lagging_replica_lets_duplicates_through_only_while_it_lags(
        runs: dict[str | None, Result]) -> None:
    replica, none = runs["guard_replica"], runs["guard_none"]
    assert 0 < dups(replica) < dups(none)
    (start,) = [e[0] for e in replica.history.events
                if e[1] == "fault_start" and e[3] == "replica_lag"]
    (end,) = [e[0] for e in replica.history.events
              if e[1] == "fault_end" and e[3] == "replica_lag"]
    seen: set[str] = set()
    for ev in replica.history.events:
        if ev[1] == "effect" and ev[4] == "email":
            if ev[3] in seen:
                assert start <= ev[0] <= end + 5.0, (ev, start, end)
            seen.add(ev[3])


def test_concurrent_copies_race_past_even_the_primary(runs: dict[str | None, Result]) -> None:
    assert dups(runs["primary_concurrent"]) > 0
    assert runs["primary_concurrent"].scenario.system.concurrency > 1


def test_no_job_is_lost_whatever_the_guard(runs: dict[str | None, Result]) -> None:
    for variant, result in runs.items():
        assert result.checks["no_loss"].ok, variant
        assert result.checks["lifecycle"].ok, variant
        assert all(e["ok"] for e in result.metrics["expectations"]), variant
