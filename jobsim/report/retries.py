"""``jobsim report retries``: retry policies side by side, on a synchronised failure.

The workload is the thundering-herd story: N jobs fail together at t=0 against a service
that recovers at time R; each job retries per its policy until an attempt lands at or
after R (success) or its retries run out (dead). Each job's whole chain of retry delays
is drawn once from ``Policy.delay`` (decorrelated jitter threads the previous delay), so
the same draws give both the schedule as if the service never recovered (the delay
distribution per attempt and the cumulative time to the k-th retry, Sidekiq's "about
20.4 days for 25 retries") and the recovery outcome (the prefix of the chain up to R).

No job system is involved: only the policy math (``jobsim.backoff``) and a seeded
``random.Random`` per policy, so the report is deterministic and takes a second.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobsim import backoff
from jobsim.report.figures import Chart
from jobsim.report.policy_words import explain

DEFAULT_POLICIES = (
    "sidekiq", "sidekiq_7", "seed:j=0.15",
    "exponential:jitter=none,base=1,cap=600", "exponential:jitter=full,base=1,cap=600",
    "exponential:jitter=equal,base=1,cap=600",
    "exponential:jitter=decorrelated,base=1,cap=600", "grpc",
)
RETRIES = 25
# Delays drawn (jobs x retries x policies) before a report is refused: each is kept for
# the charts, about 50 bytes and 1 us apiece, so the cap is about 1 GB and half a minute.
MAX_DRAWS = 20_000_000


def draws_refusal(jobs: int, retries: int, policies: int) -> str | None:
    """Why a report of this size is refused (its draws and the cap), or None."""
    draws = jobs * retries * policies
    if draws <= MAX_DRAWS:
        return None
    return (f"--jobs {jobs:,} x --retries {retries} x {policies} policies = {draws:,} delay "
            f"draws, over the cap of {MAX_DRAWS:,} (about 1 GB); use fewer --jobs")
DAY = 86400.0


@dataclass
class PolicyRun:
    """One policy's N chains of retry delays, and what they did to the service."""

    spec: str
    policy: backoff.Policy
    delays: list[list[float]]      # delays[count] = the N draws for retry ``count``
    cumulative: list[list[float]]  # cumulative[count] = time of retry count+1, per job
    attempts: list[float]          # times of the retries that reached the service
    finish: list[float | None]     # per job: success time, None when it went dead
    recover_s: float = 0.0

    @property
    def dead(self) -> int:
        return sum(1 for f in self.finish if f is None)


def simulate(spec: str, jobs: int, recover_s: float, retries: int = RETRIES,
             seed: int = 1) -> PolicyRun:
    """N synchronised failures at t=0 under one policy; deterministic for (spec, seed)."""
    policy = backoff.parse(spec)
    rng = random.Random(f"{seed}/{spec}")
    delays: list[list[float]] = [[] for _ in range(retries)]
    cumulative: list[list[float]] = [[] for _ in range(retries)]
    attempts: list[float] = []
    finish: list[float | None] = []
    for _ in range(jobs):
        t, prev, done = 0.0, None, None
        for count in range(retries):
            prev = policy.delay(count, rng, prev)
            t += prev
            delays[count].append(prev)
            cumulative[count].append(t)
            if done is None:
                attempts.append(t)
                if t >= recover_s:
                    done = t
        finish.append(done)
    return PolicyRun(spec, policy, delays, cumulative, attempts, finish, recover_s)


def peak_per_second(times: list[float]) -> int:
    """Most attempts in any one-second window aligned on whole seconds."""
    return max(Counter(int(t) for t in times).values(), default=0)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, -(-int(p * len(ordered)) // 100)) - 1] if ordered else 0.0


def policy_metrics(run: PolicyRun) -> dict[str, Any]:
    """The table row and the per-attempt statistics of one policy."""
    done = [f for f in run.finish if f is not None]
    jobs = len(run.finish)
    theory, total = [], 0.0
    for count in range(len(run.delays)):
        total += run.policy.mean(count)
        theory.append(total)
    out_of_bounds = 0
    per_attempt = []
    for count, draws in enumerate(run.delays):
        lo, hi = run.policy.bounds(count)
        out_of_bounds += sum(1 for d in draws if not lo - 1e-9 <= d <= hi + 1e-9)
        per_attempt.append({
            "count": count, "min_s": min(draws), "p50_s": percentile(draws, 50),
            "max_s": max(draws), "mean_s": sum(draws) / len(draws),
            "bound_low_s": lo, "bound_high_s": hi, "theory_mean_s": run.policy.mean(count)})
    cumulative_mean = [sum(c) / len(c) for c in run.cumulative]
    return {
        "policy": run.spec, "jobs": jobs,
        "total_attempts": jobs + len(run.attempts), "retries": len(run.attempts),
        "peak_attempts_per_s": peak_per_second(run.attempts),
        "peak_after_recovery_per_s": peak_per_second(
            [t for t in run.attempts if t >= run.recover_s]),
        "all_succeeded_s": max(done) if len(done) == jobs else None,
        "mean_success_s": sum(done) / len(done) if done else None,
        "dead": run.dead, "delays_out_of_bounds": out_of_bounds,
        "cumulative_mean_s": cumulative_mean,
        "cumulative_p05_s": [percentile(c, 5) for c in run.cumulative],
        "cumulative_p95_s": [percentile(c, 95) for c in run.cumulative],
        "cumulative_theory_mean_s": theory,
        "last_retry_mean_days": cumulative_mean[-1] / DAY if cumulative_mean else 0.0,
        "per_attempt": per_attempt,
    }


def table(metrics: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The side-by-side table (also printed by the command and written to summary.md)."""
    last = len(metrics[0]["cumulative_mean_s"]) if metrics else RETRIES
    header = ["policy", "total attempts", "peak attempts/s", "peak after recovery",
              "all succeeded after", "dead", "mean success", f"retry {last} after (mean)"]
    rows = []
    for m in metrics:
        rows.append([m["policy"], f"{m['total_attempts']:,}", f"{m['peak_attempts_per_s']:,}",
                     f"{m['peak_after_recovery_per_s']:,}",
                     _duration(m["all_succeeded_s"]), f"{m['dead']:,}",
                     _duration(m["mean_success_s"]),
                     _duration(m["cumulative_mean_s"][-1] if m["cumulative_mean_s"] else None)])
    return header, rows


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds >= 2 * DAY:
        return f"{seconds / DAY:.2f} d"
    if seconds >= 7200:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


# ---- figures ---------------------------------------------------------------------------
def delay_chart(run: PolicyRun, title: str | None = None) -> Chart:
    """Per retry number: min-max line, interquartile box and median (drawn as three
    collections rather than matplotlib's boxplot: ten times fewer artists), with the
    policy's theoretical bounds as red bars."""
    from jobsim.report.figures import colour, duration_axis, new_figure, png

    fig, axes = new_figure(size=(6.4, 3.9), right=1.75)
    ax = axes[0][0]
    n = len(run.delays)
    boxes = [(k + 1, _quartiles(draws)) for k, draws in enumerate(run.delays) if draws]
    xs = [k for k, _ in boxes]
    ax.vlines(xs, [q[0] for _, q in boxes], [q[4] for _, q in boxes], colors=colour(0),
              linewidth=1.0, label="measured min to max")
    ax.bar(xs, [q[3] - q[1] for _, q in boxes], bottom=[q[1] for _, q in boxes], width=0.6,
           color=colour(5), edgecolor=colour(0), linewidth=0.6, label="quartiles")
    ax.hlines([q[2] for _, q in boxes], [k - 0.3 for k in xs], [k + 0.3 for k in xs],
              colors=colour(0), linewidth=1.4)
    positions = list(range(1, n + 1))
    bounds = [run.policy.bounds(c) for c in range(n)]
    left, right = [p - 0.42 for p in positions], [p + 0.42 for p in positions]
    ax.hlines([b[1] for b in bounds], left, right, colors=colour(3), linewidth=1.4,
              label="formula's largest")
    ax.hlines([max(b[0], _FLOOR) for b in bounds], left, right, colors=colour(3),
              linewidth=1.4, linestyles="dashed", label="formula's smallest")
    ticks = [p for p in positions if p == 1 or p % 5 == 0]
    ax.set_xticks(ticks, [str(p) for p in ticks])
    ax.set_xlim(0.4, n + 0.6)
    ax.set_xlabel("retry number (1 = first retry)")
    duration_axis(ax, "delay before the retry (log)")
    low, high = ax.get_ylim()
    ax.set_ylim(low / 1.6, high * 1.6)     # bars at the extremes stay inside the frame
    words = explain(run.spec)
    ax.set_title(title or f"{words.name} ({run.spec})", fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7, frameon=False)
    return Chart(_slug("delays-" + run.spec), f"{words.name} ({run.spec})",
                 f"Delay before each retry: {words.formula}. Legend: blue line, the "
                 "smallest to largest measured delay; light box, the middle half (25th to "
                 "75th percentile) with the median as a tick; red bars, the smallest "
                 "(dashed) and largest (solid) delay the formula allows. Below 1 ms drawn "
                 "at 1 ms.", png(fig))


_FLOOR = 1e-3


def _quartiles(draws: list[float]) -> tuple[float, float, float, float, float]:
    """(min, p25, p50, p75, max), floored at 1 ms for the log axis."""
    ordered = sorted(max(d, _FLOOR) for d in draws)
    last = len(ordered) - 1
    return (ordered[0], ordered[last // 4], ordered[last // 2], ordered[3 * last // 4],
            ordered[-1])


def cumulative_chart(runs: list[PolicyRun], metrics: list[dict[str, Any]]) -> Chart:
    from jobsim.report.figures import colour, duration_axis, new_figure, png

    fig, axes = new_figure(size=(11.0, 4.6), right=3.3)
    ax = axes[0][0]
    for i, (run, m) in enumerate(zip(runs, metrics, strict=True)):
        ks = list(range(1, len(run.cumulative) + 1))
        ax.fill_between(ks, m["cumulative_p05_s"], m["cumulative_p95_s"], color=colour(i),
                        alpha=0.15, linewidth=0)
        ax.plot(ks, m["cumulative_mean_s"], color=colour(i), linewidth=1.8, label=run.spec,
                marker="o", markersize=2.5)
        ax.plot(ks, m["cumulative_theory_mean_s"], color=colour(i), linewidth=0.9,
                linestyle=":")
    if any(run.policy.name == "sidekiq" for run in runs):
        ax.scatter([RETRIES], [backoff.sidekiq_schedule_mean(RETRIES)], marker="*", s=90,
                   color="#000000", zorder=5, label=f"Sidekiq reference ({RETRIES} retries)")
    ax.set_xlabel("retry number k")
    duration_axis(ax, "time from first failure to retry k (log)")
    ax.set_title("Cumulative time to the k-th retry (service never recovers)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return Chart("cumulative", "Cumulative time to the k-th retry",
                 "One colour per policy, named in the legend. Solid line: the measured mean "
                 "time from the first failure to retry k over the jobs; band: 5th to 95th "
                 "percentile; dotted: the sum of the formula's expected delays. Delays "
                 "only (execution time not included).", png(fig))


def load_chart(runs: list[PolicyRun], recover_s: float) -> Chart:
    """Retries reaching the service per second: one panel per policy, shared axes, so a
    synchronised spike and a spread-out load compare at a glance."""
    from matplotlib.ticker import NullLocator

    from jobsim.report.figures import colour, new_figure, png, time_unit

    finish = [f for run in runs for f in run.finish if f is not None] or [recover_s]
    span = max(max(finish), recover_s) * 1.05
    width = max(1.0, span / 1500)
    bins = int(span / width) + 1
    scale, unit = time_unit(span)
    fig, axes = new_figure(len(runs), 1, size=(11.0, 1.0 + 0.95 * len(runs)), sharex=True,
                           sharey=True, right=3.3)
    fig.subplots_adjust(hspace=0.08)
    xs = [i * width / scale for i in range(bins + 1)]
    top = 1.0
    for i, run in enumerate(runs):
        ax = axes[i][0]
        counts = [0] * bins
        for t in run.attempts:
            if t < span:
                counts[int(t / width)] += 1
        rates = [c / width for c in counts]
        top = max(top, *rates)
        ax.fill_between(xs[:-1], [max(r, 0.5) for r in rates], 0.5, step="post",
                        color=colour(i), linewidth=0)
        ax.axvline(recover_s / scale, color="#000000", linestyle="--", linewidth=1)
        ax.text(1.01, 0.5, run.spec, transform=ax.transAxes, ha="left", va="center",
                fontsize=8, color=colour(i))
        ax.set_yscale("log")
        ax.yaxis.set_minor_locator(NullLocator())
    axes[0][0].set_ylim(0.5, top * 2)
    axes[0][0].set_xlim(0, span / scale)
    axes[0][0].set_title("Retry load on the recovering service: synchronised spikes vs "
                         "spread (dashed: service recovers)")
    axes[-1][0].set_xlabel(f"time since the synchronised failure ({unit})")
    fig.supylabel("retries reaching the service (per s, log)", fontsize=10)
    return Chart("load", "Retry load on the recovering service",
                 f"Retries per second ({width:g} s bins) until each job succeeds, one panel "
                 "per policy (named to its right) on shared axes; dashed line: the service "
                 "recovers; the initial failure of every job at t=0 is not drawn.", png(fig))


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


# ---- the report ------------------------------------------------------------------------
def write_report(out: Path, specs: list[str], jobs: int, recover_s: float, seed: int = 1,
                 retries: int = RETRIES, measured: dict[str, Any] | None = None,
                 source: str = "") -> dict[str, Any]:
    """Simulate every policy and write report.html, summary.md, metrics.json and the PNGs."""
    from jobsim.report.html import write_page

    runs = [simulate(spec, jobs, recover_s, retries, seed) for spec in specs]
    per_policy = [policy_metrics(run) for run in runs]
    charts = [load_chart(runs, recover_s), cumulative_chart(runs, per_policy)]
    delay_charts = [delay_chart(run) for run in runs]
    extra = measured_charts(measured) if measured else []
    out.mkdir(parents=True, exist_ok=True)
    for chart in [*charts, *delay_charts, *extra]:
        (out / f"{chart.slug}.png").write_bytes(chart.png)
    header, rows = table(per_policy)
    document = {"workload": {"jobs": jobs, "recover_s": recover_s, "retries": retries,
                             "seed": seed, "source": source},
                "policies": per_policy, "measured": _strip(measured)}
    (out / "metrics.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / "summary.md").write_text(_markdown(document, header, rows) + "\n")
    write_page(out / "report.html", "retries.html", w=document["workload"], header=header,
               rows=rows, charts=charts, delay_charts=delay_charts, measured_charts=extra,
               recover=_duration(recover_s), source=source, headline=headline(per_policy),
               policies=[explain(spec) for spec in specs])
    return document


def headline(metrics: list[dict[str, Any]]) -> str:
    """The answer to the report's question, from the peak load after recovery."""
    if not metrics:
        return "no policy compared"
    ranked = sorted(metrics, key=lambda m: (m["peak_after_recovery_per_s"], m["policy"]))
    best, worst = ranked[0], ranked[-1]
    text = (f"gentlest: {best['policy']} ({best['peak_after_recovery_per_s']:,} retries/s at "
            f"most after recovery)")
    if worst is not best:
        text += (f"; harshest: {worst['policy']} ({worst['peak_after_recovery_per_s']:,} "
                 "retries/s)")
    return text


def _markdown(document: dict[str, Any], header: list[str], rows: list[list[str]]) -> str:
    w = document["workload"]
    lines = ["# Retry policies side by side", "",
             f"{w['jobs']:,} jobs fail together at t=0; the service recovers after "
             f"{_duration(w['recover_s'])}; up to {w['retries']} retries; seed {w['seed']}.",
             "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# ---- measured from a scenario's history -------------------------------------------------
def from_history(history: Any) -> dict[str, Any]:
    """Delays per policy and retry number, and retried-execution times, from ``retry`` and
    ``start`` events of a saved run (``history`` is a jobsim.history.history.History)."""
    delays: dict[str, list[list[float]]] = {}
    starts: list[float] = []
    for ev in history.events:
        if ev[1] == "retry" and ev[6] != "custom":
            per_count = delays.setdefault(ev[6], [])
            while len(per_count) <= ev[3]:
                per_count.append([])
            per_count[ev[3]].append(float(ev[4]))
        elif ev[1] == "start" and ev[5] > 1 and not ev[6]:
            starts.append(float(ev[0]))
    return {"delays": delays, "retried_starts": starts}


def measured_charts(measured: dict[str, Any]) -> list[Chart]:
    """One delay chart per policy seen in the run (empty retry numbers skipped)."""
    charts = []
    for spec, per_count in measured["delays"].items():
        run = PolicyRun(spec, backoff.parse(spec), per_count, [], [], [])
        chart = delay_chart(run, title=f"{spec} (measured in the run)")
        chart.slug = "measured-" + chart.slug
        charts.append(chart)
    return charts


def _strip(measured: dict[str, Any] | None) -> dict[str, Any] | None:
    """The measured section as counts (metrics.json stays small)."""
    if not measured:
        return None
    return {"retries_by_policy": {spec: [len(c) for c in per_count]
                                  for spec, per_count in measured["delays"].items()},
            "retried_executions": len(measured["retried_starts"])}
