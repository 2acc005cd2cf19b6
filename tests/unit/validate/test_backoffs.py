"""The Celery and RQ backoff rows: they pass on the real policies and fail on a system
that applies another rule than the one it records."""

from __future__ import annotations

from jobsim.validate import backoffs
from jobsim.validate.backoffs import OtherBackoffs


def run(case: OtherBackoffs) -> list:
    return [task() for task in case.tasks(quick=True)]


def test_rows_pass_on_the_real_policies() -> None:
    case = OtherBackoffs()
    rows = case.judge(run(case))
    assert len(rows) == 5
    assert all(row.ok for row in rows), [(r.case, r.simulated, r.criterion) for r in rows]


def test_negative_control_a_wrong_rule_fails_the_rows() -> None:
    """Half-second Celery delays and RQ's last interval repeating (a planted bug)."""
    case = OtherBackoffs()
    drawn, system, rq = run(case)
    shifted = [[(c, d + 0.5) for c, d in s] for s in system]
    last_repeats = [[(c, [10.0, 20.0, 40.0, 40.0, 40.0][c]) for c, _ in s] for s in rq]
    rows = case.judge([drawn, shifted, last_repeats])
    failed = {row.case.split(",")[0].split(" (")[0] for row in rows if not row.ok}
    assert "celery per-retry delays" in failed
    assert any(name.startswith("rq Retry") for name in failed)


def test_celery_mean_total_is_1023_halves() -> None:
    assert sum(min(600, 2**c) / 2 for c in range(backoffs.CELERY_RETRIES)) == 511.5
