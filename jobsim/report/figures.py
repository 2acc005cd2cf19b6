"""Figures of the run report, and the plotting helpers every report shares.

Why matplotlib's object API (``Figure``) rather than pyplot: no global figure registry,
no GUI backend is ever selected (rendering goes through Agg), and nothing leaks between
reports built in one process. Colours are the Okabe-Ito palette, distinguishable with
the common colour-vision deficiencies. Every axis names its unit.

Figures are returned as ``Chart`` (title, caption, PNG bytes); writers inline them as
data URIs so a report opens offline.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from jobsim.report.timeseries import PERCENTILES, RunSeries

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9",
             "#F0E442", "#000000")
FAULT_SHADE = "#999999"
LEGEND_ROOM = 2.3      # inches right of the data for a legend outside it
DPI = 80
WIDE = (11.0, 3.6)
# Fixed margins in inches: matplotlib's layout engines double the drawing time.
MARGINS = {"left": 0.85, "right": 0.25, "bottom": 0.6, "top": 0.45}
GAP = {"h": 0.75, "w": 0.9}

# Titles sit at the top of their axes: matplotlib's search for a place above top-side
# ticks or an offset label measured every tick label once more per axes at each draw
# (7 % of the drawing), and these figures have no top-side ticks.
FIXED_TITLES = {"axes.titley": 1.0}

# Lifecycle states drawn in the stacked areas, with fixed colours across reports.
ACTIVE_STATES = ("scheduled", "deferred", "enqueued", "processing", "retrying")
FINAL_STATES = ("succeeded", "dead", "discarded", "canceled")
STATE_COLOURS = {
    "scheduled": "#56B4E9", "deferred": "#CC79A7", "enqueued": "#E69F00",
    "processing": "#0072B2", "retrying": "#D55E00", "succeeded": "#009E73",
    "dead": "#000000", "discarded": "#999999", "canceled": "#F0E442",
}


@dataclass
class Chart:
    """One rendered figure: what the page shows around it, and the image itself."""

    slug: str
    title: str
    caption: str
    png: bytes


def colour(i: int) -> str:
    return OKABE_ITO[i % len(OKABE_ITO)]


def new_figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = WIDE,
               right: float | None = None, left: float | None = None,
               **kwargs: Any) -> tuple[Figure, Any]:
    """A figure and its axes, with a light grid; no pyplot involved. ``right``: the
    right margin in inches (room for a legend outside the data); ``left``: the left
    margin in inches (room for long tick labels, such as variant names)."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    w, h = size
    with rc_context(FIXED_TITLES):
        axes = fig.subplots(rows, cols, squeeze=False, **kwargs)
    fig.subplots_adjust(
        left=(MARGINS["left"] if left is None else left) / w,
        right=1 - (MARGINS["right"] if right is None else right) / w,
        bottom=MARGINS["bottom"] / h, top=1 - MARGINS["top"] / h,
        hspace=GAP["h"] * rows / max(h - GAP["h"] * (rows - 1) - 1.05, 0.5),
        wspace=GAP["w"] * cols / max(w - GAP["w"] * (cols - 1) - 1.1, 0.5))
    for ax in axes.flat:
        ax.grid(True, color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
    return fig, axes


def warm_up() -> None:
    """Import matplotlib and load its font and mathtext parser: what the first figure of
    a process pays, paid by the chart helper before the data exists (report/drawing.py)."""
    fig, axes = new_figure(size=(2.0, 1.5))
    axes[0][0].set_yscale("symlog", linthresh=0.01)
    axes[0][0].set_title("warm-up")
    png(fig, dpi=20)


def png(fig: Figure, dpi: int = DPI) -> bytes:
    """Render with Agg to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def time_unit(span_s: float) -> tuple[float, str]:
    """(divisor, unit name) that keeps a time axis of ``span_s`` seconds readable."""
    if span_s > 3 * 86400:
        return 86400.0, "days"
    if span_s > 3 * 3600:
        return 3600.0, "h"
    if span_s > 180:
        return 60.0, "min"
    return 1.0, "s"


def shade_faults(ax: Axes, faults: list[tuple[float, float, str]], scale: float,
                 crashes: Sequence[float] = ()) -> None:
    """Grey bands over every fault window and dotted lines at crashes."""
    for i, (start, end, _label) in enumerate(faults):
        ax.axvspan(start / scale, end / scale, color=FAULT_SHADE, alpha=0.18, linewidth=0,
                   label="fault window" if i == 0 else None)
    for i, t in enumerate(crashes[:200]):
        ax.axvline(t / scale, color="#000000", linestyle=":", linewidth=0.8,
                   label="process crash" if i == 0 else None)


# ---- run report ------------------------------------------------------------------------
@dataclass(frozen=True)
class Shape:
    """The empty figure one chart of the run report starts from (its ``new_figure``
    arguments; every one keeps room for a legend on the right). Empty figures of a
    known shape can be built before the data exists (``prepare``)."""

    rows: int = 1
    cols: int = 1
    size: tuple[float, float] = WIDE
    sharex: bool = False

    def build(self) -> tuple[Figure, Any]:
        extra = {"sharex": True} if self.sharex else {}
        return new_figure(self.rows, self.cols, size=self.size, right=LEGEND_ROOM, **extra)


PANEL = Shape()                                       # class latency, queue depth, retries
SERVICE = Shape(2, 1, (11.0, 5.6), sharex=True)
STATES = Shape(2, 1, (11.0, 6.0), sharex=True)
EFFECTS = Shape(1, 2, (11.0, 3.4))
# Ticks made ahead per axis (x, y): the charts of a run report use about 7 and 5 to 11.
# Making Tick objects was a third of drawing a figure; a tick made ahead is the same
# object the draw would have made, and ticks beyond those a draw asks for are not drawn.
TICKS_AHEAD = (7, 9)
_READY: dict[Shape, list[tuple[Figure, Any]]] = {}    # built ahead, in this process


def latency_shape(queues: int) -> Shape:
    """The latency figure: one row per queue."""
    return Shape(queues, 1, (11.0, 1.2 + 2.2 * queues), sharex=True)


def report_shapes(queues: int) -> list[Shape]:
    """The figures every run report draws, for a run of ``queues`` queues (at least
    the ones configured); a service figure per called service comes on top."""
    return [PANEL, PANEL, PANEL, STATES, EFFECTS, latency_shape(max(queues, 1))]


def prepare(shape: Shape) -> None:
    """Build an empty figure of ``shape`` with its axes, grid and ticks, for a later
    ``figure(shape)`` in this process: the chart helper does this while the run
    simulates (report/drawing.py). The chart drawn on it has the same bytes."""
    fig, axes = shape.build()
    for ax in axes.flat:
        ax.xaxis.get_major_ticks(TICKS_AHEAD[0])
        ax.yaxis.get_major_ticks(TICKS_AHEAD[1])
    _READY.setdefault(shape, []).append((fig, axes))


def figure(shape: Shape) -> tuple[Figure, Any]:
    """An empty figure of ``shape``: one built ahead if any is left, else a new one."""
    ready = _READY.get(shape)
    return ready.pop() if ready else shape.build()


def run_charts(series: RunSeries) -> list[Chart]:
    """The figures of a scenario run's report, in page order."""
    return [make() for make in chart_makers(series)]


def chart_makers(series: RunSeries) -> list[Callable[[], Chart]]:
    """One call per figure of the run report, in page order: each draws its figure
    alone, so helper processes can share them out (``report/drawing.py``)."""
    scale, unit = time_unit(series.end)
    xs = [t / scale for t in series.times()]
    ctx = (series, xs, scale, unit)
    return [*(partial(_service, *ctx, name) for name in _services_in_order(series)),
            *(partial(draw, *ctx) for draw in (_class_latency, _queue_depth, _latency,
                                               _states, _retries, _effects))]


def nothing(ax: Axes, text: str) -> None:
    """An empty plot says so in words instead of drawing axes around nothing. Its ticks
    are hidden on this axis alone: emptying the tick list of an axis that shares x with
    the panels below would empty theirs too."""
    ax.clear()
    ax.tick_params(left=False, bottom=False, labelleft=False, labelbottom=False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            color="#555555", fontsize=11)


def gappy_line(ax: Axes, xs: Sequence[float], ys: Sequence[float], **style: Any) -> None:
    """A line with gaps (NaN bins, where nothing happened), and a dot for each value
    with a gap on both sides: a line needs two neighbours, so a queue started from once
    in a while (minute-long jobs, one thread) would otherwise draw nothing at all."""
    ax.plot(xs, ys, **style)
    lone = [i for i, y in enumerate(ys) if y == y
            and (i == 0 or ys[i - 1] != ys[i - 1])
            and (i == len(ys) - 1 or ys[i + 1] != ys[i + 1])]
    if lone:
        ax.plot([xs[i] for i in lone], [ys[i] for i in lone], linestyle="none",
                marker="o", markersize=2.5, color=style.get("color"))


def _legend_outside(ax: Axes) -> None:
    """The legend to the right of the data, never over it."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _services_in_order(series: RunSeries) -> list[str]:
    """The called services, those named by a fault window first."""
    faulted = " ".join(label for _, _, label in series.faults)
    return sorted(series.services, key=lambda name: name not in faulted)


def _service(series: RunSeries, xs: list[float], scale: float, unit: str,
             name: str) -> Chart:
    """One called service: call duration (mean, max) and calls, errors and timeouts per
    minute, over time, fault windows shaded."""
    stats = series.services[name]
    fig, axes = figure(SERVICE)
    left, right = axes[0][0], axes[1][0]
    for i, (key, label, style) in enumerate((("latency_mean_s", "mean", "-"),
                                             ("latency_max_s", "max", ":"))):
        ys = [float("nan") if v is None else v for v in stats[key]]
        gappy_line(left, xs, ys, color=colour(i), linestyle=style, linewidth=1.5,
                   label=label)
    left.set_title(f"'{name}': call duration", fontsize=10)
    _finish(left, series, scale, unit, "seconds per call (s)", counts=False, legend=False)
    left.set_ylim(bottom=0)
    left.set_xlabel("")
    for i, (key, label) in enumerate((("calls", "calls"), ("errors", "errors"),
                                      ("timeouts", "timeouts"))):
        right.plot(xs, _per_minute(stats[key], series.width), color=colour(i + 2),
                   linewidth=1.4, drawstyle="steps-mid", label=label)
    right.set_title(f"'{name}': calls, errors and timeouts", fontsize=10)
    _finish(right, series, scale, unit, "per minute (1/min)", legend=False)
    _legend_outside(left)
    _legend_outside(right)
    return Chart(f"service-{name}", f"Service '{name}' over time",
                 "Top: mean and longest duration of the calls that ended in "
                 "each time bin, as the job saw it (waiting for a slot and "
                 "failures included). Bottom: calls started, errors and client "
                 "timeouts per minute. Grey bands: fault windows.", png(fig))


def _class_latency(series: RunSeries, xs: list[float], scale: float, unit: str) -> Chart:
    fig, axes = figure(PANEL)
    ax = axes[0][0]
    drawn = False
    for i, (name, latency) in enumerate(series.class_latency.items()):
        ys = [float("nan") if v is None else v for v in latency.get(99, [])]
        if any(v == v for v in ys):
            gappy_line(ax, xs, ys, color=colour(i), linewidth=1.5, label=name)
            drawn = True
    if not drawn:
        nothing(ax, "none: no job started in this run")
    else:
        ax.set_yscale("symlog", linthresh=0.01)
        ax.set_ylim(bottom=0)
        ax.set_title("p99 wait per job class (visible in a queue to start)", fontsize=10)
        _finish(ax, series, scale, unit, "wait (s, symlog)", counts=False, legend=False)
        _legend_outside(ax)
    return Chart("class-latency", "Wait per job class",
                 "99th percentile of the wait of each job class's jobs started in each "
                 "time bin (symmetric log scale: linear below 10 ms); one line per class, "
                 "named in the legend. Grey bands: fault windows.", png(fig))


def floor_at_zero(ax: Axes) -> None:
    """Counts start at zero, on whole-number ticks (never 0..0.05 fractions); an
    all-zero chart shows 0..1 rather than a negative range."""
    from matplotlib.ticker import MaxNLocator

    ax.set_ylim(bottom=0)
    if ax.get_ylim()[1] <= 1:
        ax.set_ylim(0, 1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _finish(ax: Axes, series: RunSeries, scale: float, unit: str, ylabel: str,
            counts: bool = True, legend: bool = True) -> None:
    if counts:
        floor_at_zero(ax)
    shade_faults(ax, series.faults, scale, series.crashes)
    ax.set_xlim(0, series.end / scale)
    ax.set_xlabel(f"simulated time ({unit})")
    ax.set_ylabel(ylabel)
    if legend:
        _legend_outside(ax)


def _per_minute(counts: list[int], width: float) -> list[float]:
    factor = 60.0 / width
    return [c * factor for c in counts]


def _queue_depth(series: RunSeries, xs: list[float], scale: float, unit: str) -> Chart:
    fig, axes = figure(PANEL)
    ax = axes[0][0]
    for i, name in enumerate(series.queues):
        ax.plot(xs, series.depth[name], color=colour(i), linewidth=1.6, label=name)
    ax.set_title("Queue depth over time (peak per bin)")
    _finish(ax, series, scale, unit, "jobs waiting in queue (jobs)")
    return Chart("queue-depth", "Queue depth", "Peak number of jobs waiting in each queue "
                 "within each time bin. Grey bands: fault windows.", png(fig))


def _latency(series: RunSeries, xs: list[float], scale: float, unit: str) -> Chart:
    queues = series.queues or ["(none)"]
    fig, axes = figure(latency_shape(len(queues)))
    styles = {50: ("-", 1.0), 95: ("--", 1.3), 99: (":", 1.8)}
    for row, name in enumerate(queues):
        ax = axes[row][0]
        latency = series.latency.get(name, {})
        for k, p in enumerate(PERCENTILES):
            values = latency.get(p, [])
            ys = [float("nan") if v is None else v for v in values]
            if ys:
                style, lw = styles.get(p, ("-", 1.0))
                gappy_line(ax, xs, ys, color=colour(k), linestyle=style, linewidth=lw,
                           label=f"p{p}")
        if not any(v is not None for v in latency.get(PERCENTILES[0], [])):
            nothing(ax, f"queue '{name}': none (no job started from this queue)")
            continue
        ax.set_yscale("symlog", linthresh=0.01)
        ax.set_ylim(bottom=0)
        ax.set_title(f"Queue '{name}': wait from visible to start, percentiles per bin",
                     fontsize=10)
        _finish(ax, series, scale, unit, "wait (s, symlog)", counts=False)
        if row < len(queues) - 1:
            ax.set_xlabel("")
    return Chart("latency", "Latency percentiles per queue",
                 "p50 / p95 / p99 of the wait of the jobs started in each time bin "
                 "(symmetric log scale: linear below 10 ms).", png(fig))


def _states(series: RunSeries, xs: list[float], scale: float, unit: str) -> Chart:
    fig, axes = figure(STATES)
    for ax, names, title in ((axes[0][0], ACTIVE_STATES, "Jobs in the system by state"),
                             (axes[1][0], FINAL_STATES, "Finished jobs by final state")):
        present = [s for s in names if any(series.states.get(s, ()))] or [names[0]]
        ax.stackplot(xs, [[max(0, v) for v in series.states.get(s, [0] * len(xs))]
                          for s in present],
                     labels=present, colors=[STATE_COLOURS[s] for s in present], alpha=0.9,
                     step="mid")
        ax.set_title(title, fontsize=10)
        _finish(ax, series, scale, unit, "jobs (count, stacked)")
    axes[0][0].set_xlabel("")
    return Chart("states", "Job states over time",
                 "How many jobs are in each lifecycle state at the end of each time bin "
                 "(stacked). Top: waiting or running; bottom: finished.", png(fig))


def _retries(series: RunSeries, xs: list[float], scale: float, unit: str) -> Chart:
    fig, axes = figure(PANEL)
    ax = axes[0][0]
    c = series.counts
    keys = (("failures", "failures"), ("retries", "retries scheduled"),
            ("retried", "retried executions (attempt > 1)"),
            ("dead", "jobs moved to the dead set"))
    if not any(any(c[key]) for key, _ in keys):
        nothing(ax, "none: no job failed, was retried or died in this run")
    else:
        for i, (key, label) in enumerate(keys):
            ax.plot(xs, _per_minute(c[key], series.width), color=colour(i), linewidth=1.4,
                    label=label, drawstyle="steps-mid")
        ax.set_title("Failures, retries and deaths over time")
        _finish(ax, series, scale, unit, "events per minute (1/min)")
    return Chart("retries", "Retries over time", "Failures, retries scheduled, retried "
                 "executions and deaths, as rates per minute in each time bin.", png(fig))


def _effects(series: RunSeries, xs: list[float], scale: float, unit: str) -> Chart:
    fig, axes = figure(EFFECTS)
    c = series.counts
    left, right = axes[0][0], axes[0][1]
    if any(c["effects"]):
        left.plot(xs, _per_minute(c["effects"], series.width), color=colour(0),
                  linewidth=1.4, drawstyle="steps-mid")
        left.set_title("Side effects on the outside world", fontsize=10)
        # No legend of its own: placed right of the data it would lie over the right
        # panel (its only entries would be the fault band and the crash line).
        _finish(left, series, scale, unit, "effects per minute (1/min)", legend=False)
    else:
        nothing(left, "none: no side effect in this run")
    keys = (("dup_effects", "duplicate effects (once-keys)"),
            ("dup_runs", "duplicate executions (dup=1)"))
    if any(any(c[key]) for key, _ in keys):
        for i, (key, label) in enumerate(keys):
            right.plot(xs, _cumsum(c[key]), color=colour(i + 3), linewidth=1.6, label=label)
        right.set_title("Duplicates, cumulative", fontsize=10)
        _finish(right, series, scale, unit, "duplicates so far (count)")
    else:
        nothing(right, "none: no duplicate effect or execution")
    return Chart("effects", "Effects and duplicates", "Left: rate of side effects. Right: "
                 "cumulative duplicate effects (a once-key seen again) and duplicate "
                 "executions. Grey bands: fault windows; dotted lines: process crashes.",
                 png(fig))


def _cumsum(values: list[int]) -> list[int]:
    total, out = 0, []
    for v in values:
        total += v
        out.append(total)
    return out


# ---- duration axes ---------------------------------------------------------------------
DURATION_TICKS = ((0.001, "1 ms"), (0.01, "10 ms"), (0.1, "100 ms"), (1, "1 s"),
                  (10, "10 s"), (60, "1 min"), (600, "10 min"), (3600, "1 h"),
                  (6 * 3600, "6 h"), (86400, "1 d"), (7 * 86400, "7 d"), (30 * 86400, "30 d"))


def duration_axis(ax: Axes, label: str) -> None:
    """Log-scaled seconds on y, ticked at human durations (1 s, 1 min, 1 h, 1 d...)."""
    ax.set_yscale("log")
    low, high = ax.get_ylim()
    ticks = [(v, text) for v, text in DURATION_TICKS if low <= v <= high]
    if len(ticks) >= 2:
        from matplotlib.ticker import NullLocator

        ax.set_yticks([v for v, _ in ticks], [text for _, text in ticks])
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_ylim(low, high)
    ax.set_ylabel(label)
