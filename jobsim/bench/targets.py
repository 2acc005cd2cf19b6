"""Speed targets of round two (issue 17): every figure of the table, measured in one run.

Each figure is measured with a paired A/B method where it is a ratio: the two sides run
alternately (A, B, A, B, ...) so that load from other processes on a shared machine falls
on both alike, and the figure is the median of the per-pair ratios. Whole-command figures
run ``jobsim simulate`` in a fresh interpreter, so imports, start-up, checkers, files and
interpreter exit all count, as a user waiting for the prompt sees them.

Run one figure directly: ``jobsim bench targets`` (``--quick`` for smoke-test sizes).
"""

from __future__ import annotations

import importlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jobsim.bench import simpy_mm4

TARGETS = {
    "mm4_vs_simpy_max": 1.5,
    "black_friday_wall_s_max": 6.0,
    "black_friday_speedup_min": 1200.0,
    "black_friday_x0.1_wall_s_max": 1.5,
    "fakeredis_mm4_ratio_max": 3.0,
    "fakeredis_black_friday_ratio_max": 5.0,
    "hypothesis_examples_per_s_min": 200.0,
    "million_wall_s_max": 40.0,
    "million_peak_rss_mb_max": 700.0,
}
BLACK_FRIDAY_SIM_S = 7210.0     # simulated seconds of black_friday at any scale


def mm4_document(jobs: int) -> dict[str, Any]:
    """The M/M/4 queue of ``simpy_mm4`` as a jobsim scenario: Poisson arrivals, exponential
    service, one process of four threads, judged by no_loss."""
    return {
        "name": "mm4", "description": "benchmark: an M/M/4 queue at utilisation 0.8",
        "duration": jobs / simpy_mm4.RATE, "drain": 60.0,
        "system": {"processes": 1, "concurrency": simpy_mm4.SERVERS},
        "workload": [{"job": "SyntheticJob", "rate": f"{simpy_mm4.RATE:g}/s",
                      "args": {"dist": "exponential", "mean": simpy_mm4.SERVICE_MEAN}}],
        "checks": ["no_loss"],
    }


def _jobsim_command() -> list[str]:
    script = Path(sys.executable).with_name("jobsim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "jobsim.cli"]


def _timed(argv: list[str], cwd: Path | None = None) -> float:
    """Wall seconds of one whole command; a failure to run at all is an error."""
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):      # 1: a check failed, still a full run
        raise RuntimeError(f"{' '.join(argv[:4])}... exit {proc.returncode}: "
                           f"{proc.stderr.strip()[-400:]}")
    return wall


def _simulate(scenario: str, out: Path, *extra: str) -> float:
    return _timed([*_jobsim_command(), "simulate", scenario, "--quiet", "--allow-large",
                   "--out", str(out), *extra])


def _paired(a: Any, b: Any, pairs: int) -> tuple[list[float], list[float], float]:
    """Run ``a()`` and ``b()`` alternately ``pairs`` times: both walls, median b/a."""
    walls_a, walls_b = [], []
    for _ in range(pairs):
        walls_a.append(a())
        walls_b.append(b())
    ratio = statistics.median(y / x for x, y in zip(walls_a, walls_b, strict=True))
    return walls_a, walls_b, ratio


def mm4_whole_process(jobs: int, pairs: int, work: Path) -> dict[str, Any]:
    """jobsim simulate on M/M/4 against raw simpy's M/M/4, both whole processes."""
    path = work / "mm4.yaml"
    path.write_text(_yaml(mm4_document(jobs)))
    baseline = [sys.executable, simpy_mm4.__file__, str(jobs)]
    simpy_s, jobsim_s, ratio = _paired(lambda: _timed(baseline),
                                       lambda: _simulate(str(path), work / "mm4"), pairs)
    return {"mm4_jobs": jobs, "mm4_simpy_s": statistics.median(simpy_s),
            "mm4_jobsim_s": statistics.median(jobsim_s), "mm4_vs_simpy": ratio}


def black_friday_whole(quick: bool, repeats: int, work: Path) -> dict[str, Any]:
    """``jobsim simulate black_friday --quiet`` (full scale, median of two) and at
    ``--scale 0.1`` (median of ``repeats``).

    Quick stands in a 300-job M/M/4 scenario for black_friday (named in the figures):
    black_friday's threads (40, or 4 at --scale 0.1: it scales them) poll through
    2 h 10 m of simulated time at any scale, so no scale of it is a smoke test."""
    if quick:
        path = work / "small.yaml"
        path.write_text(_yaml(mm4_document(300)))
        full, small, stand_in = str(path), str(path), "mm4 x300 jobs"
    else:
        full, small, stand_in = "black_friday", "black_friday", "black_friday"
    walls = [_simulate(full, work / "bf") for _ in range(1 if quick else 2)]
    small_walls = [_simulate(small, work / "bf01", "--scale", "0.1" if not quick else "1")
                   for _ in range(repeats)]
    wall = statistics.median(walls)
    return {"black_friday_scenario": stand_in, "black_friday_wall_s": wall,
            "black_friday_speedup": BLACK_FRIDAY_SIM_S / wall,
            "black_friday_x0.1_wall_s": statistics.median(small_walls)}


def _yaml(doc: dict[str, Any]) -> str:
    import yaml

    return str(yaml.safe_dump(doc, sort_keys=False))


def fakeredis_ratios(quick: bool, pairs: int) -> dict[str, Any]:
    """fakeredis against memory: M/M/4 (simulation only) and black_friday x0.05 (whole
    run_scenario), alternating brokers; the digests must match. The Redis broker's
    modules (fakeredis: 0.4 to 0.7 s) are imported before the first pair, as the memory
    broker's already are: otherwise the first fakeredis run, and with two pairs the
    median, counts an import that is neither simulation nor run."""
    for module in ("jobsim.broker.redis", "jobsim.broker.embedded"):
        importlib.import_module(module)
    from jobsim.scenario.runner import run_scenario
    from jobsim.validate.runs import scenario

    model = scenario(mm4_document(1_000 if quick else 20_000))
    digests: dict[str, set[str]] = {"mm4": set(), "black_friday": set()}

    def mm4(broker: str) -> float:
        result = run_scenario(model, seed=1, broker=broker)
        digests["mm4"].add(result.metrics["history_digest"])
        return float(result.metrics["wall_seconds"])

    small = scenario(mm4_document(300)) if quick else None    # see black_friday_whole

    def bf(broker: str) -> float:
        started = time.perf_counter()
        result = (run_scenario(small, seed=1, broker=broker) if small is not None else
                  run_scenario("black_friday", scale=0.05, broker=broker))
        digests["black_friday"].add(result.metrics["history_digest"])   # inside the timing
        return time.perf_counter() - started

    _, _, mm4_ratio = _paired(lambda: mm4("memory"), lambda: mm4("fakeredis"), pairs)
    bf_memory, bf_fake, bf_ratio = _paired(lambda: bf("memory"), lambda: bf("fakeredis"), 1)
    return {"fakeredis_mm4_ratio": mm4_ratio,
            "fakeredis_black_friday_ratio": bf_ratio,
            "fakeredis_black_friday_s": bf_fake[0], "memory_black_friday_s": bf_memory[0],
            "fakeredis_digests_equal": all(len(d) == 1 for d in digests.values())}


def run(quick: bool) -> dict[str, Any]:
    """Every figure of the table; ``quick`` shrinks each to a smoke test."""
    from jobsim.bench import properties, scenarios

    work = Path(tempfile.mkdtemp(prefix="jobsim-bench-"))
    try:
        out: dict[str, Any] = {}
        out.update(mm4_whole_process(500 if quick else 200_000, 1 if quick else 3, work))
        out.update(black_friday_whole(quick, 1 if quick else 3, work))
        out.update(fakeredis_ratios(quick, 1 if quick else 2))
        prop = properties.run(quick)
        out["hypothesis_examples_per_s"] = prop["examples_per_s"]
        million = scenarios.million(quick)
        out["million_jobs"] = million["jobs"]
        out["million_wall_s"] = million["wall_s"]
        out["million_peak_rss_mb"] = million["peak_rss_mb"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out["pass"] = {figure: _meets(figure, value) for figure, value in out.items()
                   if _meets(figure, value) is not None}
    out["pass"]["fakeredis_digests_equal"] = out["fakeredis_digests_equal"]
    return out


def _meets(figure: str, value: Any) -> bool | None:
    if f"{figure}_max" in TARGETS:
        return bool(value <= TARGETS[f"{figure}_max"])
    if f"{figure}_min" in TARGETS:
        return bool(value >= TARGETS[f"{figure}_min"])
    return None


LABELS = {
    "mm4_vs_simpy": "M/M/4 whole process / raw simpy (same run, paired)",
    "black_friday_wall_s": "simulate black_friday --quiet, whole command (s)",
    "black_friday_speedup": "  its speed-up, simulated / wall",
    "black_friday_x0.1_wall_s": "simulate black_friday --scale 0.1 --quiet (s)",
    "fakeredis_mm4_ratio": "fakeredis / memory, M/M/4, simulation only",
    "fakeredis_black_friday_ratio": "fakeredis / memory, black_friday x0.05",
    "fakeredis_digests_equal": "  identical digests on both brokers",
    "hypothesis_examples_per_s": "Hypothesis examples/s, idempotency, 50 jobs",
    "million_wall_s": "1,000,000 jobs end to end (s)",
    "million_peak_rss_mb": "  peak RSS (MB)",
}


def render(result: dict[str, Any]) -> str:
    """The issue's table: figure, measured value, target, met; then the raw figures."""
    rows = [("figure", "measured", "target", "met")]
    for figure, label in LABELS.items():
        target = (f"<= {TARGETS[figure + '_max']:g}" if figure + "_max" in TARGETS else
                  f">= {TARGETS[figure + '_min']:g}" if figure + "_min" in TARGETS else
                  "equal")
        ok = result["pass"].get(figure)
        rows.append((label, _fmt(result[figure]), target,
                     "" if ok is None else ("met" if ok else "NOT MET")))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    raw = ", ".join(f"{k}={_fmt(v)}" for k, v in result.items()
                    if k not in LABELS and k not in ("pass", "suite_wall_s"))
    return "\n".join([*lines, f"absolute: {raw}"])


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)
