"""One line of the validation table, and the pass rules that fill its verdict.

The rules are fixed here, once, so no case can quietly loosen its own:

* analytical: |relative error| <= 3 %, or the theory value inside the row's confidence
  interval. The intervals are simultaneous: ``settle`` re-judges every analytical row of
  a run at level ``1 - FAMILY_ALPHA/m`` (Bonferroni over its ``m`` analytical rows);
* statistical: a test's p-value at or above the stated significance level;
* ordering or bound: the published ordering reproduced, every sample inside its bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jobsim.validate.stats import FAMILY_ALPHA, family_level, mean_ci

REL_TOLERANCE = 0.03
ALPHA = 0.01            # significance level of every statistical test


@dataclass(frozen=True)
class Claim:
    """What an analytical row asserts: replication values whose mean is ``theory``."""

    theory: float
    values: tuple[float, ...]


@dataclass(frozen=True)
class Row:
    case: str
    theory: str
    simulated: str
    error: str
    criterion: str
    ok: bool
    claim: Claim | None = None      # set on analytical rows, for ``settle``


def fmt(value: float) -> str:
    """4 significant digits, no exponent for the magnitudes we meet."""
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-4:
        return f"{value:.4g}"
    digits = max(0, 3 - int(f"{abs(value):e}".split("e")[1]))
    return f"{value:.{digits}f}"


def analytic(case: str, theory: float, values: Sequence[float], level: float = 0.95) -> Row:
    """Replication values against a closed form, with a Student t interval at ``level``.

    A row built here alone is judged at 95 %; ``settle`` widens it to the family level.
    """
    est = mean_ci(values, level)
    rel = (est.mean - theory) / theory
    inside = est.covers(theory)
    ok = abs(rel) <= REL_TOLERANCE or inside
    how = "within 3 %" if abs(rel) <= REL_TOLERANCE else "in CI" if inside else "outside"
    width = f"{est.half / abs(theory):.1%}" if theory else fmt(est.half)
    return Row(case, fmt(theory),
               f"{fmt(est.mean)} ± {fmt(est.half)} (±{width}, n={est.reps})",
               f"{rel:+.1%}", f"|err|<=3% or in CI: {how}", ok,
               Claim(theory, tuple(values)))


def settle(rows: Sequence[Row], alpha: float = FAMILY_ALPHA) -> list[Row]:
    """Re-judge the analytical rows with simultaneous intervals over all of them."""
    family = sum(row.claim is not None for row in rows)
    if not family:
        return list(rows)
    level = family_level(family, alpha)
    return [analytic(row.case, row.claim.theory, row.claim.values, level)
            if row.claim is not None else row for row in rows]


def statistical(case: str, theory: str, simulated: str, error: str, p_value: float,
                test: str) -> Row:
    """A goodness-of-fit test passing at the level ALPHA."""
    ok = p_value >= ALPHA
    return Row(case, theory, simulated, error, f"{test} p={p_value:.3g} >= {ALPHA:g}", ok)


def bound(case: str, theory: str, simulated: str, error: str, ok: bool, rule: str) -> Row:
    """A hard bound or an ordering, true or false."""
    return Row(case, theory, simulated, error, rule, ok)
