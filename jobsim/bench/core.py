"""Core benchmark: what one simulated job costs, in simpy timeouts and in bytes.

Why the unit is "simpy timeouts": wall-clock speed changes from machine to machine, but
the ratio of a job's cost to simpy's own cheapest event (one ``env.timeout``) does not, so
the target (at most 15 timeouts' worth of CPU per no-op job) travels between machines.
Both are measured in the same run, on the same interpreter.

The sim runs only until the last job succeeds (an event fired by the success count), so
idle polling after the work is done does not dilute the figure. Speed and memory are
separate passes: tracemalloc slows Python several-fold, so the memory pass may use fewer
jobs (the output says how many). Peak memory counts everything allocated after the pass
starts: payloads, storage, lifecycle states and the history.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from typing import Any

import simpy

from jobsim.broker import make_broker
from jobsim.sim.simulation import Simulation
from jobsim.system import Job, JobSystem, SystemConfig

TARGETS = {"cost_in_timeouts_max": 15.0, "peak_bytes_per_job_max": 1024.0}


class BenchNoopJob(Job):
    """The cheapest job there is: one millisecond of simulated work."""

    def perform(self) -> Any:
        yield self.sleep(0.001)


def simpy_timeouts_per_s(total: int = 1_000_000, processes: int = 100) -> float:
    """Raw simpy speed: ``processes`` generators each yielding ``env.timeout(1)``."""
    env = simpy.Environment()
    each = max(total // processes, 1)

    def ticker() -> Any:
        for _ in range(each):
            yield env.timeout(1)

    for _ in range(processes):
        env.process(ticker())
    gc.collect()
    start = time.perf_counter()
    env.run()
    return each * processes / (time.perf_counter() - start)


def _stop_after_successes(sim: Simulation, jobs: int) -> simpy.Event:
    """Wrap ``sim.record_fields`` (before the system captures it) to fire when ``jobs``
    succeed."""
    done = sim.env.event()
    record = sim.record_fields
    left = [jobs]

    def counting(kind: str, jid: str | None, fields: tuple[Any, ...]) -> None:
        record(kind, jid, fields)
        if kind == "success":
            left[0] -= 1
            if left[0] == 0:
                done.succeed()

    sim.record_fields = counting     # before the job system: its lifecycle holds it
    sim.record = lambda kind, jid, *fields: counting(kind, jid, fields)
    return done


def simulate(jobs: int, processes: int, concurrency: int, broker: str) -> tuple[Simulation, float]:
    """Push ``jobs`` no-op jobs and run until the last succeeds; returns (sim, wall s)."""
    sim = Simulation(seed=0)
    done = _stop_after_successes(sim, jobs)
    system = JobSystem(sim, make_broker(broker),
                       SystemConfig(processes=processes, concurrency=concurrency))
    gc.collect()
    start = time.perf_counter()
    system.start()
    system.client.push_bulk(BenchNoopJob, [[] for _ in range(jobs)])
    sim.env.run(until=done)
    wall = time.perf_counter() - start
    succeeded = system.lifecycle.counts().get("succeeded", 0)
    if succeeded != jobs:
        raise RuntimeError(f"bench: {succeeded} of {jobs} jobs succeeded")
    return sim, wall


def peak_bytes(jobs: int, processes: int, concurrency: int, broker: str) -> float:
    """tracemalloc peak of one whole pass (system, payloads, history), per job."""
    gc.collect()
    tracemalloc.start()
    try:
        simulate(jobs, processes, concurrency, broker)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / jobs


def measure(jobs: int, memory_jobs: int, processes: int, concurrency: int, broker: str,
            timeouts_per_s: float) -> dict[str, Any]:
    sim, wall = simulate(jobs, processes, concurrency, broker)
    jobs_per_s = jobs / wall
    events = len(sim.history)
    del sim
    memory_jobs = min(memory_jobs, jobs)
    return {
        "jobs": jobs,
        "jobs_per_s": jobs_per_s,
        "cost_in_timeouts": timeouts_per_s / jobs_per_s,
        "peak_bytes_per_job": peak_bytes(memory_jobs, processes, concurrency, broker),
        "memory_pass_jobs": memory_jobs,
        "events_per_job": events / jobs,
        "wall_s": wall,
    }


def run(jobs: int = 200_000, processes: int = 10, concurrency: int = 10,
        redis_jobs: int = 5_000, *, timeouts: int = 1_000_000, memory_jobs: int = 50_000,
        redis_memory_jobs: int = 1_000) -> dict[str, Any]:
    """The whole benchmark: simpy's speed, then the memory broker, then fakeredis."""
    timeouts_per_s = simpy_timeouts_per_s(timeouts)
    memory = measure(jobs, memory_jobs, processes, concurrency, "memory", timeouts_per_s)
    redis = measure(redis_jobs, redis_memory_jobs, processes, concurrency, "fakeredis",
                    timeouts_per_s)
    passed = {
        "cost_in_timeouts": memory["cost_in_timeouts"] <= TARGETS["cost_in_timeouts_max"],
        "peak_bytes_per_job": memory["peak_bytes_per_job"] <= TARGETS["peak_bytes_per_job_max"],
    }
    passed["all"] = all(passed.values())
    return {
        **memory,
        "processes": processes,
        "concurrency": concurrency,
        "simpy_timeouts_per_s": timeouts_per_s,
        "fakeredis": {k: redis[k] for k in (
            "jobs", "jobs_per_s", "cost_in_timeouts", "peak_bytes_per_job",
            "memory_pass_jobs", "events_per_job", "wall_s")},
        "targets": dict(TARGETS),
        "pass": passed,
    }


def render(result: dict[str, Any]) -> str:
    """A plain-text table of one ``run()`` result."""
    targets, ok, redis = result["targets"], result["pass"], result["fakeredis"]

    def verdict(flag: bool) -> str:
        return "yes" if flag else "NO"

    rows = [
        ("metric", "memory", "fakeredis", "target", "ok"),
        ("jobs", f"{result['jobs']:,}", f"{redis['jobs']:,}", "", ""),
        ("wall s", f"{result['wall_s']:.2f}", f"{redis['wall_s']:.2f}", "", ""),
        ("jobs/s", f"{result['jobs_per_s']:,.0f}", f"{redis['jobs_per_s']:,.0f}", "", ""),
        ("cost in simpy timeouts/job", f"{result['cost_in_timeouts']:.2f}",
         f"{redis['cost_in_timeouts']:.1f}", f"<= {targets['cost_in_timeouts_max']:g}",
         verdict(ok["cost_in_timeouts"])),
        ("peak bytes/job", f"{result['peak_bytes_per_job']:,.0f}",
         f"{redis['peak_bytes_per_job']:,.0f}", f"<= {targets['peak_bytes_per_job_max']:g}",
         verdict(ok["peak_bytes_per_job"])),
        ("history events/job", f"{result['events_per_job']:.2f}",
         f"{redis['events_per_job']:.2f}", "", ""),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        f"jobsim core benchmark: {result['processes']} processes x "
        f"{result['concurrency']} threads, no-op jobs, run until the last succeeds",
        f"raw simpy: {result['simpy_timeouts_per_s']:,.0f} timeouts/s",
    ]
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(
        f"memory passes (tracemalloc, separate from the speed passes): "
        f"{result['memory_pass_jobs']:,} jobs on memory, {redis['memory_pass_jobs']:,} "
        "on fakeredis; targets apply to the memory broker"
    )
    lines.append(f"overall: {'PASS' if ok['all'] else 'FAIL'}")
    return "\n".join(lines)
