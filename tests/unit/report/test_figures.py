"""Plotting helpers shared by every report (report/figures.py)."""

from __future__ import annotations

from jobsim.report.figures import new_figure, nothing


def _bottom_tick_labels(empty_top: bool) -> list[str]:
    fig, axes = new_figure(2, 1, sharex=True)
    bottom = axes[1][0]
    if empty_top:            # panels are drawn top to bottom, as the latency chart does
        nothing(axes[0][0], "queue 'default': none (no job started from this queue)")
    bottom.plot([0, 60, 120], [1, 2, 3])
    fig.canvas.draw()
    return [t.get_text() for t in bottom.get_xticklabels() if t.get_visible() and t.get_text()]


def test_an_empty_panel_leaves_the_shared_time_axis_of_the_panels_below() -> None:
    # The latency chart stacks one panel per queue on one time axis; a queue that started
    # no job says so in words, and the panel under it still shows its times.
    assert _bottom_tick_labels(empty_top=True) == _bottom_tick_labels(empty_top=False)
    assert len(_bottom_tick_labels(empty_top=True)) >= 3


def test_no_legend_lies_over_another_panel(monkeypatch) -> None:
    """Legends sit right of their data; in the side-by-side effects figure the left
    panel's legend (fault window, process crash) lay over the right panel, cut off."""
    from jobsim.history.history import History
    from jobsim.report import figures, timeseries

    events = [(0.0, "config", None, {"queues": [["default", 1]]}),
              (5.0, "fault_start", None, "latency", "pay", {}),
              (20.0, "crash", None, "p0")]
    for i in range(30):
        jid = f"j{i}"
        events += [(float(i), "enqueue", jid, "default", "Job", True, True, [i]),
                   (i + 0.5, "start", jid, "default", "p0", 1, 0),
                   (i + 0.6, "effect", jid, f"k{i % 20}", "pay", True),
                   (i + 0.7, "start", jid, "default", "p0", 1, 1),
                   (i + 0.8, "success", jid, 0)]
    events += [(30.0, "fault_end", None, "latency", "pay"), (40.0, "horizon", None)]
    series = timeseries.build(History(sorted(events, key=lambda e: e[0])), bins=40)
    drawn = []
    monkeypatch.setattr(figures, "png", lambda fig, dpi=figures.DPI: drawn.append(fig) or b"")
    figures.run_charts(series)
    assert drawn
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for fig in drawn:
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        renderer = canvas.get_renderer()
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is None:
                continue
            box = legend.get_window_extent(renderer)
            for other in fig.axes:
                if other is not ax and other.get_visible() and other.has_data():
                    assert not box.overlaps(other.get_window_extent(renderer)), (
                        f"legend of {ax.get_title()!r} lies over {other.get_title()!r}")


def _drawn_points(line_of: object) -> int:
    """Points a reader can see on one panel: each line's segments between two finite
    neighbours, plus markers."""
    import itertools
    import math

    _fig, axes = new_figure(1, 1)
    ax = axes[0][0]
    nan = float("nan")
    xs, ys = [0, 1, 2, 3, 4, 5, 6], [nan, 5.0, nan, nan, 7.0, nan, nan]   # two lone bins
    line_of(ax, xs, ys, color="C0", label="p99")  # type: ignore[operator]
    seen = 0
    for line in ax.get_lines():
        data = [y for y in line.get_ydata() if not math.isnan(y)]
        if line.get_marker() not in ("None", None, ""):
            seen += len(data)
        else:
            finite = [not math.isnan(y) for y in line.get_ydata()]
            seen += sum(1 for a, b in itertools.pairwise(finite) if a and b)
    return seen


def test_a_value_with_gaps_on_both_sides_is_still_drawn() -> None:
    # A queue started from once a minute has one value per bin with empty bins around
    # it; a plain line draws none of them (the negative control), the chart a dot each.
    from jobsim.report.figures import gappy_line

    assert _drawn_points(lambda ax, xs, ys, **kw: ax.plot(xs, ys, **kw)) == 0
    assert _drawn_points(gappy_line) == 2
