"""Binomial pass rates with Wilson score intervals.

Why Wilson and not the normal approximation p ± z·sqrt(p(1-p)/n): with 40/40 passes the
normal interval collapses to [1, 1], claiming certainty from 40 seeds; Wilson's gives
[0.912, 1], and it keeps good coverage for small n and rates near 0 or 1 (Brown, Cai and
DasGupta, "Interval Estimation for a Binomial Proportion", Statistical Science 16(2),
2001). Formula: Wilson, "Probable Inference...", JASA 22 (1927).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054     # the standard normal's 97.5 % quantile


@dataclass(frozen=True)
class Rate:
    passes: int
    runs: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        return self.passes / self.runs if self.runs else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {"passes": self.passes, "runs": self.runs, "rate": round(self.rate, 6),
                "low": round(self.low, 6), "high": round(self.high, 6)}

    def text(self) -> str:
        """``40/40 (100 %, 95 % CI 91.2-100 %)``."""
        return (f"{self.passes}/{self.runs} ({100 * self.rate:.0f} %, 95 % CI "
                f"{100 * self.low:.1f}-{100 * self.high:.1f} %)")


def wilson(passes: int, runs: int, z: float = Z95) -> Rate:
    """The Wilson score interval for ``passes`` successes in ``runs`` trials."""
    if not 0 <= passes <= runs:
        raise ValueError(f"passes must be in 0..runs, got {passes}/{runs}")
    if runs == 0:
        return Rate(0, 0, 0.0, 1.0)
    p = passes / runs
    z2 = z * z
    centre = (p + z2 / (2 * runs)) / (1 + z2 / runs)
    half = z / (1 + z2 / runs) * math.sqrt(p * (1 - p) / runs + z2 / (4 * runs * runs))
    return Rate(passes, runs, max(0.0, centre - half), min(1.0, centre + half))
