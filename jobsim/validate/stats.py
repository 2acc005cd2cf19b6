"""Confidence intervals from independent replications, at a family-wise level.

Replications are the unit of independence: jobs inside one run are correlated (a long
queue makes many consecutive jobs wait), so an interval is built from the per-replication
means, never from the pooled jobs.

The table holds some thirty analytical rows. Thirty separate 95 % intervals would miss
their true value somewhere about four times in five even for a perfect simulator, so the
intervals are *simultaneous*: each row's interval is at level ``1 - alpha/m`` for ``m``
rows (Bonferroni), and all ``m`` cover their true values together with probability at
least ``1 - alpha``. scipy supplies the quantiles and tests; it is imported lazily, since
the rest of jobsim never needs it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

FAMILY_ALPHA = 0.05     # chance that any analytical row misses, for a perfect simulator


def t_quantile(level: float, dof: int) -> float:
    """The two-sided Student t factor: P(|T| <= factor) = ``level`` with ``dof`` dof."""
    if dof < 1:
        raise ValueError("a confidence interval needs at least two replications")
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2, dof))


def family_level(rows: int, alpha: float = FAMILY_ALPHA) -> float:
    """Each row's level so that ``rows`` intervals hold together at ``1 - alpha``."""
    if rows < 1:
        raise ValueError(f"a family needs at least one row, got {rows}")
    return 1.0 - alpha / rows


@dataclass(frozen=True)
class Estimate:
    """A replication mean and its half width at confidence ``level``."""

    mean: float
    half: float
    reps: int
    level: float = 0.95

    @property
    def low(self) -> float:
        return self.mean - self.half

    @property
    def high(self) -> float:
        return self.mean + self.half

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high


def mean_ci(values: Sequence[float], level: float = 0.95) -> Estimate:
    """Mean of ``values`` (one per replication) with a Student t interval at ``level``."""
    n = len(values)
    if n < 2:
        raise ValueError("a confidence interval needs at least two replications")
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return Estimate(mean, t_quantile(level, n - 1) * math.sqrt(var / n), n, level)


def ks_exponential(samples: Sequence[float], mean: float) -> tuple[float, float]:
    """Kolmogorov-Smirnov test of ``samples`` against exponential(``mean``): (D, p)."""
    from scipy import stats

    result = stats.kstest(samples, "expon", args=(0.0, mean))
    return float(result.statistic), float(result.pvalue)

