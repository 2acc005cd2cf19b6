"""The CLI's public contract: exit codes, one-line errors, the files a run writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobsim.cli import main
from jobsim.scenario import ScenarioError
from jobsim.scenario.runner import load

BAD = Path(__file__).parents[1] / "unit" / "scenario" / "bad"
BAD_FILES = sorted(BAD.glob("*.yaml"))


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_there_are_at_least_twenty_malformed_files() -> None:
    assert len(BAD_FILES) >= 20


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.stem)
def test_malformed_file_exits_2_with_the_loaders_exact_message(path: Path) -> None:
    with pytest.raises(ScenarioError) as expected:
        load(path)
    code, _, err = invoke("simulate", str(path), "--quiet")
    assert code == 2
    assert err == f"{expected.value}\n"   # FILE:LINE:COL first, for editors
    assert "Traceback" not in err


@pytest.mark.parametrize(("args", "needle"), [
    (["simulate", "no_such_scenario"], "unknown scenario 'no_such_scenario'"),
    (["simulate", "black_friday", "--variant", "nope"], "unknown variant 'nope'"),
    (["simulate", "black_friday", "--scale", "0"], "--scale: must be a finite number"),
    (["simulate", "black_friday", "--broker", "mongo://x"], "--broker: expected memory"),
    (["simulate", "black_friday", "--broker", "redis://127.0.0.1:1/0", "--scale", "0.01"],
     "Connection refused"),
    (["check", "does/not/exist.jsonl.gz"], "no such file"),
    (["bench", "no_such_suite"], "unknown benchmark"),
])
def test_bad_usage_exits_2_with_one_line(args: list[str], needle: str) -> None:
    code, _, err = invoke(*args)
    assert code == 2, err
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_simulate_writes_the_run_and_check_reproduces_its_verdicts(tmp_path: Path) -> None:
    code, out, _ = invoke("simulate", "black_friday", "--scale", "0.02", "--out",
                          str(tmp_path), "--quiet")
    assert code == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {"metrics.json", "summary.md", "history.jsonl.gz"} <= names
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("scenario", "variant", "seed", "broker", "history_digest", "sim_seconds",
                "wall_seconds", "jobs", "effects", "queues", "retries", "checks",
                "expectations"):
        assert key in metrics
    assert metrics["jobs"]["enqueued"] == metrics["jobs"]["succeeded"] > 0
    code, out, _ = invoke("check", str(tmp_path / "history.jsonl.gz"), "--json")
    assert code == 0
    rechecked = json.loads(out)
    assert set(rechecked) == set(metrics["checks"])
    for name, verdict in rechecked.items():
        assert verdict["violations"] == metrics["checks"][name]["violations"]


def test_a_failing_expectation_exits_1(tmp_path: Path) -> None:
    # At 2 % scale there is no analytics backlog, so the FIFO variant's "p99 >= 60 s"
    # expectation cannot hold: the run must say so with exit 1.
    code, _, _ = invoke("simulate", "black_friday", "--variant", "single_fifo",
                        "--scale", "0.02", "--out", str(tmp_path), "--quiet")
    metrics = json.loads((tmp_path / "single_fifo" / "metrics.json").read_text())
    assert [e["metric"] for e in metrics["expectations"] if not e["ok"]] == [
        "queues.default.latency_p99_s"]
    assert code == 1


def test_list_names_every_builtin_scenario() -> None:
    code, out, _ = invoke("list")
    assert code == 0
    for path in (Path(__file__).parents[2] / "scenarios").glob("*.yaml"):
        assert path.stem in out


def test_bench_core_json_is_one_object_with_the_core_figures() -> None:
    code, out, _ = invoke("bench", "core", "--json", "--quick")
    assert code == 0
    figures = json.loads(out)
    assert figures["suite"] == "core"
    for key in ("jobs_per_s", "simpy_timeouts_per_s", "cost_in_timeouts", "peak_bytes_per_job"):
        assert figures[key] > 0
    assert figures["cost_in_timeouts"] == pytest.approx(
        figures["simpy_timeouts_per_s"] / figures["jobs_per_s"], rel=1e-6)


def test_progress_bar_renders_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a real terminal the bar is drawn before the first tick and at every tick; a
    task without a total once crashed that first drawing (TypeError in the column)."""
    import io

    from rich.console import Console

    from jobsim import cli

    screen = io.StringIO()
    monkeypatch.setattr(cli, "errors", Console(file=screen, force_terminal=True, width=100))
    with cli._progress(False, "demo") as tick:
        assert tick is not None
        tick(0.0, 100.0)
        tick(50.0, 100.0)
    assert "50/100 sim s" in screen.getvalue()
