"""Whole-run benchmarks: black_friday at full scale, a million-job run, and the fakeredis
broker against the memory broker on the same scenario.

Why a subprocess for the million-job run: peak RSS (``ru_maxrss``) is a high-water mark
per process, so measured in a fresh interpreter it is the run's own and not whatever the
benchmark process held before. Run it directly: ``python -m jobsim.bench.scenarios N``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from typing import Any

TARGETS = {"black_friday_wall_s_max": 15.0, "black_friday_speedup_min": 500.0,
           "million_wall_s_max": 120.0, "million_peak_rss_mb_max": 2048.0}


def black_friday(quick: bool, repeats: int = 3) -> dict[str, Any]:
    """The built-in black_friday scenario (full scale unless quick): wall and speed-up.

    ``wall_s`` and ``speedup`` (the targets) cover the whole ``run_scenario`` call:
    simulation, checkers and metrics, best of ``repeats`` runs (as timeit does: other
    processes on a shared machine only ever add time); every run's wall is listed, and
    the simulation alone is reported beside them."""
    from jobsim.scenario.runner import run_scenario

    scale = 0.05 if quick else 1.0
    runs = []
    for _ in range(1 if quick else repeats):
        started = time.perf_counter()
        result = run_scenario("black_friday", scale=scale)
        _ = result.metrics               # computed on first read: inside the timing
        runs.append((time.perf_counter() - started, result))
    wall, result = min(runs, key=lambda r: r[0])
    sim = result.metrics["sim_seconds"]
    simulating = result.metrics["wall_seconds"]      # the simulation alone
    out = {"scale": scale, "wall_s": wall, "sim_s": sim, "speedup": sim / wall,
           "runs_wall_s": [round(w, 2) for w, _ in runs],
           "simulation_wall_s": simulating, "checks_and_metrics_s": wall - simulating,
           "simulation_speedup": sim / simulating,
           "jobs": result.metrics["jobs"]["enqueued"], "events": len(result.history),
           "ok": result.ok}
    out["pass"] = {"wall_s": wall <= TARGETS["black_friday_wall_s_max"],
                   "speedup": out["speedup"] >= TARGETS["black_friday_speedup_min"]}
    return out


def million_document(jobs: int) -> dict[str, Any]:
    """``jobs`` short SyntheticJobs, Poisson at 1,000/s, on 10 processes x 10 threads,
    judged by the no_loss and lifecycle checkers: a realistic large run end to end."""
    return {
        "name": "million", "description": "benchmark: a million jobs end to end",
        "duration": jobs / 1000.0, "drain": 600.0,
        "system": {"processes": 10, "concurrency": 10},
        "workload": [{"job": "SyntheticJob", "rate": "1000/s",
                      "args": {"dist": "exponential", "mean": 0.05}}],
        "checks": ["no_loss", "lifecycle"],
    }


def million_child(jobs: int) -> dict[str, Any]:
    """Run in this process and report its own wall time and peak RSS."""
    from jobsim.scenario.runner import run_scenario
    from jobsim.validate.runs import scenario

    doc = million_document(jobs)
    started = time.perf_counter()
    result = run_scenario(scenario(doc), seed=1)
    _ = result.metrics                   # computed on first read: inside the timing
    wall = time.perf_counter() - started
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # KiB on Linux
    return {"jobs": result.metrics["jobs"]["enqueued"], "wall_s": wall,
            "peak_rss_mb": rss_kb / 1024.0, "events": len(result.history),
            "checks_ok": all(c.ok for c in result.checks.values())}


def million(quick: bool) -> dict[str, Any]:
    jobs = 20_000 if quick else 1_000_000
    proc = subprocess.run([sys.executable, "-m", "jobsim.bench.scenarios", str(jobs)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"million-job child failed: {proc.stderr.strip()[-500:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["pass"] = {"wall_s": out["wall_s"] <= TARGETS["million_wall_s_max"],
                   "peak_rss_mb": out["peak_rss_mb"] <= TARGETS["million_peak_rss_mb_max"]}
    return out


def fakeredis_vs_memory(quick: bool) -> dict[str, Any]:
    """black_friday at scale 0.05 on both brokers: same digest, and the wall ratio.

    Quick uses 2,000 jobs of the million-job model instead: black_friday's threads (2
    at this scale) poll for 2 h 10 m of simulated time even at a tiny scale, and on fakeredis every
    idle fetch costs real Redis commands, so no scale of it is a smoke test."""
    from jobsim.scenario.runner import run_scenario
    from jobsim.validate.runs import scenario

    name, model = ("million_document(2000)", scenario(million_document(2_000))) if quick \
        else ("black_friday x0.05", None)
    walls, digests = {}, {}
    for broker in ("memory", "fakeredis"):
        started = time.perf_counter()
        if model is None:
            result = run_scenario("black_friday", scale=0.05, broker=broker)
        else:
            result = run_scenario(model, seed=1, broker=broker)
        _ = result.metrics               # computed on first read: inside the timing
        walls[broker] = time.perf_counter() - started
        digests[broker] = result.metrics["history_digest"]
    same = digests["memory"] == digests["fakeredis"]
    return {"scenario": name, "memory_wall_s": walls["memory"],
            "fakeredis_wall_s": walls["fakeredis"],
            "ratio": walls["fakeredis"] / walls["memory"], "digests_equal": same,
            "digest": digests["memory"], "pass": {"digests_equal": same}}


if __name__ == "__main__":  # pragma: no cover - the million-job child process
    print(json.dumps(million_child(int(sys.argv[1]))))
