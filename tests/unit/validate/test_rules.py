"""Pass rules, simultaneous confidence intervals and the case executor."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest

from jobsim.validate.case import Task
from jobsim.validate.execute import run_cases
from jobsim.validate.rows import Row, analytic, bound, settle
from jobsim.validate.runs import SEED_SET_STRIDE, replications
from jobsim.validate.stats import family_level, ks_exponential, mean_ci, t_quantile
from jobsim.validate.table import markdown, text


def test_mean_ci_uses_student_t() -> None:
    est = mean_ci([1.0, 2.0, 3.0])
    assert est.mean == 2.0
    assert est.half == pytest.approx(4.303 / 3**0.5, rel=1e-3)     # t(0.975, 2) = 4.303
    assert t_quantile(0.95, 9) == pytest.approx(2.262, abs=1e-3)
    assert t_quantile(0.999, 19) == pytest.approx(3.883, abs=1e-3)   # two-sided 99.9 %
    assert t_quantile(0.95, 100_000) == pytest.approx(1.960, abs=1e-3)
    with pytest.raises(ValueError):
        mean_ci([1.0])


def test_analytic_rule() -> None:
    assert analytic("x", 1.0, [1.02, 1.021, 1.019]).ok              # within 3 %
    assert analytic("x", 1.0, [0.9, 1.3, 1.1]).ok                   # theory in CI
    row = analytic("x", 1.0, [1.09, 1.10, 1.11])
    assert not row.ok and row.error == "+10.0%" and "(±2.5%, n=3)" in row.simulated


def _unbiased_rows(rng: random.Random, rows: int, se: float) -> list[Row]:
    """Rows whose replications really have mean 1: any failure is a false alarm."""
    sd = se * 20**0.5
    return [analytic(f"r{k}", 1.0, [rng.gauss(1.0, sd) for _ in range(20)])
            for k in range(rows)]


def test_family_level_keeps_false_alarms_below_alpha() -> None:
    """The negative control for the family rule: with separate 95 % intervals, a table
    of 30 rows of a perfect simulator fails most of the time; settled, rarely."""
    rng = random.Random(7)
    tables = [_unbiased_rows(rng, 30, se=0.03) for _ in range(200)]
    alone = sum(not all(r.ok for r in table) for table in tables) / len(tables)
    together = sum(not all(r.ok for r in settle(table)) for table in tables) / len(tables)
    assert alone > 0.5, alone           # 1 - 0.95^30 = 0.79 when every row can fail
    assert together <= 0.08, together   # Bonferroni: at most 5 %, plus sampling slack
    assert family_level(30) == pytest.approx(1 - 0.05 / 30)


def test_family_level_still_catches_a_bias() -> None:
    rng = random.Random(3)
    table = _unbiased_rows(rng, 29, se=0.0125)
    table.append(analytic("biased", 1.0, [rng.gauss(1.10, 0.0125 * 20**0.5)
                                         for _ in range(20)]))
    settled = settle(table)
    assert [r.case for r in settled if not r.ok] == ["biased"]
    assert settled[0].claim == table[0].claim        # settle re-judges, keeps the data


def test_settle_leaves_other_rows_alone() -> None:
    other = bound("b", "x", "y", "", False, "rule")
    assert settle([other]) == [other]


def test_ks_exponential_separates_distributions() -> None:
    rng = random.Random(11)
    assert ks_exponential([rng.expovariate(1.0) for _ in range(5_000)], 1.0)[1] > 0.01
    assert ks_exponential([rng.expovariate(1.1) for _ in range(5_000)], 1.0)[1] < 0.01
    assert ks_exponential([rng.uniform(0, 2) for _ in range(5_000)], 1.0)[1] < 1e-6


def test_seed_sets_are_disjoint() -> None:
    assert list(replications(3)) == [0, 1, 2]
    assert list(replications(2, 1)) == [SEED_SET_STRIDE, SEED_SET_STRIDE + 1]
    with pytest.raises(ValueError):
        replications(2, -1)


def _square(x: int) -> int:
    return x * x


def _boom() -> None:
    raise RuntimeError("kaput")


@dataclass
class _Toy:
    name: str
    fail: bool = False

    def sizes(self) -> str:
        return f"{self.name}: two squares."

    def tasks(self, quick: bool, seed_set: int = 0) -> list[Task]:
        return [Task(_boom)] if self.fail else [Task(_square, (k,)) for k in (2, 3)]

    def judge(self, results: list[Any]) -> list[Row]:
        return [Row(self.name, "13", str(sum(results)), "", "sum", sum(results) == 13)]


@pytest.mark.parametrize("workers", [1, 2])
def test_executor_keeps_order_and_reports_errors(workers: int) -> None:
    outcomes, cpu = run_cases([_Toy("ok"), _Toy("bad", fail=True)], workers=workers)
    assert [o.name for o in outcomes] == ["ok", "bad"]
    assert outcomes[0].rows[0].ok and outcomes[0].rows[0].simulated == "13"
    bad = outcomes[1].rows[0]
    assert not bad.ok and "kaput" in bad.criterion
    assert cpu >= 0
    rendered = text(outcomes)
    assert "FAIL" in rendered and "pass" in rendered
    doc = markdown(outcomes, "test machine")
    assert "1 of 2 rows FAIL" in doc and "make validate" in doc
    assert "- ok: two squares." in doc and "- bad: two squares." in doc
