"""A sweep on a separately started Dask cluster (``dask scheduler`` + two ``dask
worker`` processes, which .ci/run starts) writes the same table bytes as one run in this
process. Skipped on a laptop without JOBSIM_DASK_SCHEDULER; in CI its absence fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from needs import need

from jobsim.cli import main
from jobsim.scenario.runner import scenarios_dir
from jobsim.sweep import sweep as farm
from jobsim.sweep.grid import parse_set
from jobsim.sweep.table import CSV, ROWS

from ._support import Shuffled

REASON = ("JOBSIM_DASK_SCHEDULER not set: start `dask scheduler` and `dask worker`s and "
          "export its tcp:// address (CI does)")


@pytest.fixture(scope="module")
def scheduler() -> str:
    address = os.environ.get("JOBSIM_DASK_SCHEDULER", "").strip()
    need(bool(address), REASON)
    return address


def test_remote_cluster_writes_the_same_table(scheduler: str, tiny: Path,
                                              tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    result = CliRunner().invoke(main, ["sweep", str(tiny), "--seeds", "5", "--all-variants",
                                       "--set", "system.concurrency=1,2", "--scheduler",
                                       scheduler, "--out", str(remote)])
    assert result.exit_code == 1, result.output      # basic fetch loses jobs in some seed
    request = farm.Request(source=str(tiny), seeds=list(range(5)),
                           sets=[parse_set("system.concurrency=1,2")], variants=None)
    farm.run(request, tmp_path / "here", scenarios_dir(), engine=Shuffled())
    for name in (ROWS, CSV):
        assert (remote / name).read_bytes() == (tmp_path / "here" / name).read_bytes()
