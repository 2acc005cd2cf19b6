"""Whole sweeps in this process: the table's bytes, resume, Ctrl-C, replay commands."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from jobsim.scenario.runner import run_scenario, scenarios_dir
from jobsim.sweep import sweep as farm
from jobsim.sweep.grid import PlanError, parse_set
from jobsim.sweep.table import CSV, ROWS, read

from ._support import Shuffled


def _request(tiny: Path, seeds: int = 6, **kw) -> farm.Request:
    return farm.Request(source=str(tiny), seeds=list(range(seeds)),
                        sets=[parse_set("system.concurrency=1,2")], variants=None,
                        scale=1.0, **kw)


def _bytes(folder: Path) -> tuple[bytes, bytes]:
    return (folder / ROWS).read_bytes(), (folder / CSV).read_bytes()


def test_table_bytes_do_not_depend_on_completion_order(tiny: Path, tmp_path: Path) -> None:
    tables = []
    for order in range(3):
        farm.run(_request(tiny), tmp_path / str(order), scenarios_dir(),
                 engine=Shuffled(order))
        tables.append(_bytes(tmp_path / str(order)))
    assert tables[0] == tables[1] == tables[2]
    rows = read(tmp_path / "0")
    assert len(rows) == 2 * 2 * 6
    assert [(r["point"], r["variant"], r["seed"]) for r in rows[:7]] == [
        *(("system.concurrency=1", "", s) for s in range(6)),
        ("system.concurrency=1", "basic", 0)]
    assert b"wall" not in tables[0][0]                   # no wall-clock field


def test_rows_judge_outcomes_and_replay(tiny: Path, tmp_path: Path) -> None:
    """A row says what happened to the jobs; its replay command reproduces the run."""
    _, rows = farm.run(_request(tiny), tmp_path, scenarios_dir(), engine=Shuffled())
    failing = [r for r in rows if r["verdict"] == "FAIL"]
    assert failing, "basic fetch under a crash must lose jobs in some seed"
    row = failing[0]
    assert row["variant"] == "basic" and row["metrics"]["jobs.lost"] > 0
    assert row["verdicts"]["check:no_loss"] is False
    words = shlex.split(row["replay"])
    assert words[:3] == ["jobsim", "simulate", f"points/{row['point']}.yaml"]
    replayed = run_scenario(str(tmp_path / words[2]), seed=int(words[4]), variant=words[-1])
    assert replayed.metrics["history_digest"] == row["digest"]
    assert replayed.metrics["jobs"]["lost"] == row["metrics"]["jobs.lost"]
    assert all(r["verdict"] == "PASS" for r in rows if r["variant"] == "")


def test_resume_runs_only_missing_tasks(tiny: Path, tmp_path: Path) -> None:
    first = Shuffled()
    farm.run(_request(tiny, seeds=3), tmp_path / "grown", scenarios_dir(), engine=first)
    more = Shuffled(1)
    farm.run(_request(tiny, seeds=6), tmp_path / "grown", scenarios_dir(), engine=more)
    assert (first.ran, more.ran) == (12, 12)
    again = Shuffled(2)
    farm.run(_request(tiny, seeds=6), tmp_path / "grown", scenarios_dir(), engine=again)
    assert again.ran == 0
    farm.run(_request(tiny, seeds=6), tmp_path / "fresh", scenarios_dir(), engine=Shuffled())
    assert _bytes(tmp_path / "grown") == _bytes(tmp_path / "fresh")


def test_interrupt_keeps_whole_rows_then_resumes(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        farm.run(_request(tiny), tmp_path / "cut", scenarios_dir(), engine=Shuffled(3, 7))
    lines = (tmp_path / "cut" / ROWS).read_bytes().splitlines()
    assert len(lines) == 7 and all(line.endswith(b"}") for line in lines)
    rest = Shuffled(4)
    farm.run(_request(tiny), tmp_path / "cut", scenarios_dir(), engine=rest)
    assert rest.ran == 24 - 7
    farm.run(_request(tiny), tmp_path / "whole", scenarios_dir(), engine=Shuffled())
    assert _bytes(tmp_path / "cut") == _bytes(tmp_path / "whole")


def test_a_folder_of_another_sweep_is_refused(tiny: Path, tmp_path: Path) -> None:
    farm.run(_request(tiny, seeds=1), tmp_path, scenarios_dir(), engine=Shuffled())
    other = _request(tiny, seeds=1)
    other.scale = 0.5
    with pytest.raises(PlanError, match="another scale"):
        farm.run(other, tmp_path, scenarios_dir(), engine=Shuffled())


def test_a_folder_another_live_sweep_holds_is_refused_and_left_alone(tiny: Path,
                                                                     tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from click.testing import CliRunner

    from jobsim.cli import main
    from jobsim.scenario.lock import OutputError
    from jobsim.sweep.command import _folder_lock

    out = tmp_path / "farm"
    lock = tmp_path / ".farm.lock"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(f"{holder.pid}\n")
        result = CliRunner().invoke(main, ["sweep", str(tiny), "--seeds", "2", "--out",
                                           str(out)])
        assert result.exit_code == 2, result.output
        assert "another jobsim run" in result.output and str(holder.pid) in result.output
        assert not out.exists()                      # nothing written beside its rows
    finally:
        holder.kill()
        holder.wait()
    with _folder_lock(out):                          # control: a dead holder's lock is taken
        assert lock.read_text().strip() == str(os.getpid())
    assert not lock.exists()
    with _folder_lock(out), pytest.raises(OutputError), _folder_lock(out):  # a live one
        pass                                                               # refuses


def test_a_file_without_a_name_is_named_after_the_file(tiny: Path, tmp_path: Path) -> None:
    """As ``jobsim simulate`` names it: the default folder and summary title follow the
    file, so two unnamed scenarios never share reports/sweeps/<name>/."""
    nameless = tmp_path / "payments.yaml"
    nameless.write_text("\n".join(line for line in tiny.read_text().splitlines()
                                  if not line.startswith("name:")))
    request = farm.Request(source=str(nameless), seeds=[0], sets=[], variants=None, scale=1.0)
    assert farm.plan(request, scenarios_dir()).meta["scenario"] == "payments"


def _noted(tmp_path: Path, tiny: Path) -> Path:
    """tiny with a sidekiq.yml holding a key jobsim does not model (one loading note)."""
    (tmp_path / "sidekiq.yml").write_text(":pidfile: tmp/sidekiq.pid\n:concurrency: 2\n")
    path = tmp_path / "noted.yaml"
    path.write_text(tiny.read_text().replace(
        "system: {", "system: {sidekiq_yml: sidekiq.yml, "))
    return path


def test_a_task_does_not_repeat_the_files_loading_notes(tiny: Path, tmp_path: Path) -> None:
    """The sweep command says a sidekiq.yml note once; each worker's task loads the file
    again and, before, printed it again in Python's warning format."""
    import warnings

    from jobsim.scenario.sidekiq_yml import SidekiqYmlWarning
    from jobsim.sweep import task

    request = farm.Request(source=str(_noted(tmp_path, tiny)), seeds=[0], sets=[],
                           variants=None, scale=1.0)
    with pytest.warns(SidekiqYmlWarning, match="pidfile"):     # the command reports it
        spec = farm.plan(request, scenarios_dir()).specs[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        row = task.run(spec)
    assert row["verdict"] == "PASS", row
    assert not [w for w in caught if issubclass(w.category, SidekiqYmlWarning)]
