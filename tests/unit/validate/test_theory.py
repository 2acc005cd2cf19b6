"""The closed forms against the worked examples in docs/semantics.md and each other."""

from __future__ import annotations

import pytest

from jobsim.validate import theory


def test_erlang_c_reference_example() -> None:
    # c=3, a=2, mu=1: C = 0.444, Wq = C / (3 - 2) = 0.444
    assert theory.erlang_c(3, 2.0) == pytest.approx(4 / 9)
    assert theory.mmc_wq(2.0, 1.0, 3) == pytest.approx(4 / 9)


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9])
def test_one_server_reduces_to_mm1(rho: float) -> None:
    assert theory.erlang_c(1, rho) == pytest.approx(rho)
    assert theory.mmc_wq(rho, 1.0, 1) == pytest.approx(rho / (1 - rho))


def test_wait_tail_starts_at_c_and_decays() -> None:
    assert theory.mmc_wait_tail(2.0, 1.0, 3, 0.0) == pytest.approx(4 / 9)
    assert theory.mmc_wait_tail(2.0, 1.0, 3, 1.0) == pytest.approx(4 / 9 * 0.36787944)


def test_erlang_c_refuses_an_unstable_system() -> None:
    with pytest.raises(ValueError):
        theory.erlang_c(3, 3.0)


def test_large_c_is_stable_numerically() -> None:
    c = theory.erlang_c(200, 180.0)
    assert 0.0 < c < 1.0


def test_pollaczek_khinchine() -> None:
    # exponential service (E[S^2] = 2): the M/M/1 value; constant service: half of it
    assert theory.pk_wq(0.8, 1.0, 2.0) == pytest.approx(4.0)
    assert theory.pk_wq(0.8, 1.0, theory.lognormal_second_moment(1.0, 0.0)) == pytest.approx(2.0)
    assert theory.lognormal_second_moment(2.0, 1.0) == pytest.approx(4 * 2.718281828)


def test_cobham_reference_example() -> None:
    high, low = theory.cobham_wq([0.3, 0.5], 1.0, 2.0)
    assert high == pytest.approx(1.143, abs=5e-4)
    assert low == pytest.approx(5.714, abs=5e-4)


def test_cobham_with_one_class_is_pollaczek_khinchine() -> None:
    assert theory.cobham_wq([0.6], 1.0, 3.0) == pytest.approx([theory.pk_wq(0.6, 1.0, 3.0)])


def test_retry_amplification() -> None:
    assert theory.retry_load(0.5, 2) == pytest.approx(1.75)
    assert theory.retry_success(0.5, 2) == pytest.approx(0.875)
    # "3 attempts per request lets load grow to just under 3x"
    assert 2.7 < theory.retry_load(0.9, 2) < 3.0
    assert theory.retry_load(0.0, 5) == 1.0


def test_sidekiq_schedule_matches_reference_range() -> None:
    low, mean, high = (s / theory.DAY for s in theory.sidekiq_schedule(25))
    assert low == pytest.approx(20.41, abs=0.005)
    assert high == pytest.approx(20.45, abs=0.005)
    assert low < mean < high
    assert mean == pytest.approx(1_765_007.5 / theory.DAY)
