"""The ``--all-variants`` comparison page: the base story and each variant side by side.

Why: a variant is the story with one thing changed (a safeguard switched off, another
job system, another setting), so the page's job is to show what that change is worth.
The page leads with the scenario's story: its question and the story metric in every
run, drawn first (or stated in words when every run has the same value). Then the
metrics that differ between the runs are drawn (one small chart each, largest
difference first; a metric equal in every run is left out of the charts, never drawn
as identical bars), and every key metric is laid out per variant with its relative
difference to the base.

Relative difference is ``(variant - base) / |base|``, ranked by its magnitude; a metric
that is zero in the base and not in the variant counts as infinitely different (ties
broken by the absolute difference). Metrics missing on either side (a queue that only
one variant has) are shown but not ranked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jobsim.report.figures import Chart
from jobsim.report.summary import good, story_line, verdict

JOB_KEYS = ("enqueued", "succeeded", "dead", "discarded", "canceled", "lost", "in_flight",
            "executions", "retries")
COMPARE_FILE = "compare.html"


def flatten(m: dict[str, Any], queues: list[str], checks: list[str],
            classes: Sequence[str] = ()) -> dict[str, Any]:
    """The compared metrics of one run as {label: number | str | None}."""
    jobs = m.get("jobs", {})
    out: dict[str, Any] = {f"jobs.{k}": jobs.get(k) for k in JOB_KEYS}
    out["effects.total"] = m.get("effects", {}).get("total")
    out["effects.duplicates"] = m.get("effects", {}).get("duplicates")
    for q in queues:
        stats = m.get("queues", {}).get(q)
        out[f"queues.{q}.latency_p99_s"] = stats.get("latency_p99_s") if stats else None
    for name in classes:
        stats = m.get("jobs_by_class", {}).get(name)
        for key in ("latency_p99_s", "dead"):
            out[f"jobs_by_class.{name}.{key}"] = stats.get(key) if stats else None
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
    classes = sorted({c for m in results for c in m.get("jobs_by_class", {})})
    flat = [flatten(m, queues, checks, classes) for m in results]
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
    return {"rows": rows, "winner": winner, "queues": queues,
            "differing": _differing(rows)}


def _differing(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Numeric rows whose value is not the same in every run, largest change first."""
    out = []
    for row in rows:
        values = [row["base"], *(c["value"] for c in row["cells"])]
        numbers = [v for v in values if _number(v)]
        if len(numbers) < 2 or len(set(numbers)) < 2:
            continue
        rels = [abs(c["rel"]) for c in row["cells"] if c["rel"] is not None]
        out.append((max(rels, default=0.0), row))
    out.sort(key=lambda pair: -pair[0])
    return [row for _, row in out]


def fmt_rel(rel: float | None) -> str:
    if rel is None:
        return ""
    if math.isinf(rel):
        return "new (base 0)"
    return f"{rel:+.0%}" if rel < 100 else f"x{rel + 1:,.0f}"  # x N: N times the base


def story_chart(results: list[dict[str, Any]]) -> Chart | None:
    """The story metric in every run, one bar each, its value written on the bar; None
    when there is no story, or when every run has the same value (an all-equal chart, often
    all zero bars, looks empty; the headline states the value instead)."""
    from jobsim.report.figures import colour, new_figure, nothing, png
    from jobsim.report.summary import fmt, seconds, story_value

    story = results[0].get("story") or {}
    if not story:
        return None
    show = seconds if story["metric"].endswith("_s") else fmt
    labels = [_label(m) for m in results]
    values = [story_value(m) for m in results]
    if len({show(v) for v in values}) == 1 and _number(values[0]):
        return None   # the same in every run: the headline says so; bars would add nothing
    # Room for the longest variant name on the y axis (about 0.09 in a character at 10 pt).
    left = max(0.85, 0.3 + 0.09 * max(len(label) for label in labels))
    fig, axes = new_figure(size=(11.0, 1.4 + 0.5 * len(results)), left=left)
    ax = axes[0][0]
    if not any(_number(v) for v in values):
        nothing(ax, "none: the story metric has no data in any run")
    else:
        ys = list(range(len(results)))[::-1]
        bars = [float(v) if _number(v) else 0.0 for v in values]
        ax.barh(ys, bars, color=[colour(i) for i in range(len(results))], height=0.6)
        ax.set_yticks(ys, labels)
        top = max(bars) or 1.0
        for y, v, text in zip(ys, bars, values, strict=True):
            ax.text(v + top * 0.01, y, show(text), va="center", fontsize=10)
        ax.set_xlim(0, top * 1.18)
        ax.set_xlabel(story.get("label") or story["metric"])
        ax.set_title(story["question"], fontsize=11)
    return Chart("story", "The story across the runs",
                 f"{story.get('label') or story['metric']} (metrics.json "
                 f"{story['metric']}) in the base run and each variant; one bar per run, "
                 "its value written beside it.", png(fig))


def chart(results: list[dict[str, Any]], differing: list[dict[str, Any]],
          limit: int = 6) -> Chart:
    """One small bar chart per metric that differs between the runs (largest relative
    change first), bars coloured per run as in the story chart."""
    from jobsim.report.figures import colour, new_figure, nothing, png

    shown = differing[:limit]
    cols = 3
    rows = max(1, -(-len(shown) // cols))
    fig, axes = new_figure(rows, cols, size=(11.0, 0.6 + 2.6 * rows))
    labels = [_label(m) for m in results]
    for ax, row in zip(axes.flat, shown, strict=False):
        values = [row["base"], *(c["value"] for c in row["cells"])]
        bars = [float(v) if _number(v) else 0.0 for v in values]
        ax.bar(range(len(values)), bars, color=[colour(i) for i in range(len(values))])
        ax.set_xticks(range(len(values)), labels, fontsize=8, rotation=15)
        ax.set_title(row["metric"], fontsize=8)
        ax.set_ylim(0, (max(bars) or 1.0) * 1.2)
        for x, (v, raw) in enumerate(zip(bars, values, strict=True)):
            ax.text(x, v, "—" if raw is None else f"{v:,.3g}", ha="center", va="bottom",
                    fontsize=7)
    for ax in list(axes.flat)[len(shown):]:
        if shown:
            ax.set_visible(False)
        else:
            nothing(ax, "none: every compared metric is the same in all runs")
    rest = len(differing) - limit
    more = "" if rest <= 0 else (" The other one is in the table." if rest == 1
                                 else f" The {rest} others are in the table.")
    which = ("The one compared metric that differs" if len(shown) == 1
             else f"The {len(shown)} compared metrics that differ most")
    return Chart("compare", "What changed between the runs",
                 f"{which} between the runs "
                 f"(largest relative change to the base first); bars per run in the order "
                 f"{', '.join(labels)}; metrics equal in every run are not drawn.{more}",
                 png(fig))


def write_comparison(root: Path, results: list[dict[str, Any]]) -> Path:
    """Write ``root/compare.html`` (results[0] is the base story) and return its path."""
    from jobsim.report.html import cell, run_title, write_page

    table = build(results)
    links = [{"label": _label(m), "ok": good(m), "verdict": verdict(m),
              "href": "report.html" if i == 0 else f"{m['variant']}/report.html"}
             for i, m in enumerate(results)]
    story = story_chart(results)
    charts = [c for c in (story, chart(results, table["differing"])) if c is not None]
    first = results[0]
    return write_page(
        Path(root) / COMPARE_FILE, "compare.html", title=run_title(first),
        variants=[_label(m) for m in results[1:]], rows=table["rows"],
        winner=table["winner"], links=links, charts=charts, cell=cell, fmt_rel=fmt_rel,
        story=first.get("story"), story_line=story_line(results) or "",
        description=" ".join((first.get("description") or "").split()),
        descriptions=[(_label(m), " ".join((m.get("description") or "").split()))
                      for m in results[1:]])
