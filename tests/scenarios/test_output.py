"""Output folders are whole or absent, locked, checked before the run; the guard gives
every failure its exit code (2 input, 3 bug, 130 Ctrl-C) and never a traceback for input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobsim.cli import main
from jobsim.guard import REPORT_HINT
from jobsim.scenario import staging
from jobsim.scenario.lock import FolderLock

SCENARIOS = Path(__file__).parents[2] / "scenarios"
BLACK_FRIDAY = SCENARIOS / "black_friday.yaml"
FAST = ("--scale", "0.01", "--quiet")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def one_line(err: str) -> str:
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def previous_run(folder: Path) -> dict[str, bytes]:
    """A stand-in for an earlier run's folder: what must survive a failed run intact."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text('{"history_digest": "sha256:old"}\n')
    (folder / "history.jsonl.gz").write_bytes(b"old history")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_a_run_replaces_the_previous_one_as_a_whole(tmp_path: Path) -> None:
    out = tmp_path / "bf"
    previous_run(out)
    (out / "notes.txt").write_text("mine")
    code, _, err = invoke("simulate", str(BLACK_FRIDAY), "--out", str(out), *FAST)
    assert code == 0, err
    assert (out / "history.jsonl.gz").read_bytes() != b"old history"
    assert "sha256:old" not in (out / "metrics.json").read_text()
    assert (out / "notes.txt").read_text() == "mine"          # the user's file is kept
    assert leftovers(tmp_path) == []


def test_all_variants_replace_the_whole_set(tmp_path: Path) -> None:
    out = tmp_path / "bf"
    previous_run(out / "gone_variant")
    code, _, err = invoke("simulate", str(BLACK_FRIDAY), "--all-variants", "--out", str(out),
                          *FAST)
    assert code in (0, 1), err
    names = {p.name for p in out.iterdir()}
    assert {"compare.html", "metrics.json", "single_fifo"} <= names
    assert "gone_variant" not in names
    assert leftovers(tmp_path) == [] and leftovers(out) == []


def test_a_failed_run_leaves_the_previous_folder_untouched(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    out = tmp_path / "bf"
    before = previous_run(out)

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device", str(out / "history.jsonl.gz"))

    monkeypatch.setattr("jobsim.scenario.output.write_run", broken)
    code, _, err = invoke("simulate", str(BLACK_FRIDAY), "--out", str(out), *FAST)
    assert code == 2
    assert "No space left on device" in one_line(err)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(("signum", "code", "said"), [
    (signal.SIGINT, 130, "jobsim: interrupted"),
    (signal.SIGTERM, 143, "jobsim: terminated"),
], ids=["ctrl_c", "sigterm"])
def test_a_signal_mid_run_exits_cleanly_and_leaves_no_partial_files(
        tmp_path: Path, signum: int, code: int, said: str) -> None:
    out = tmp_path / "bf"
    before = previous_run(out)
    jobsim = [sys.executable, "-c", "from jobsim.cli import main; main()"]
    proc = subprocess.Popen([*jobsim, "simulate", str(BLACK_FRIDAY), "--scale", "0.5",
                             "--out", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    staged = tmp_path / f".bf.tmp-{proc.pid}"
    deadline = time.monotonic() + 60
    while not staged.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)                                  # well inside the simulation
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err and err.strip() == said
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert leftovers(tmp_path) == []


def test_a_second_run_into_a_locked_folder_exits_2(tmp_path: Path) -> None:
    out = tmp_path / "bf"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".bf.lock").write_text(f"{holder.pid}\n")
        started = time.monotonic()
        code, _, err = invoke("simulate", str(BLACK_FRIDAY), "--out", str(out), *FAST)
        assert code == 2
        assert f"another jobsim run (pid {holder.pid})" in one_line(err)
        assert time.monotonic() - started < 5            # refused before simulating
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()


def test_two_concurrent_runs_into_one_folder_one_refused(tmp_path: Path) -> None:
    out = tmp_path / "bf"
    jobsim = [sys.executable, "-c", "from jobsim.cli import main; main()"]
    args = ["simulate", str(BLACK_FRIDAY), "--scale", "0.05", "--out", str(out), "--quiet"]
    first = subprocess.Popen([*jobsim, *args], stderr=subprocess.PIPE, text=True)
    lock = tmp_path / ".bf.lock"
    deadline = time.monotonic() + 30
    while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    second = subprocess.run([*jobsim, *args], capture_output=True, text=True, timeout=120)
    _, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, first_err
    assert second.returncode == 2, second.stderr
    assert "another jobsim run" in one_line(second.stderr)
    assert (out / "metrics.json").is_file() and leftovers(tmp_path) == []


def test_a_stale_lock_from_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".bf.lock").write_text(f"{dead.pid}\n")
    (tmp_path / f".bf.tmp-{dead.pid}").mkdir()             # its abandoned staging folder
    code, _, err = invoke("simulate", str(BLACK_FRIDAY), "--out", str(tmp_path / "bf"), *FAST)
    assert code == 0, err
    assert leftovers(tmp_path) == []


def test_lock_refuses_a_live_holder_and_releases_its_own(tmp_path: Path) -> None:
    first, second = FolderLock(tmp_path / "x"), FolderLock(tmp_path / "x")
    first.acquire()
    with pytest.raises(staging.OutputError, match="another jobsim run"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()
    assert not (tmp_path / ".x.lock").exists()


@pytest.mark.parametrize("where", ["file", "under_file", "proc"])
def test_unwritable_out_fails_before_the_run(tmp_path: Path, where: str) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = {"file": blocker, "under_file": blocker / "out",
           "proc": Path("/proc/jobsim-cannot-write")}[where]
    started = time.monotonic()
    code, _, err = invoke("simulate", str(BLACK_FRIDAY), "--scale", "1", "--quiet",
                          "--out", str(out))
    assert code == 2
    assert str(out) in one_line(err) or str(out.parent) in err
    assert time.monotonic() - started < 5                   # no full-scale run first


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_read_only_out_fails_before_the_run(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        code, _, err = invoke("simulate", str(BLACK_FRIDAY), "--out", str(tmp_path / "o"),
                              *FAST)
    finally:
        tmp_path.chmod(0o700)
    assert code == 2 and "Permission denied" in one_line(err)


def test_full_out_fails_before_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                      ) -> None:
    class Usage:
        free = 0

    monkeypatch.setattr(staging.shutil, "disk_usage", lambda path: Usage())
    started = time.monotonic()
    code, _, err = invoke("simulate", str(BLACK_FRIDAY), "--scale", "1", "--quiet",
                          "--out", str(tmp_path / "bf"))
    assert code == 2 and "no space left" in one_line(err)
    assert time.monotonic() - started < 5
    assert leftovers(tmp_path) == [] and not (tmp_path / "bf").exists()


def test_foreign_folder_is_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("years of work")
    code, _, err = invoke("simulate", str(BLACK_FRIDAY), "--out", str(tmp_path), *FAST)
    assert code == 2 and "not a jobsim run" in one_line(err)
    assert (tmp_path / "thesis.tex").read_text() == "years of work"


def scenario_file(path: Path, name: str | None) -> Path:
    text = BLACK_FRIDAY.read_text().replace("name: black_friday\n", "")
    path.write_text((f"name: {name}\n" if name else "") + text)
    return path


def test_a_long_name_fails_before_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.chdir(tmp_path)
    path = scenario_file(tmp_path / "long.yaml", "n" * 256)
    started = time.monotonic()
    code, _, err = invoke("simulate", str(path), "--scale", "1", "--quiet")
    assert code == 2
    assert "too long" in one_line(err) and "name" in err
    assert time.monotonic() - started < 5
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())


@pytest.mark.parametrize("file_name", ["...yaml", "..yaml", ".hidden.yaml"])
def test_file_stems_cannot_escape_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          file_name: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    path = scenario_file(work / file_name, None)
    code, _, err = invoke("simulate", str(path), *FAST)
    assert code == 2 and "cannot name a folder" in one_line(err)
    assert sorted(p.name for p in work.iterdir()) == [file_name]    # nothing written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


# ---- the guard ----------------------------------------------------------------------
def raising(exc: BaseException) -> Callable[..., None]:
    def run(*args: object, **kwargs: object) -> None:
        raise exc
    return run


@pytest.mark.parametrize(("exc", "needle"), [
    (MemoryError(), "out of memory"),
    (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
    (PermissionError(13, "Permission denied", "/x/y"), "/x/y: Permission denied"),
])
def test_environment_errors_exit_2_with_one_line(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 exc: BaseException, needle: str) -> None:
    monkeypatch.setattr("jobsim.scenario.runner.run_scenario", raising(exc))
    code, _, err = invoke("simulate", str(BLACK_FRIDAY), "--out", str(tmp_path / "o"), *FAST)
    assert code == 2
    assert needle in one_line(err)
    assert leftovers(tmp_path) == [] and not (tmp_path / "o").exists()


def test_a_bug_exits_3_with_a_traceback_never_1(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jobsim.scenario.runner.run_scenario",
                        raising(ZeroDivisionError("planted")))
    code, _, err = invoke("simulate", str(BLACK_FRIDAY), "--out", str(tmp_path / "o"), *FAST)
    assert code == 3
    assert "Traceback" in err and "ZeroDivisionError: planted" in err
    assert err.splitlines()[-1] == REPORT_HINT and "please report" in REPORT_HINT


def test_ctrl_c_in_any_command_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jobsim.scenario.loader.list_scenarios", raising(KeyboardInterrupt()))
    code, _, err = invoke("list")
    assert code == 130 and one_line(err) == "jobsim: interrupted\n"
