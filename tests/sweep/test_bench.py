"""The sweep bench suite: its document is a valid scenario, its figures render with
their targets (the timings themselves run in ``make bench``, never in the suite)."""

from __future__ import annotations

from jobsim.bench import SUITES
from jobsim.bench.sweep import TARGETS, document, render, specs
from jobsim.sweep import task


def test_bench_tasks_are_real_sweep_tasks() -> None:
    task.validate(document(), "sweep_bench")
    row = task.run(specs(1)[0])
    assert row["verdict"] == "PASS" and row["digest"].startswith("sha256:")
    assert "sweep" in SUITES


def test_render_names_both_figures_and_targets() -> None:
    result = {"overhead_tasks": 60, "sweep_tasks": 200, "plain_cpu_ms_per_task": 10.0,
              "dask_cpu_ms_per_task": 24.0, "overhead_ms_per_task": 14.0,
              "round_trip_wall_ms_median": 30.0, "sweep_1_worker_s": 20.0,
              "sweep_2_workers_s": 11.0, "speedup_2_workers": 20 / 11, "cpus": 2,
              "load_average": 1.5, "pass": {"overhead_ms_per_task": True,
                                            "speedup_2_workers": True}}
    text = render(result)
    assert "14.0 ms CPU" in text and f"<= {TARGETS['overhead_ms_per_task_max']:g} ms" in text
    assert "1.82x" in text and ">= 1.7x: yes" in text


def test_render_says_what_cores_the_workers_had() -> None:
    """On a shared machine the wall-clock speed-up measures the other sessions: the
    cores the workers got, and the speed-up on cores of their own, are shown beside it."""
    result = {"overhead_tasks": 60, "sweep_tasks": 200, "plain_cpu_ms_per_task": 160.0,
              "dask_cpu_ms_per_task": 180.0, "overhead_ms_per_task": 20.0,
              "round_trip_wall_ms_median": 300.0, "sweep_1_worker_s": 100.0,
              "sweep_2_workers_s": 92.0, "speedup_2_workers": 100 / 92, "cpus": 2,
              "load_average": 9.0, "cores_1_worker": 0.35, "cores_2_workers": 0.38,
              "speedup_own_cores": 1.87, "autogroup": True,
              "pass": {"overhead_ms_per_task": True, "speedup_2_workers": False}}
    text = render(result)
    assert "1.09x; target >= 1.7x: NO" in text
    assert "0.35 core with 1 worker, 0.38 with 2 (autogroup" in text
    assert "busiest of 2): 1.87x" in text
    del result["cores_1_worker"]
    assert "core with 1 worker" not in render(result)
