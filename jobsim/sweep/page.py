"""sweep.html: the pass rate against each swept key, with Wilson 95 % interval bars, and
the story metric's spread across seeds at every point.

With no ``--set`` the x axis is the variants (each is the story with one setting changed);
with several keys, each key gets a chart whose lines hold the other keys fixed. Values
that are not numbers are placed at even steps, in the order they were given.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jobsim.report.figures import Chart, colour, new_figure, png
from jobsim.report.html import write_page

PAGE = "sweep.html"


def write(folder: Path, summary: dict[str, Any], rows: Sequence[dict[str, Any]]) -> Path:
    keys = [key for key, _ in (summary["groups"][0]["settings"].items()
                               if summary["groups"] else [])]
    charts = [_rate_chart(summary, key) for key in keys] or [_variant_chart(summary)]
    metric = _spread_metric(summary)
    if metric:
        charts.append(_spread_chart(summary, rows, metric))
    return write_page(folder / PAGE, "sweep.html", s=summary, charts=charts,
                      metric=metric, pct=lambda x: f"{100 * x:.1f} %")


def _label(group: dict[str, Any]) -> str:
    return group["variant"] or "base"


def _rate_chart(summary: dict[str, Any], key: str) -> Chart:
    """One line per (variant, other keys' values): rate against this key's values."""
    fig, axes = new_figure(size=(11.0, 4.0))
    ax = axes[0][0]
    values = _values(summary["groups"], key)
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    series: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
    for g in summary["groups"]:
        others = " ".join(f"{k}={v}" for k, v in g["settings"].items() if k != key)
        name = " ".join(part for part in (_label(g), others) if part)
        series.setdefault(name, []).append((g["settings"][key], g["verdict"]))
    step = _dodge(values, numeric, len(series))
    for i, (name, points) in enumerate(series.items()):
        shift = (i - (len(series) - 1) / 2) * step       # side by side, bars apart
        xs = [(v if numeric else values.index(v)) + shift for v, _ in points]
        _errorbar(ax, xs, [r for _, r in points], name, i, len(series))
    if numeric:
        ax.set_xticks(values, [str(v) for v in values])
    if not numeric:
        ax.set_xticks(range(len(values)), [str(v) for v in values])
    ax.set_xlabel(key)
    _rate_axis(ax, fig)
    return Chart(f"rate-{key}", f"Pass rate against {key}",
                 "Share of seeds whose verdict was good (PASS, or REPRODUCED for a variant "
                 "that reproduces a known failure); bars are Wilson 95 % intervals.", png(fig))


def _variant_chart(summary: dict[str, Any]) -> Chart:
    fig, axes = new_figure(size=(11.0, 4.0))
    ax = axes[0][0]
    groups = summary["groups"]
    for i, g in enumerate(groups):
        _errorbar(ax, [i], [g["verdict"]], f"{_label(g)} ({g['outcome']})", i, 1)
    ax.set_xticks(range(len(groups)), [_label(g) for g in groups])
    ax.set_xlabel("variant")
    _rate_axis(ax, fig)
    return Chart("rate-variant", "Pass rate per variant",
                 "Share of seeds whose verdict was good: PASS for the base story, REPRODUCED "
                 "for a variant that reproduces a known failure; bars are Wilson 95 % "
                 "intervals.", png(fig))


def _errorbar(ax: Any, xs: list[Any], rates: list[dict[str, Any]], name: str, i: int,
              lines: int) -> None:
    ys = [r["rate"] for r in rates]
    low = [r["rate"] - r["low"] for r in rates]
    high = [r["high"] - r["rate"] for r in rates]
    ax.errorbar(xs, ys, yerr=[low, high], marker="o", capsize=5, color=colour(i),
                linestyle="-" if len(xs) > 1 else "none", label=name)


def _rate_axis(ax: Any, fig: Any) -> None:
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("pass rate (share of seeds)")
    ax.legend(loc="best", fontsize=8)


def _spread_metric(summary: dict[str, Any]) -> str | None:
    """The story metric; without one, the metric that varies most across the runs (a
    box plot of a constant says nothing); None when every metric is constant."""
    for g in summary["groups"]:
        if g["story_metric"]:
            return str(g["story_metric"])
    best, widest = None, 0.0
    for path in dict.fromkeys(p for g in summary["groups"] for p in g["metrics"]):
        lows = [g["metrics"][path]["median"] for g in summary["groups"]
                if path in g["metrics"] and g["metrics"][path]["runs"]]
        highs = [g["metrics"][path]["max"] for g in summary["groups"]
                 if path in g["metrics"] and g["metrics"][path]["runs"]]
        width = (max(highs) - min(lows)) if lows else 0.0
        if width > widest:
            best, widest = path, width
    return best


def _spread_chart(summary: dict[str, Any], rows: Sequence[dict[str, Any]], metric: str
                  ) -> Chart:
    fig, axes = new_figure(size=(11.0, 4.2))
    ax = axes[0][0]
    labels, data = [], []
    for g in summary["groups"]:
        values = [r["metrics"].get(metric) for r in rows
                  if r["point"] == g["point"] and r["variant"] == g["variant"]]
        labels.append(f"{g['point']}\n{_label(g)}" if g["settings"] else _label(g))
        data.append([float(v) for v in values if isinstance(v, int | float)] or [float("nan")])
    ax.boxplot(data, whis=(5, 95), showfliers=True)
    for i, values in enumerate(data, start=1):
        ax.scatter([i] * len(values), values, s=8, alpha=0.5, color=colour(0), zorder=3)
    ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=8)
    ax.set_ylabel(metric)
    caption = ("Each dot is one seed; the box spans the quartiles, the line is the median "
               "and the whiskers reach the 5th and 95th percentiles.")
    seen = {v for values in data for v in values if v == v}        # NaN: no data
    if len(seen) == 1:
        caption += f" Every run gave {seen.pop():g}: this metric does not vary here."
    elif not seen:
        caption += " No run had a value for this metric."
    return Chart("spread", f"{metric} across seeds", caption, png(fig))


def _dodge(values: list[Any], numeric: bool, lines: int) -> float:
    """How far apart to draw the lines' points at one x so their bars do not overlap."""
    if lines < 2:
        return 0.0
    span = (max(values) - min(values)) if numeric and len(values) > 1 else 1.0
    return 0.06 * (span or 1.0) / lines


def _values(groups: Sequence[dict[str, Any]], key: str) -> list[Any]:
    out: list[Any] = []
    for g in groups:
        if g["settings"][key] not in out:
            out.append(g["settings"][key])
    return out
