"""``jobsim report ...`` through click: outputs, exit codes, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobsim.history.history import History
from jobsim.report import commands


def test_duration_and_client_parsing() -> None:
    assert commands.duration("10m", "--recover") == 600.0
    assert commands.duration("1.5h", "--recover") == 5400.0
    assert commands.duration("90", "--recover") == 90.0
    assert commands.client_counts("10..30") == [10, 20, 30]
    assert commands.client_counts("5..20:5") == [5, 10, 15, 20]
    assert commands.client_counts("3,1,3") == [1, 3]
    with pytest.raises(SystemExit) as exc:
        commands.duration("soon", "--recover")
    assert exc.value.code == 2


def test_retries_command_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = CliRunner().invoke(commands.report, [
        "retries", "--policy", "sidekiq", "--policy", "exponential:jitter=none,base=1,cap=60",
        "--jobs", "20", "--recover", "2m", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["workload"] == {"jobs": 20, "recover_s": 120.0, "retries": 25, "seed": 1,
                               "source": ""}
    assert {"report.html", "summary.md", "load.png", "cumulative.png"} <= \
        {p.name for p in out.iterdir()}


def test_retries_command_rejects_a_bad_policy(tmp_path: Path) -> None:
    result = CliRunner().invoke(commands.report, ["retries", "--policy", "exponential:cap=-1",
                                                  "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--policy" in result.output and "Traceback" not in result.output


def test_retries_from_a_scenario_reads_its_backoff_and_history(tmp_path: Path,
                                                               history: History) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\nworkload:\n"
                        "  - {job: NoopJob, count: 1, backoff: 'exponential:jitter=full'}\n"
                        "  - {job: NoopJob, count: 1, jitter: 0.15}\n")
    saved = tmp_path / "history.jsonl.gz"
    history.to_jsonl(saved)                       # one sidekiq retry, retried once
    out = tmp_path / "r"
    result = CliRunner().invoke(commands.report, [
        "retries", "--scenario", str(scenario), "--jobs", "10", "--out", str(out),
        "--history", str(saved)])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "metrics.json").read_text())
    assert [p["policy"] for p in doc["policies"]] == ["exponential:jitter=full",
                                                      "sidekiq:j=0.15", "sidekiq"]
    assert doc["measured"] == {"retries_by_policy": {"sidekiq": [1]}, "retried_executions": 1}
    assert (out / "measured-delays-sidekiq.png").exists()


@pytest.mark.parametrize(("text", "reason"), [
    ("- a\n- b\n", ":1:1: expected a mapping at the top level, got a list"),
    ("name: s\nworkload: [\n", ":3:1: invalid YAML: expected the node content"),
    ("name: s\nworkload: 5\n", None),             # no workload list: no policies from it
])
def test_retries_reads_any_scenario_file_without_a_traceback(
        tmp_path: Path, text: str, reason: str | None) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(text)
    result = CliRunner().invoke(commands.report, [
        "retries", "--scenario", str(scenario), "--jobs", "5", "--retries", "2",
        "--out", str(tmp_path / "r")])
    if reason is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1                 # one line
    assert result.output.startswith(f"jobsim: --scenario: {scenario}{reason}")


def test_retries_rejects_an_unknown_scenario(tmp_path: Path) -> None:
    result = CliRunner().invoke(commands.report, ["retries", "--scenario", "no_such_story",
                                                  "--out", str(tmp_path)])
    assert result.exit_code == 2 and "no scenario 'no_such_story'" in result.output


def test_contention_exit_code_states_the_verdict(tmp_path: Path) -> None:
    result = CliRunner().invoke(commands.report, [
        "backoff-contention", "--clients", "2,3", "--reps", "1", "--out", str(tmp_path)])
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert result.exit_code == (0 if doc["reproduced"] else 1)
    assert ("REPRODUCED" in result.output)


def test_retries_never_overwrites_a_report_silently(tmp_path: Path) -> None:
    args = ["retries", "--policy", "sidekiq", "--jobs", "20", "--out", str(tmp_path)]
    first = CliRunner().invoke(commands.report, args)
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(commands.report, args)
    assert again.exit_code == 2 and "already holds a report" in again.output
    forced = CliRunner().invoke(commands.report, [*args, "--force", "--json"])
    assert forced.exit_code == 0
    assert json.loads(forced.stdout)["policies"][0]["policy"] == "sidekiq"


def test_report_run_json_is_the_metrics_and_the_page(tmp_path: Path) -> None:
    from jobsim.scenario.output import write_run
    from jobsim.scenario.runner import run_scenario

    result = run_scenario("black_friday", scale=0.005)
    write_run(tmp_path, result.metrics, result.history, result.charts)
    done = CliRunner().invoke(commands.report, ["run", str(tmp_path), "--json"])
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    assert document["report"] == str(tmp_path / "report.html")
    assert document["metrics"]["history_digest"] == result.metrics["history_digest"]
