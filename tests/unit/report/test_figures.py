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
