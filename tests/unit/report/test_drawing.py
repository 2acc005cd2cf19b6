"""The chart helper (report/drawing.py): started before the data exists, it draws the
same bytes as an in-process drawing, surfaces any failure, and leaves no process."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from jobsim.history.history import History
from jobsim.report import drawing, figures
from jobsim.report.drawing import ChartDrawer
from jobsim.report.figures import Chart
from jobsim.report.html import write_run_report

from .test_html import _metrics

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _gone(pid: int) -> bool:
    """``pid`` was our child and has been reaped."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


@pytest.fixture
def busy(history: History) -> History:
    """The hand history with a called service: one figure more, of another shape."""
    events = list(history.events[:-1])
    for t, calls, total in ((10.0, 5, 1.0), (50.0, 9, 1.8), (60.0, 14, 11.8)):
        events += [(t, "sample", None, f"traffic.payments.{k}", v) for k, v in
                   (("calls", calls), ("ended", calls), ("errors", 0), ("timeouts", 0),
                    ("latency_total_s", total))]
    events.sort(key=lambda e: e[0])
    return History([*events, history.events[-1]])


@needs_fork
@pytest.mark.parametrize(("processes", "queues"), [(1, 2), (2, 2), (3, 1)])
def test_the_helper_draws_the_bytes_an_in_process_drawing_draws(
        tmp_path: Path, busy: History, processes: int, queues: int) -> None:
    metrics = _metrics(busy)
    inline = write_run_report(tmp_path / "inline", metrics, busy).read_bytes()
    charts = ChartDrawer(processes=processes, queues=queues)
    helper = charts.pid
    assert helper                                   # really drawn by a helper
    time.sleep(1.0)                 # as during a run: the helper builds figures ahead
    charts.draw(busy)
    helped = write_run_report(tmp_path / "helped", metrics, busy, charts)
    assert 'id="fig-service-payments"' in helped.read_text()
    assert helped.read_bytes() == inline
    assert _gone(helper)


def _pngs(history: History) -> list[bytes]:
    from jobsim.report import timeseries

    return [c.png for c in figures.run_charts(timeseries.build(history))]


@pytest.mark.parametrize("spoiled", [False, True])
def test_figures_built_ahead_draw_the_same_bytes(busy: History, spoiled: bool,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control (spoiled): a figure built ahead that differs in one setting
    shows in the bytes, so the comparison can fail."""
    fresh = _pngs(busy)
    monkeypatch.setattr(figures, "_READY", {})
    for shape in [*figures.report_shapes(2), figures.SERVICE]:
        figures.prepare(shape)
    if spoiled:
        figures._READY[figures.STATES][0][0].set_facecolor("#fffffe")
    ahead = _pngs(busy)
    assert not any(figures._READY.values())         # every figure built ahead was used
    assert (ahead == fresh) is not spoiled


def test_without_fork_the_charts_are_drawn_in_process(tmp_path: Path,
                                                      history: History) -> None:
    metrics = _metrics(history)
    inline = write_run_report(tmp_path / "inline", metrics, history).read_bytes()
    charts = ChartDrawer(fork=False)
    assert not charts.pid
    charts.draw(history)
    assert write_run_report(tmp_path / "own", metrics, history, charts).read_bytes() == inline


def _failing_in(where: str, test_pid: int, folder: Path) -> list:
    """Two figures that fail with 'out of ink' in the helper or in a drawer (a drawer's
    parent is the helper, the helper's is this test). Each process, once it holds a
    figure, waits until the other holds one too (marker files in ``folder``): figures
    are taken one at a time, so each takes exactly one, however the two are scheduled
    (a sleep in one of them was not enough on a loaded machine)."""
    def make() -> Chart:
        in_helper = os.getppid() == test_pid
        (folder / ("helper" if in_helper else "drawer")).touch()
        other = folder / ("drawer" if in_helper else "helper")
        deadline = time.monotonic() + 30
        while not other.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        if in_helper == (where == "helper"):
            raise ValueError("out of ink")
        return Chart("x", "x", "x", b"")
    return [make, make]


@needs_fork
@pytest.mark.parametrize("where", ["helper", "drawer"])
def test_a_failure_in_a_drawing_process_surfaces(tmp_path: Path, history: History,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 where: str) -> None:
    test_pid = os.getpid()
    monkeypatch.setattr(figures, "chart_makers",
                        lambda _s: _failing_in(where, test_pid, tmp_path))
    charts = ChartDrawer(processes=2)              # forks: the helper sees the patch
    charts.draw(history)
    with pytest.raises(RuntimeError, match=r"(?s)helper process.*ValueError: out of ink"):
        write_run_report(tmp_path, _metrics(history), history, charts)


@needs_fork
def test_a_failure_binning_the_history_surfaces(tmp_path: Path, history: History,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from jobsim.report import timeseries

    def broken(_recorder: object, _events: object) -> None:
        raise ValueError("no bins")

    charts = ChartDrawer()
    monkeypatch.setattr(timeseries.Recorder, "feed", broken)   # the feeder forks after this
    charts.draw(history)
    with pytest.raises(RuntimeError, match=r"(?s)binning the history.*ValueError: no bins"):
        charts.result()


@needs_fork
@pytest.mark.parametrize("drawn", [False, True])
def test_cancel_leaves_no_process(history: History, drawn: bool) -> None:
    charts = ChartDrawer()
    pids = [charts.pid]
    if drawn:
        charts.draw(history)
        pids.append(charts.feeder)
    charts.cancel()
    assert all(pids) and all(_gone(pid) for pid in pids)
    charts.cancel()                                 # twice is harmless


@needs_fork
def test_an_abandoned_helper_is_reaped_with_its_handle(history: History) -> None:
    charts = ChartDrawer()
    helper = charts.pid
    charts.draw(history)
    del charts
    assert _gone(helper)


def test_drawers_follow_the_processors_up_to_the_cap() -> None:
    assert 1 <= drawing.drawers() <= drawing.MAX_DRAWERS
