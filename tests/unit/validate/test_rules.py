"""Pass rules, confidence intervals and the case executor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from jobsim.validate.case import Task
from jobsim.validate.execute import run_cases
from jobsim.validate.rows import Row, analytic
from jobsim.validate.stats import Estimate, mean_ci, t975
from jobsim.validate.table import markdown, text


def test_mean_ci_uses_student_t() -> None:
    est = mean_ci([1.0, 2.0, 3.0])
    assert est.mean == 2.0
    assert est.half == pytest.approx(4.303 / 3**0.5)
    assert t975(1000) == pytest.approx(1.96, abs=1e-3)
    with pytest.raises(ValueError):
        mean_ci([1.0])


def test_analytic_rule() -> None:
    assert analytic("x", 1.0, Estimate(1.02, 0.001, 5)).ok          # within 3 %
    assert analytic("x", 1.0, Estimate(1.10, 0.2, 5)).ok            # theory in CI
    row = analytic("x", 1.0, Estimate(1.10, 0.05, 5))
    assert not row.ok and row.error == "+10.0%"


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

    def tasks(self, quick: bool) -> list[Task]:
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
