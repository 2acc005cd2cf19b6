"""One real validation path end to end, small enough for ``make test``."""

from __future__ import annotations

from click.testing import CliRunner

from jobsim.validate import theory
from jobsim.validate.command import validate
from jobsim.validate.queueing import mmc_replication
from jobsim.validate.rows import analytic
from jobsim.validate.stats import mean_ci


def test_mm1_at_half_load_matches_erlang_c() -> None:
    runs = [mmc_replication(1, 0.5, 4_000, rep) for rep in range(4)]
    assert all(r["n"] > 3_000 for r in runs)
    row = analytic("M/M/1", theory.mmc_wq(0.5, 1.0, 1), [r["wq"] for r in runs])
    assert row.ok, row
    assert sum(r["late"] + r["skipped"] + r["out_of_order"] for r in runs) == 0
    tail = mean_ci([r["tail"] for r in runs])
    assert abs(tail.mean - theory.mmc_wait_tail(0.5, 1.0, 1, 2.0)) < 0.05


def test_command_runs_a_case_and_rejects_unknown_ones() -> None:
    runner = CliRunner()
    result = runner.invoke(validate, ["weighted", "--quick", "--no-doc", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "weighted fetch shares 6:3:1" in result.output and "1/1 rows pass" in result.output
    bad = runner.invoke(validate, ["nosuchcase"])
    assert bad.exit_code == 2 and "unknown case" in bad.output
    negative = runner.invoke(validate, ["weighted", "--seed-set", "-1"])
    assert negative.exit_code == 2 and "--seed-set: must be >= 0" in negative.output
