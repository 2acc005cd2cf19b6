"""Sweep benchmarks: what Dask adds to each task, and what a second worker buys.

- ``overhead_ms_per_task``: the CPU time N tasks cost through a one-worker LocalCluster
  (submission, pickling the spec, scheduling, returning the row: the client and
  scheduler in this process plus the worker) minus the same N tasks called in this
  process, per task. CPU rather than wall time, so other tenants of a shared machine do
  not count as overhead; the median wall-clock round trip of one task is shown beside
  it. The cluster is started before the clock starts: its start-up is paid once per
  sweep, not per task. Target: at most 50 ms.
- ``speedup_2_workers``: the wall time of a 200-task sweep on one local worker over the
  same sweep on two. Runs are independent and CPU-bound, so two idle cores give close to
  2x; target at least 1.7x. On a machine whose cores are busy with other work the figure
  measures that contention, not the engine: ``load_average`` is reported beside it, and
  so is what the workers got. ``cores_1_worker`` / ``cores_2_workers``: the workers' CPU
  seconds over the wall seconds, the cores the sweep actually had. Linux's autogroup
  scheduler (``/proc/sys/kernel/sched_autogroup_enabled``, ``autogroup``) shares a busy
  machine between sessions, not processes: every worker of one sweep is in the session
  that started it, so a second worker adds no CPU while other sessions keep the cores
  busy. ``speedup_own_cores`` is therefore also given: the 1-worker sweep's CPU seconds
  over the busiest worker's CPU seconds in the 2-worker sweep, i.e. the ratio of the
  wall times had each worker a core of its own (an estimate from CPU accounting: it
  counts the split of the tasks and the per-task cost a second worker adds, not the
  scheduler process's share of the cores).

The tasks are ``jobsim.sweep.task.run`` on a small generated scenario (a minute of
SyntheticJobs under a worker crash), exactly what ``jobsim sweep`` runs.
"""

from __future__ import annotations

import os
import time
from typing import Any

import msgspec

TARGETS = {"overhead_ms_per_task_max": 50.0, "speedup_2_workers_min": 1.7}


def document() -> dict[str, Any]:
    """One short run: 2,000 jobs on two processes, one of them SIGKILLed once (about
    0.15 s of CPU: long enough that the speed-up measures the workers, not the
    scheduler's per-task cost)."""
    return {
        "name": "sweep_bench", "description": "benchmark: a short run per sweep task",
        "duration": "1m", "drain": "1m",
        "system": {"processes": 2, "concurrency": 10, "fetch": "reliable"},
        "workload": [{"job": "SyntheticJob", "count": 2000, "spread": "50s",
                      "args": {"dist": "exponential", "mean": 0.5}}],
        "faults": [{"type": "worker_crash", "target": "p0", "restart_after": "5s",
                    "start": "10s"}],
        "checks": ["no_loss", "lifecycle"],
    }


def specs(count: int) -> list[Any]:
    from jobsim.sweep.task import Spec

    doc = msgspec.json.encode(document())
    return [Spec(point="base", settings=(), variant="", seed=seed, scale=1.0, doc=doc,
                 file="sweep_bench", replay="sweep_bench.yaml") for seed in range(count)]


def run(quick: bool = False) -> dict[str, Any]:
    overhead_tasks, sweep_tasks = (10, 20) if quick else (60, 200)
    overhead = _overhead(specs(overhead_tasks))
    one, one_cpu = _sweep_wall(specs(sweep_tasks), workers=1)
    two, two_cpu = _sweep_wall(specs(sweep_tasks), workers=2)
    result = {"overhead_tasks": overhead_tasks, "sweep_tasks": sweep_tasks, **overhead,
              "sweep_1_worker_s": one, "sweep_2_workers_s": two,
              "speedup_2_workers": one / two, "cpus": os.cpu_count(),
              "load_average": round(os.getloadavg()[0], 2),
              "worker_cpu_s_1": one_cpu, "worker_cpu_s_2": two_cpu,
              "cores_1_worker": sum(one_cpu) / one, "cores_2_workers": sum(two_cpu) / two,
              "speedup_own_cores": sum(one_cpu) / max(two_cpu),
              "autogroup": _autogroup(), "targets": TARGETS}
    result["pass"] = {
        "overhead_ms_per_task": result["overhead_ms_per_task"]
        <= TARGETS["overhead_ms_per_task_max"],
        "speedup_2_workers": result["speedup_2_workers"] >= TARGETS["speedup_2_workers_min"],
    }
    return result


def _overhead(tasks: list[Any]) -> dict[str, float]:
    """CPU seconds per task through the cluster (this process, which hosts the client
    and the LocalCluster's scheduler, plus the worker) minus in this process alone. CPU
    time, not wall time: on a shared machine the wall time of a round trip through three
    event loops measures the other tenants. The wall-clock round trip is reported too."""
    import statistics

    from jobsim.sweep import task
    from jobsim.sweep.engine import open_engine

    with open_engine(None, 1) as engine:
        list(engine.run(task.run, tasks[:2]))          # the worker imports jobsim
        task.run(tasks[0])                             # and so does this process
        started = time.process_time()
        for spec in tasks:
            task.run(spec)
        plain = time.process_time() - started
        here, there = time.process_time(), _worker_cpu(engine)
        list(engine.run(task.run, tasks))
        dask = time.process_time() - here + _worker_cpu(engine) - there
        trips = []
        for spec in tasks[:10]:
            begun = time.perf_counter()
            list(engine.run(task.run, [spec]))
            trips.append(time.perf_counter() - begun)
    return {"plain_cpu_ms_per_task": 1000 * plain / len(tasks),
            "dask_cpu_ms_per_task": 1000 * dask / len(tasks),
            "overhead_ms_per_task": 1000 * (dask - plain) / len(tasks),
            "round_trip_wall_ms_median": 1000 * statistics.median(trips)}


def _worker_cpu(engine: Any) -> float:
    return sum(engine.client.run(time.process_time).values())


def _sweep_wall(tasks: list[Any], workers: int) -> tuple[float, list[float]]:
    """The sweep's wall seconds, and each worker's CPU seconds over the same span."""
    from jobsim.sweep import task
    from jobsim.sweep.engine import open_engine

    with open_engine(None, workers) as engine:
        list(engine.run(task.run, tasks[:workers * 2]))   # every worker imports jobsim
        before = engine.client.run(time.process_time)
        started = time.perf_counter()
        rows = list(engine.run(task.run, tasks))
        wall = time.perf_counter() - started
        after = engine.client.run(time.process_time)
    assert len(rows) == len(tasks)
    return wall, sorted(after[w] - before[w] for w in after)


def _autogroup() -> bool:
    """Linux shares the CPU between sessions, not processes (see the module's notes)."""
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as flag:
            return flag.read().strip() == "1"
    except OSError:
        return False


def render(result: dict[str, Any]) -> str:
    ok = result["pass"]

    def verdict(flag: bool) -> str:
        return "yes" if flag else "NO"

    return "\n".join([
        f"per-task overhead over an in-process run ({result['overhead_tasks']} tasks): "
        f"{result['overhead_ms_per_task']:.1f} ms CPU (plain {result['plain_cpu_ms_per_task']:.1f}"
        f" ms/task, on Dask {result['dask_cpu_ms_per_task']:.1f} ms/task; one task's round "
        f"trip {result['round_trip_wall_ms_median']:.0f} ms wall); target <= "
        f"{TARGETS['overhead_ms_per_task_max']:g} ms: {verdict(ok['overhead_ms_per_task'])}",
        f"2 local workers against 1 on a {result['sweep_tasks']}-task sweep: "
        f"{result['sweep_1_worker_s']:.1f} s / {result['sweep_2_workers_s']:.1f} s = "
        f"{result['speedup_2_workers']:.2f}x; target >= "
        f"{TARGETS['speedup_2_workers_min']:g}x: {verdict(ok['speedup_2_workers'])} "
        f"({result['cpus']} CPUs, load average {result['load_average']})",
        *_cores(result),
    ])


def _cores(result: dict[str, Any]) -> list[str]:
    """What the workers got, and the speed-up on cores of their own (older results
    lack these figures)."""
    if "cores_1_worker" not in result:
        return []
    shared = " (autogroup: the machine is shared between sessions)" if result.get(
        "autogroup") else ""
    return [f"  the workers had {result['cores_1_worker']:.2f} core with 1 worker, "
            f"{result['cores_2_workers']:.2f} with 2{shared}; on cores of their own "
            f"(CPU seconds, 1 worker / busiest of 2): {result['speedup_own_cores']:.2f}x"]
