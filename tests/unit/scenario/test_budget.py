"""Run-size budgets: oversized runs are refused before they start, with the estimate and
the flag; every built-in run fits; a real run stays below its estimate."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobsim.cli import main
from jobsim.scenario import budget
from jobsim.scenario.budget import check_budget, estimate
from jobsim.scenario.runner import load, run_scenario, scenarios_dir

HEAD = "description: d\nduration: 1h\n"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stderr


@pytest.mark.parametrize("body", [
    "workload: [{job: SyntheticJob, count: 1000000000}]",
    "workload: [{job: SyntheticJob, burst: 1000000000}]",
    "plugins: [jobsim.shop]\nworkload: [{job: NotificationDeliveryJob, fanout: 1000000000}]",
    "workload: [{job: SyntheticJob, count: 1}]\n"
    "faults: [{type: load_burst, count: 1000000000, start: 1m}]",
    "duration: 1d\nworkload: [{job: SyntheticJob, rate: 1000000/s}]",
    "system: {processes: 100000}\nworkload: [{job: SyntheticJob, count: 10}]",
])
def test_oversized_runs_are_refused_in_one_line(tmp_path: Path, body: str) -> None:
    text = HEAD.replace("duration: 1h\n", "") + body + "\n" if "duration" in body else HEAD + body
    path = tmp_path / "big.yaml"
    path.write_text(text + "\n")
    started = time.perf_counter()
    code, err = invoke("simulate", str(path), "--out", str(tmp_path / "out"))
    assert code == 2
    (line,) = err.splitlines()
    assert line.startswith(f"{path}: big would need about ")
    assert "refused before running" in line and "--allow-large" in line
    assert time.perf_counter() - started < 10
    assert not (tmp_path / "out").exists()


def test_a_huge_scale_is_refused_by_the_budget(tmp_path: Path) -> None:
    code, err = invoke("simulate", "black_friday", "--scale", "1e9",
                       "--out", str(tmp_path / "out"))
    assert code == 2
    assert "black_friday at --scale 1e+09 would need about" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("scale", ["inf", "nan", "0", "-1", "-inf"])
def test_a_scale_that_is_not_finite_and_positive_is_named(scale: str) -> None:
    code, err = invoke("simulate", "black_friday", f"--scale={scale}")
    assert code == 2
    assert err.startswith("jobsim: --scale: must be a finite number greater than 0")


def test_allow_large_lets_an_over_budget_run_through(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control for the flag: with a tiny cap the same small run is refused
    without --allow-large and runs with it."""
    monkeypatch.setattr(budget, "MAX_JOBS", 10)
    path = tmp_path / "small.yaml"
    path.write_text(HEAD.replace("1h", "1m") + "workload: [{job: SyntheticJob, count: 20}]\n")
    code, err = invoke("simulate", str(path), "--quiet", "--out", str(tmp_path / "a"))
    assert code == 2 and "about 40 jobs (cap 10)" in err
    code, err = invoke("simulate", str(path), "--quiet", "--allow-large",
                       "--out", str(tmp_path / "b"))
    assert code == 0, err


def test_every_built_in_run_fits_the_caps() -> None:
    for path in sorted(scenarios_dir().glob("*.yaml")):
        scenario = load(path)
        for run in (scenario, *scenario.variants.values()):
            assert check_budget(run).jobs > 0, (path, run.variant)


def test_a_real_run_stays_below_its_estimate() -> None:
    scenario = load("black_friday").scaled(0.05)
    guess = estimate(scenario)
    result = run_scenario(scenario)
    assert result.metrics["jobs"]["enqueued"] <= guess.jobs
    assert result.metrics["events"] <= guess.steps


def test_report_retries_refuses_a_hundred_million_jobs(tmp_path: Path) -> None:
    started = time.perf_counter()
    code, err = invoke("report", "retries", "--jobs", "100000000", "--out", str(tmp_path))
    assert code == 2
    assert "delay draws, over the cap of 20,000,000" in err
    assert len(err.splitlines()) == 1
    assert time.perf_counter() - started < 10


def test_idle_wakeups_are_counted_only_where_timers_run(tmp_path: Path) -> None:
    """An idle thread wakes every 2 s only under a storage fault it could see, or under
    Celery (system/idle.py): the estimate grows with those windows, not with idle time."""
    base = HEAD + "system: {processes: 4, concurrency: 10}\n" \
        "workload: [{job: SyntheticJob, count: 10}]\n"
    outage = base + "faults: [{type: redis_outage, start: 10m, duration: 10m}]\n"
    redelivery = base + "faults: [{type: duplicate_delivery, start: 10m, duration: 10m}]\n"
    celery = base.replace("concurrency: 10}", "concurrency: 10, flavor: celery}")
    steps = {}
    for name, text in [("base", base), ("outage", outage), ("redelivery", redelivery),
                       ("celery", celery)]:
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        steps[name] = estimate(load(path)).steps
    threads_per_2s = 4 * 10 / budget.IDLE_WAIT_S
    assert steps["redelivery"] == steps["base"]
    assert steps["outage"] - steps["base"] == pytest.approx(threads_per_2s * 600)
    assert steps["celery"] - steps["base"] == pytest.approx(threads_per_2s * 3600, rel=0.2)
