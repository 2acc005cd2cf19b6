"""Wilson intervals against scipy's independent implementation."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from jobsim.sweep.interval import wilson


@pytest.mark.parametrize(("passes", "runs"), [(40, 40), (0, 10), (5, 10), (1, 3), (37, 40)])
def test_wilson_matches_scipy(passes: int, runs: int) -> None:
    ours = wilson(passes, runs)
    theirs = binomtest(passes, runs).proportion_ci(0.95, method="wilson")
    assert ours.low == pytest.approx(theirs.low, abs=1e-9)
    assert ours.high == pytest.approx(theirs.high, abs=1e-9)


def test_forty_of_forty_is_not_certainty() -> None:
    rate = wilson(40, 40)
    assert rate.rate == 1.0
    assert 0.91 < rate.low < 0.92       # 40 seeds cannot rule out a 9 % failure rate
    assert rate.text().startswith("40/40 (100 %, 95 % CI 91.2-100.0 %)")
    with pytest.raises(ValueError):
        wilson(5, 4)
