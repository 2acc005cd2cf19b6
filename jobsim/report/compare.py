"""The ``--all-variants`` comparison page: the base story and each variant side by side.

Why: a variant is the story with one safeguard switched off, so the page's job is to
show what that safeguard is worth. Every key metric is laid out per variant with its
relative difference to the base, and the metric that moved most is highlighted.

Relative difference is ``(variant - base) / |base|``, ranked by its magnitude; a metric
that is zero in the base and not in the variant counts as infinitely different (ties
broken by the absolute difference). Metrics missing on either side (a queue that only
one variant has) are shown but not ranked.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from jobsim.report.figures import Chart
from jobsim.report.summary import good, verdict

JOB_KEYS = ("enqueued", "succeeded", "dead", "discarded", "canceled", "lost", "in_flight",
            "executions", "retries")
COMPARE_FILE = "compare.html"


def flatten(m: dict[str, Any], queues: list[str], checks: list[str]) -> dict[str, Any]:
    """The compared metrics of one run as {label: number | str | None}."""
    jobs = m.get("jobs", {})
    out: dict[str, Any] = {f"jobs.{k}": jobs.get(k) for k in JOB_KEYS}
    out["effects.total"] = m.get("effects", {}).get("total")
    out["effects.duplicates"] = m.get("effects", {}).get("duplicates")
    for q in queues:
        stats = m.get("queues", {}).get(q)
        out[f"queues.{q}.latency_p99_s"] = stats.get("latency_p99_s") if stats else None
    out["retries.peak_per_minute"] = m.get("retries", {}).get("peak_per_minute")
    for name in checks:
        c = m.get("checks", {}).get(name)
        out[f"checks.{name}.violations"] = c.get("violations") if c else None
    return out


def relative(base: Any, value: Any) -> float | None:
    """(value - base) / |base|; +-inf when only the base is zero; None when not comparable."""
    if not _number(base) or not _number(value):
        return None
    if base == 0:
        return 0.0 if value == 0 else math.copysign(math.inf, value)
    return (value - base) / abs(base)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _label(m: dict[str, Any]) -> str:
    return m.get("variant") or "base"


def build(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows (metric, base value, per-variant value and difference) and the winner."""
    queues = sorted({q for m in results for q in m.get("queues", {})})
    checks = list(dict.fromkeys(c for m in results for c in m.get("checks", {})))
    flat = [flatten(m, queues, checks) for m in results]
    base = flat[0]
    rows, best, best_key = [], None, (-1.0, -1.0)
    for metric in base:
        cells = []
        for i, f in enumerate(flat[1:], start=1):
            rel = relative(base[metric], f[metric])
            cells.append({"value": f[metric], "rel": rel})
            if rel is not None:
                key = (abs(rel), abs(f[metric] - base[metric]))
                if key > best_key:
                    best_key, best = key, (metric, i)
        rows.append({"metric": metric, "base": base[metric], "cells": cells})
    for row in rows:
        row["highlight"] = best is not None and row["metric"] == best[0]
        for i, cell in enumerate(row["cells"], start=1):
            cell["highlight"] = row["highlight"] and best is not None and i == best[1]
    winner = None
    if best is not None and best_key[0] > 0:
        metric, i = best
        winner = {"metric": metric, "variant": _label(results[i]), "base": base[metric],
                  "value": flat[i][metric], "rel": relative(base[metric], flat[i][metric])}
    return {"rows": rows, "winner": winner, "queues": queues}


def fmt_rel(rel: float | None) -> str:
    if rel is None:
        return ""
    if math.isinf(rel):
        return "new (base 0)"
    return f"{rel:+.0%}" if rel < 100 else f"x{rel + 1:,.0f}"  # x N: N times the base


def chart(results: list[dict[str, Any]], queues: list[str]) -> Chart:
    """Jobs by final state and p99 latency per queue, one bar group per variant."""
    from jobsim.report.figures import colour, new_figure, png

    fig, axes = new_figure(1, 2, size=(11.0, 3.8))
    groups = (("jobs", ["succeeded", "dead", "discarded", "canceled", "lost"], "jobs (count)",
               "Jobs by final state"),
              ("queues", queues, "p99 wait (s, symlog)", "p99 latency per queue"))
    width = 0.8 / max(1, len(results))
    for ax, (section, keys, ylabel, title) in zip(axes[0], groups, strict=True):
        for i, m in enumerate(results):
            values = [_value(m, section, k) for k in keys]
            ax.bar([k + i * width for k in range(len(keys))], values, width=width,
                   color=colour(i), label=_label(m))
        ax.set_xticks([k + 0.4 - width / 2 for k in range(len(keys))], keys, fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
        ax.set_xlabel("final state" if section == "jobs" else "queue")
    return Chart("compare", "Variants side by side", "Left: jobs by final state; right: "
                 "99th percentile wait per queue (absent queue: 0). Symmetric log scales.",
                 png(fig))


def _value(m: dict[str, Any], section: str, key: str) -> float:
    if section == "jobs":
        return float(m.get("jobs", {}).get(key, 0) or 0)
    return float((m.get("queues", {}).get(key) or {}).get("latency_p99_s", 0.0) or 0.0)


def write_comparison(root: Path, results: list[dict[str, Any]]) -> Path:
    """Write ``root/compare.html`` (results[0] is the base story) and return its path."""
    from jobsim.report.html import cell, run_title, write_page

    table = build(results)
    links = [{"label": _label(m), "ok": good(m), "verdict": verdict(m),
              "href": "report.html" if i == 0 else f"{m['variant']}/report.html"}
             for i, m in enumerate(results)]
    return write_page(
        Path(root) / COMPARE_FILE, "compare.html", title=run_title(results[0]),
        variants=[_label(m) for m in results[1:]], rows=table["rows"],
        winner=table["winner"], links=links, charts=[chart(results, table["queues"])],
        cell=cell, fmt_rel=fmt_rel)
