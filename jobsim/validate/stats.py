"""Confidence intervals from independent replications (Student t, two-sided 95 %).

Replications are the unit of independence: jobs inside one run are correlated (a long
queue makes many consecutive jobs wait), so the CI is built from the per-replication
means, never from the pooled jobs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# t_{0.975, dof} for dof 1..30; beyond 30 the normal quantile is close enough (< 2 %).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
         2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
         2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
Z975 = 1.959964


def t975(dof: int) -> float:
    """The 97.5 % quantile of Student's t with ``dof`` degrees of freedom."""
    if dof < 1:
        raise ValueError("a confidence interval needs at least two replications")
    return _T975[dof - 1] if dof <= len(_T975) else Z975


@dataclass(frozen=True)
class Estimate:
    """A replication mean and its 95 % half width."""

    mean: float
    half: float
    reps: int

    @property
    def low(self) -> float:
        return self.mean - self.half

    @property
    def high(self) -> float:
        return self.mean + self.half

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high


def mean_ci(values: Sequence[float]) -> Estimate:
    """Mean of ``values`` (one per replication) with a t-based 95 % half width."""
    n = len(values)
    if n < 2:
        raise ValueError("a confidence interval needs at least two replications")
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return Estimate(mean, t975(n - 1) * math.sqrt(var / n), n)
