"""``scale: {threads: true}``: --scale multiplies the worker threads with the load, so an
overload story (black_friday) keeps its backlog at a small scale; a scenario without it
keeps its threads; a fault target that scaling removes is refused before any run. A
workload entry declared ``scale: false`` keeps its size (deploy_storm's long jobs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobsim.cli import main
from jobsim.scenario import ScenarioError
from jobsim.scenario.runner import load, run_scenario, scenarios_dir
from jobsim.scenario.scaling import thread_split
from jobsim.strategies import _scale_entry

from ._black_friday import fixed_threads

CRASH_P3 = """\
description: A crash on the fourth of four processes.
scale: {threads: true}
duration: 10m
system: {processes: 4, concurrency: 10}
workload:
  - {job: SyntheticJob, rate: 1/s}
faults:
  - {type: worker_crash, target: p3, start: 1m}
"""


@pytest.mark.parametrize(("processes", "concurrency", "factor", "split"), [
    (4, 10, 1.0, (4, 10)),
    (4, 10, 0.5, (4, 5)),
    (4, 10, 0.1, (4, 1)),       # 4 threads: one per process
    (4, 10, 0.05, (2, 1)),      # 2 threads: processes go before threads do
    (4, 10, 0.01, (1, 1)),      # never below one thread
    (4, 10, 0.175, (4, 2)),     # 7 threads: 4 x 2, the nearest with every process kept
    (4, 10, 2.0, (4, 20)),      # up: the processes stay, each grows
    (1, 1, 0.001, (1, 1)),
])
def test_the_thread_split(processes: int, concurrency: int, factor: float,
                          split: tuple[int, int]) -> None:
    assert thread_split(processes, concurrency, factor) == split


def test_black_friday_scales_its_threads_in_the_base_and_every_variant() -> None:
    base = load("black_friday")
    assert base.scaling.threads
    for scenario in (base, *base.variants.values()):
        scaled = scenario.scaled(0.05)
        assert (scaled.system.processes, scaled.system.concurrency) == (2, 1)
        assert scaled.scaling.unscaled == (4, 10)
    # scaling in two steps rounds once, from the declared threads
    twice = base.scaled(0.5).scaled(0.1)
    assert (twice.system.processes, twice.system.concurrency) == (2, 1)
    assert twice.variants["single_fifo"].system.concurrency == 1


def test_a_scenario_without_it_keeps_its_threads(tmp_path: Path) -> None:
    """Negative control: the same file with threads: false scales only the load."""
    scaled = load(fixed_threads(tmp_path)).scaled(0.05)
    assert (scaled.system.processes, scaled.system.concurrency) == (4, 10)
    assert not load("duplicate_emails").scaling.threads


def test_the_run_records_and_reports_the_threads_it_had() -> None:
    result = run_scenario("black_friday", variant="single_fifo", scale=0.05)
    config = result.history.events[0]
    assert config[1] == "config"
    assert (config[3]["processes"], config[3]["concurrency"]) == (2, 1)
    assert result.metrics["system"] == {"processes": 2, "concurrency": 1, "threads": 1}
    assert result.metrics["scale"] == 0.05


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_fifo_reproduces_at_five_per_cent(seed: int) -> None:
    result = run_scenario("black_friday", variant="single_fifo", scale=0.05, seed=seed)
    assert result.verdict == "REPRODUCED", result.metrics["expectations"]


def test_without_thread_scaling_single_fifo_does_not_reproduce(tmp_path: Path) -> None:
    """The negative control: 40 threads at 5 % of the load have no backlog."""
    result = run_scenario(fixed_threads(tmp_path), variant="single_fifo", scale=0.05, seed=0)
    assert result.verdict == "NOT REPRODUCED"
    assert result.metrics["queues"]["default"]["latency_p99_s"] < 60


@pytest.mark.parametrize("variant", [None, "strict_order"])
def test_the_weighted_and_strict_stories_still_pass_at_ten_per_cent(variant: str | None) -> None:
    result = run_scenario("black_friday", variant=variant, scale=0.1)
    assert result.verdict == "PASS", result.metrics["expectations"]


def test_a_process_target_scaling_removes_is_one_exit_2_line(tmp_path: Path) -> None:
    path = tmp_path / "crash.yaml"
    path.write_text(CRASH_P3)
    load(path, scale=0.1)                    # 4 x 1 threads: p3 is still there
    with pytest.raises(ScenarioError):
        load(path, scale=0.05)               # 2 x 1: it is not
    result = CliRunner().invoke(main, ["simulate", str(path), "--scale", "0.05",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr == (
        f"{path}:8:26: faults[0].target: fault 'worker_crash' targets process 'p3', which "
        "does not exist at --scale 0.05: scale: {threads: true} turns 4 processes x 10 "
        "threads into 2 x 1 (p0..p1); target one of those, or use a larger --scale\n")
    assert not (tmp_path / "out").exists()


def test_the_sweep_refuses_it_before_any_task(tmp_path: Path) -> None:
    path = tmp_path / "crash.yaml"
    path.write_text(CRASH_P3)
    result = CliRunner().invoke(main, ["sweep", str(path), "--scale", "0.05", "--seeds", "2",
                                       "--out", str(tmp_path / "sweep")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}:8:26: faults[0].target: fault 'worker_crash'")
    assert "--scale 0.05" in result.stderr and "Traceback" not in result.stderr


def test_a_python_built_scenario_is_refused_at_run_time(tmp_path: Path) -> None:
    path = tmp_path / "crash.yaml"
    path.write_text(CRASH_P3)
    with pytest.raises(ScenarioError, match=r"targets process 'p3'.*--scale 0\.05"):
        run_scenario(load(path), scale=0.05)


def test_the_schema_has_the_key() -> None:
    result = CliRunner().invoke(main, ["schema"])
    schema = json.loads(result.stdout)
    assert schema["properties"]["scale"]["properties"] == {"threads": {"type": "boolean"}}
    assert schema["properties"]["scale"]["additionalProperties"] is False


KEPT = """\
description: Long jobs that keep their rate beside a load that scales.
duration: 10m
system: {processes: 2, concurrency: 5}
workload:
  - {job: SyntheticJob, rate: 0.5/s, scale: false}
  - {job: SyntheticJob, count: 1000, spread: 5m}
  - {job: SyntheticJob, burst: 40, at: 1m, scale: true}
variants:
  more:
    workload:
      - {job: SyntheticJob, count: 200, scale: false}
      - {job: SyntheticJob, rate: 2/s}
"""


def test_an_entry_declared_scale_false_keeps_its_size(tmp_path: Path) -> None:
    path = tmp_path / "kept.yaml"
    path.write_text(KEPT)
    base = load(path)
    scaled = base.scaled(0.05)
    assert scaled.workload[0].rate == 0.5                     # kept
    assert [e.count for e in scaled.workload[1:]] == [50, 2]  # scaled, as without the key
    more = scaled.variants["more"]
    assert (more.workload[0].count, more.workload[1].rate) == (200, pytest.approx(0.1))
    assert base.scaled(3).workload[0].rate == 0.5             # up as well as down
    # the strategy that scales documents treats the key the same way
    assert _scale_entry({"job": "J", "rate": "0.5/s", "scale": False}, 0.05)["rate"] == "0.5/s"
    assert _scale_entry({"job": "J", "rate": "0.5/s"}, 0.05)["rate"] == "0.025/s"


def test_scale_in_an_entry_must_be_a_boolean(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(KEPT.replace("scale: false}", "scale: no_thanks}", 1))
    result = CliRunner().invoke(main, ["simulate", str(path), "--quiet", "--out",
                                       str(tmp_path / "out")])
    assert result.exit_code == 2
    assert f"{path}:5:" in result.output
    assert "workload[0].scale: expected true or false, got 'no_thanks'" in result.output


@pytest.mark.parametrize("seed", [1, 3, 4, 7, 9])
@pytest.mark.parametrize("variant", [None, "basic_fetch"])
def test_deploy_storm_keeps_its_story_at_five_per_cent(seed: int, variant: str | None) -> None:
    """Its long jobs keep their rate (scale: false), so every deploy finds some in flight;
    these seeds lost the story when they scaled with the load (negative control below)."""
    result = run_scenario("deploy_storm", variant=variant, scale=0.05, seed=seed)
    assert result.verdict == ("REPRODUCED" if variant else "PASS"), \
        result.metrics["expectations"]


def test_deploy_storm_without_it_has_nothing_to_recover(tmp_path: Path) -> None:
    """Negative control: the same file with the long jobs scaled with the load."""
    text = (scenarios_dir() / "deploy_storm.yaml").read_text()
    assert "scale: false" in text
    path = tmp_path / "scaled_long_jobs.yaml"
    path.write_text(text.replace(" scale: false,", ""))
    result = run_scenario(path, scale=0.05, seed=3)
    assert result.metrics["checks"]["no_loss"]["stats"]["recovered"] == 0
    assert result.verdict == "FAIL"
