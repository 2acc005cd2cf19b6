"""One line of the validation table, and the pass rules that fill its verdict.

The rules are fixed here, once, so no case can quietly loosen its own:

* analytical: |relative error| <= 3 %, or the theory value inside the 95 % CI;
* statistical: a test's p-value at or above the stated significance level;
* ordering: the published ordering reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobsim.validate.stats import Estimate

REL_TOLERANCE = 0.03
ALPHA = 0.01            # significance level of every statistical test


@dataclass(frozen=True)
class Row:
    case: str
    theory: str
    simulated: str
    error: str
    criterion: str
    ok: bool


def fmt(value: float) -> str:
    """4 significant digits, no exponent for the magnitudes we meet."""
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-4:
        return f"{value:.4g}"
    digits = max(0, 3 - int(f"{abs(value):e}".split("e")[1]))
    return f"{value:.{digits}f}"


def analytic(case: str, theory: float, est: Estimate) -> Row:
    """Simulated mean (95 % CI) against a closed form."""
    rel = (est.mean - theory) / theory
    inside = est.covers(theory)
    ok = abs(rel) <= REL_TOLERANCE or inside
    how = "within 3 %" if abs(rel) <= REL_TOLERANCE else "in CI" if inside else "outside"
    return Row(case, fmt(theory), f"{fmt(est.mean)} ± {fmt(est.half)} (n={est.reps})",
               f"{rel:+.1%}", f"|err|<=3% or in CI: {how}", ok)


def statistical(case: str, theory: str, simulated: str, error: str, p_value: float,
                test: str) -> Row:
    """A goodness-of-fit test passing at the level ALPHA."""
    ok = p_value >= ALPHA
    return Row(case, theory, simulated, error, f"{test} p={p_value:.3g} >= {ALPHA:g}", ok)


def bound(case: str, theory: str, simulated: str, error: str, ok: bool, rule: str) -> Row:
    """A hard bound or an ordering, true or false."""
    return Row(case, theory, simulated, error, rule, ok)
