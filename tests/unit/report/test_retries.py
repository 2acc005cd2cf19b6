"""The retry-policy report's model: schedule, thundering herd, recovery outcome."""

from __future__ import annotations

import pytest

from jobsim import backoff
from jobsim.report import retries

EXPO = "exponential:base=1,cap=600,jitter="


def test_sidekiq_25th_retry_lands_about_20_4_days_after_the_first_failure() -> None:
    run = retries.simulate("sidekiq", jobs=1000, recover_s=600)
    m = retries.policy_metrics(run)
    assert 20.40 <= m["last_retry_mean_days"] <= 20.46
    theory = backoff.sidekiq_schedule_mean(25) / retries.DAY
    assert m["cumulative_theory_mean_s"][-1] / retries.DAY == pytest.approx(theory)


def test_every_measured_delay_is_within_the_policy_bounds() -> None:
    for spec in retries.DEFAULT_POLICIES:
        m = retries.policy_metrics(retries.simulate(spec, jobs=200, recover_s=600))
        assert m["delays_out_of_bounds"] == 0, spec


def test_no_jitter_hits_the_service_in_synchronised_spikes_full_jitter_spreads() -> None:
    none = retries.policy_metrics(retries.simulate(EXPO + "none", jobs=500, recover_s=600))
    full = retries.policy_metrics(retries.simulate(EXPO + "full", jobs=500, recover_s=600))
    assert none["peak_after_recovery_per_s"] == 500          # every job at the same instant
    assert full["peak_after_recovery_per_s"] < 500 / 10
    assert none["peak_attempts_per_s"] > full["peak_attempts_per_s"]


def test_recovery_outcome_counts_attempts_success_and_dead() -> None:
    # No jitter, base 1: retries at 2, 6, 14, 30, ... all jobs succeed together at 62 s.
    m = retries.policy_metrics(retries.simulate(EXPO + "none", jobs=10, recover_s=50))
    assert m["all_succeeded_s"] == 62.0
    assert m["retries"] == 10 * 5 and m["total_attempts"] == 10 * 6
    assert m["dead"] == 0
    # A service down for a day outlives 25 capped retries (about 3 h): every job dies.
    dead = retries.policy_metrics(retries.simulate(EXPO + "none", jobs=10, recover_s=86400))
    assert dead["dead"] == 10 and dead["all_succeeded_s"] is None
    assert dead["total_attempts"] == 10 * 26


def test_simulation_is_deterministic_per_seed_and_independent_of_order() -> None:
    a = retries.simulate(EXPO + "full", jobs=50, recover_s=60, seed=3)
    b = retries.simulate(EXPO + "full", jobs=50, recover_s=60, seed=3)
    c = retries.simulate(EXPO + "full", jobs=50, recover_s=60, seed=4)
    assert a.delays == b.delays
    assert a.delays != c.delays


def test_peak_per_second_uses_whole_second_windows() -> None:
    assert retries.peak_per_second([0.1, 0.9, 1.0, 1.5, 1.99, 7.0]) == 3
    assert retries.peak_per_second([]) == 0


def test_from_history_reads_delays_per_policy_and_retry_number(history) -> None:
    measured = retries.from_history(history)
    assert measured["delays"] == {"sidekiq": [[20.0]]}
    assert measured["retried_starts"] == [41.0]
