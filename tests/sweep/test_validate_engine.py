"""``jobsim validate`` on the sweep's engine: the same table in this process, on a local
cluster and through a scheduler address."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from jobsim.cli import main
from jobsim.validate.cases import by_name
from jobsim.validate.execute import run_cases
from jobsim.validate.table import text

distributed = pytest.importorskip("distributed")


@pytest.fixture
def scheduler(cluster: distributed.LocalCluster) -> str:
    return cluster.scheduler_address


def test_weighted_case_same_table_inline_and_on_a_cluster(scheduler: str) -> None:
    inline, _ = run_cases(by_name(["weighted"]), quick=True, workers=1)
    remote, cpu = run_cases(by_name(["weighted"]), quick=True, scheduler=scheduler)
    assert text(inline) == text(remote)
    assert cpu > 0                      # the replications really ran on the workers
    assert all(row.ok for outcome in remote for row in outcome.rows)


def test_validate_command_takes_a_scheduler(scheduler: str) -> None:
    result = CliRunner().invoke(main, ["validate", "weighted", "--quick", "--scheduler",
                                       scheduler])
    assert result.exit_code == 0, result.output
    assert "pass; " in result.output and scheduler in result.output
    bad = CliRunner().invoke(main, ["validate", "weighted", "--quick", "--jobs", "2",
                                    "--scheduler", scheduler])
    assert bad.exit_code == 2
