"""Sweeps on a Dask LocalCluster: the same table bytes as in-process, with one worker or
two, and a worker SIGKILLed mid-sweep loses nothing."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest

from jobsim.scenario.runner import scenarios_dir
from jobsim.sweep import sweep as farm
from jobsim.sweep.engine import Dask, open_engine
from jobsim.sweep.grid import parse_set
from jobsim.sweep.table import CSV, ROWS

from ._support import Shuffled

distributed = pytest.importorskip("distributed")


def _request(tiny: Path, seeds: int = 5) -> farm.Request:
    return farm.Request(source=str(tiny), seeds=list(range(seeds)),
                        sets=[parse_set("system.concurrency=1,2")], variants=None)


def _bytes(folder: Path) -> tuple[bytes, bytes]:
    return (folder / ROWS).read_bytes(), (folder / CSV).read_bytes()


def test_one_worker_two_workers_and_in_process_agree(tiny: Path, tmp_path: Path,
                                                      cluster: object) -> None:
    farm.run(_request(tiny), tmp_path / "inline", scenarios_dir(), engine=Shuffled())
    farm.run(_request(tiny), tmp_path / "one", scenarios_dir(), workers=1)
    farm.run(_request(tiny), tmp_path / "two", scenarios_dir(),
             scheduler=cluster.scheduler_address)
    assert _bytes(tmp_path / "inline") == _bytes(tmp_path / "one") == _bytes(tmp_path / "two")


@pytest.mark.slow      # its own two-process cluster: make test-slow (CI runs it)
def test_a_killed_worker_loses_no_task(tiny: Path, tmp_path: Path) -> None:
    """SIGKILL a worker process while tasks run on it: the scheduler reruns its tasks
    elsewhere and the table is whole and identical to an undisturbed sweep's."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=logging.CRITICAL
                                  ) as local, distributed.Client(local) as client:
        pids = list(client.run(os.getpid).values())
        killed: list[int] = []

        def kill_one(done: int, total: int) -> None:
            if done == 3 and not killed:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        farm.run(_request(tiny, seeds=8), tmp_path / "killed", scenarios_dir(),
                 engine=Dask(client), progress=kill_one)
        assert killed, "the sweep finished before a worker could be killed"
        with pytest.raises(ProcessLookupError):
            os.kill(killed[0], 0)
    farm.run(_request(tiny, seeds=8), tmp_path / "calm", scenarios_dir(), engine=Shuffled())
    assert _bytes(tmp_path / "killed") == _bytes(tmp_path / "calm")


def test_engine_reports_completion_indexes(cluster: object) -> None:
    with open_engine(cluster.scheduler_address) as engine:
        results = dict(engine.run(abs, [-3, 4, -5]))
    assert results == {0: 3, 1: 4, 2: 5}
    with open_engine(None, 1, inline_single=True) as engine:
        assert type(engine).__name__ == "Inline"


def test_sweep_command_writes_table_summary_and_page(tiny: Path, tmp_path: Path,
                                                     cluster: object) -> None:
    import json

    from click.testing import CliRunner

    from jobsim.cli import main

    out = tmp_path / "cli"
    result = CliRunner().invoke(main, [
        "sweep", str(tiny), "--seeds", "0..5", "--all-variants", "--set",
        "system.concurrency=1,2", "--scheduler", cluster.scheduler_address, "--out", str(out),
        "--json"])
    assert result.exit_code == 1, result.output          # basic fetch loses jobs
    summary = json.loads(result.output)
    groups = {(g["point"], g["variant"]): g for g in summary["groups"]}
    assert set(groups) == {(f"system.concurrency={c}", v) for c in (1, 2) for v in ("", "basic")}
    base = groups[("system.concurrency=1", "")]
    assert base["verdict"]["passes"] == base["verdict"]["runs"] == 6
    basic = [g for (_, v), g in groups.items() if v == "basic"]
    assert any(g["verdict"]["passes"] < 6 and g["worst"] for g in basic)
    assert all(str(out / "points") in w["replay"] for g in basic for w in g["worst"])
    text = (out / "summary.md").read_text()
    assert "| system.concurrency=1 | base | passed 6/6 | 100.0 % | 61.0 %-100.0 % | 0 |" in text
    page = (out / "sweep.html").read_text()
    assert page.count("<img") == 2 and "Pass rate against system.concurrency" in page
    assert len((out / "rows.csv").read_text().splitlines()) == 1 + 24


def test_workers_on_other_code_are_refused(cluster: object, monkeypatch) -> None:
    """A remote worker that loaded other jobsim code would give other digests."""
    from jobsim.sweep import engine as engine_module
    from jobsim.sweep.engine import EngineError

    with open_engine(cluster.scheduler_address):
        pass                                              # same code: accepted
    # each process its own "code": the client's differs from every worker's
    monkeypatch.setattr(engine_module, "code_fingerprint", lambda: str(os.getpid()))
    with pytest.raises(EngineError, match="other jobsim code"), \
            open_engine(cluster.scheduler_address):
        pass


def test_sweep_command_says_a_sidekiq_yml_note_once(tiny: Path, tmp_path: Path,
                                                    cluster: object) -> None:
    from click.testing import CliRunner

    from jobsim.cli import main

    (tmp_path / "sidekiq.yml").write_text(":pidfile: tmp/sidekiq.pid\n:concurrency: 2\n")
    noted = tmp_path / "noted.yaml"
    noted.write_text(tiny.read_text().replace("system: {", "system: {sidekiq_yml: sidekiq.yml, "))
    result = CliRunner().invoke(main, [
        "sweep", str(noted), "--seeds", "2", "--scheduler", cluster.scheduler_address,
        "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if "pidfile" in line]
    assert notes == [f"jobsim: warning: {tmp_path / 'sidekiq.yml'}: key ':pidfile' is not "
                     "modelled by jobsim; ignored"], result.output
