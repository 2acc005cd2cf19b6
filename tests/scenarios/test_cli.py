"""The CLI's public contract: exit codes, one-line errors, the files a run writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobsim.cli import main
from jobsim.scenario import ScenarioError
from jobsim.scenario.runner import load

from ._black_friday import fixed_threads

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
    (["simulate", "black_friday", "--seed", "-5"], "--seed: must be an integer >= 0, got -5"),
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
    saved = str(tmp_path / "history.jsonl.gz")
    for spec, needle in [("priority:alpah=0.1", "no option 'alpah' (did you mean 'alpha'?)"),
                         ("retry_spread:window_s=fast", "'window_s' must be a positive number"),
                         ("priority:alpha", "expected NAME:KEY=VALUE"),
                         ("no_such_check", "unknown check 'no_such_check'")]:
        code, _, err = invoke("check", saved, "--check", spec)
        assert code == 2 and needle in err and err.count("\n") == 1, err
    code, out, _ = invoke("check", saved, "--check",
                          "priority:latency_bounds.default=0,alpha=0.5", "--json")
    assert code in (0, 1)
    assert json.loads(out)["priority"]["stats"]["latency_bounds"] == {"default": 0}


def test_a_failing_expectation_exits_1(tmp_path: Path) -> None:
    # At 2 % scale with its 40 threads kept there is no analytics backlog, so the FIFO
    # variant's "p99 >= 60 s" expectation cannot hold: the run must say so with exit 1.
    code, _, _ = invoke("simulate", str(fixed_threads(tmp_path)), "--variant", "single_fifo",
                        "--scale", "0.02", "--out", str(tmp_path / "out"), "--quiet")
    metrics = json.loads((tmp_path / "out" / "single_fifo" / "metrics.json").read_text())
    assert [e["metric"] for e in metrics["expectations"] if not e["ok"]] == [
        "queues.default.latency_p99_s"]
    assert code == 1


def test_list_names_every_builtin_scenario() -> None:
    code, out, _ = invoke("list")
    assert code == 0
    for path in (Path(__file__).parents[2] / "scenarios").glob("*.yaml"):
        assert path.stem in out
    # Every line keeps to 80 columns, and every story starts in the story column, even
    # under a name wider than the name column (celery_visibility_timeout).
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "celery_visibility_timeout" in lines              # alone on its line
    story = lines.index("celery_visibility_timeout") + 1
    assert lines[story].startswith(" " * 21 + "A campaign")


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
    """On a real terminal the bar shows simulated time as h:mm of the total, an ETA and
    the phase after the run; a task without a total once crashed the first drawing."""
    import io

    from rich.console import Console

    from jobsim import cli

    screen = io.StringIO()
    monkeypatch.setattr(cli, "errors", Console(file=screen, force_terminal=True, width=120))
    with cli._progress(False, "demo (variant 2 of 3)") as bar:
        bar.tick(0.0, 7800.0)
        bar.tick(2700.0, 7800.0)
        bar.phase("checking")
    text = screen.getvalue()
    assert "0:45/2:10 sim" in text
    assert "ETA" in text and "checking" in text and "variant 2 of 3" in text


def test_hmm_formats_simulated_time() -> None:
    from jobsim.cli import hmm

    assert [hmm(s) for s in (0, 59, 60, 3599, 3600, 7810)] == [
        "0:00", "0:00", "0:01", "0:59", "1:00", "2:10"]


def test_simulate_json_prints_the_metrics_document_and_nothing_else(tmp_path: Path) -> None:
    code, out, _ = invoke("simulate", "black_friday", "--scale", "0.01", "--out",
                          str(tmp_path), "--json")
    document = json.loads(out)
    assert code == 0 and document["verdict"] == "PASS"
    assert document == json.loads((tmp_path / "metrics.json").read_text())
    assert "latency_p99_s" in document["jobs_by_class"]["PaymentProcessingJob"]


def test_quiet_prints_the_one_line_verdict_and_reproduces_words(tmp_path: Path) -> None:
    # At 1 % scale on 40 threads there is no backlog: single_fifo does not reproduce.
    code, out, _ = invoke("simulate", str(fixed_threads(tmp_path)), "--scale", "0.01", "--out",
                          str(tmp_path / "out"), "--quiet", "--variant", "single_fifo")
    assert (code, out) == (1, "black_friday/single_fifo: NOT REPRODUCED\n")


def test_all_variants_lead_with_the_story_line(tmp_path: Path) -> None:
    # At 2 % scale black_friday scales its threads too: single_fifo has its backlog.
    code, out, _ = invoke("simulate", "black_friday", "--scale", "0.02", "--out",
                          str(tmp_path), "--all-variants")
    first = out.splitlines()[0]
    assert first.startswith("How long do payments wait at the sale peak? payments p99 wait:")
    assert "(base), " in first and "(single_fifo)" in first and "(strict_order)" in first
    assert out.splitlines()[-1] == ("black_friday: PASS: PASS (base), "
                                    "PASS (strict_order), REPRODUCED (single_fifo)")
    assert code == 0
    # the story line (first) and the verdict line (last) are never wrapped; tables fit
    tables = [line for line in out.splitlines()[1:-1] if not line.startswith(("  ", "sim "))]
    assert max(len(line) for line in tables) <= 80      # paths and digests may run on
