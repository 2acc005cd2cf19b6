"""The run report's charts, drawn by helper processes started before the simulation.

Why: the report's figures cost a fixed second or two of matplotlib drawing plus most of
a second importing it, whatever the run's size, and on a small ``jobsim simulate`` that
was the longest stretch of the command (docs/performance.md). So the runner forks a
helper before it simulates: on the second core, while the simulation runs, the helper
imports matplotlib, loads its fonts and mathtext parser, and builds the report's empty
figures, axes, grids and ticks included (``figures.prepare``: a third of drawing a
figure was making its Tick objects). When the run ends, a child forked then (sharing
the finished history) bins it (``timeseries.build``) and sends the series down a pipe
while the runner goes on to the checks. The helper forks drawers that share its
imports and empty figures (one process per processor, at most ``MAX_DRAWERS``); each
takes the next figure from a shared list of indices, and the charts come back in page
order.

Each figure is drawn alone from the series (``figures.chart_makers``), and a figure
built ahead is the one a draw would have built, so neither which process draws a chart
nor the figures made ahead change a byte of its PNG (tests/unit/report/test_drawing.py).
Where the OS cannot fork, or the fork fails, the charts are drawn in-process when asked
for.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import select
import signal
import struct
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:       # the runner imports this before a run; matplotlib's side after it
    from jobsim.history.history import History
    from jobsim.report.figures import Chart
    from jobsim.report.timeseries import RunSeries

    Drawing = tuple[list[Chart], list[str]]     # the charts, and the fault windows in words
MAX_DRAWERS = 4
SERVICES_AHEAD = 4        # service figures built ahead, if the run lasts long enough
_INDEX = struct.Struct("<H")                  # a figure's index in the shared list


def fault_lines(series: RunSeries) -> list[str]:
    """The fault windows, as the report prints them under the charts."""
    return [f"{label}: {start:,.0f} s to {end:,.0f} s" for start, end, label in series.faults]


def draw(history: History) -> Drawing:
    """The run report's charts and fault windows, drawn in this process."""
    from jobsim.report import figures, timeseries

    series = timeseries.build(history)
    return figures.run_charts(series), fault_lines(series)


def drawers() -> int:
    """How many processes draw: one per processor this process may use, at most
    ``MAX_DRAWERS`` (a report has about ten figures)."""
    affinity = getattr(os, "sched_getaffinity", None)
    cpus = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
    return max(1, min(MAX_DRAWERS, cpus))


class ChartDrawer:
    """A helper that has matplotlib ready before the run ends.

    ``draw(history)`` hands it the finished history; ``result()`` waits for the charts;
    ``cancel()`` abandons them. Without a helper (``fork=False``, no ``os.fork``, a
    failed fork) ``result()`` draws in-process.
    """

    def __init__(self, fork: bool = True, processes: int | None = None,
                 queues: int = 1) -> None:
        self.pid = 0                                # the helper
        self.feeder = 0                             # the child binning the history
        self.owner = os.getpid()                    # a forked copy never cancels
        self.history: History | None = None
        self._feed = -1                             # the series, to the helper
        self._results = -1                          # the charts, from the helper
        if not fork or not hasattr(os, "fork"):
            return
        feed_r, feed_w = os.pipe()
        results_r, results_w = os.pipe()
        try:
            pid = os.fork()
        except OSError:                     # no fork today (process or memory limit)
            for fd in (feed_r, feed_w, results_r, results_w):
                os.close(fd)
            return
        if pid == 0:                        # the helper: never returns
            os.close(feed_w)
            os.close(results_r)
            _helper(feed_r, results_w, processes or drawers(), queues)
        os.close(feed_r)
        os.close(results_w)
        self.pid, self._feed, self._results = pid, feed_w, results_r

    def draw(self, history: History) -> None:
        """Start drawing the charts of the finished ``history``. A child forked now
        shares the history, bins it and sends the series to the helper, so this process
        goes straight on (to the checks)."""
        self.history = history
        feed, self._feed = self._feed, -1
        if feed < 0:
            return
        try:
            pid = os.fork()
        except OSError:
            pid = -1
        if pid == 0:                        # the feeder: never returns
            os.close(self._results)
            _feeder(history, feed)
        if pid < 0:                         # no fork: bin here, wait for the helper to read
            _send_series(history, feed)
        self.feeder = max(pid, 0)
        os.close(feed)

    def draw_series(self, history: History, series: RunSeries) -> None:
        """Start drawing the charts from ``series``, already binned from the finished
        ``history`` (scenario/judge.py bins it while the run records it)."""
        self.history = history
        feed, self._feed = self._feed, -1
        if feed >= 0:
            _write_all(feed, pickle.dumps((True, series), pickle.HIGHEST_PROTOCOL))
            os.close(feed)

    def result(self) -> Drawing:
        """The charts in page order, and the fault windows in words; raises with the
        helper's traceback if it failed."""
        if self._results < 0:
            if self.history is None:
                raise RuntimeError("drawing the report's charts: no history was given")
            return draw(self.history)
        if self._feed >= 0:
            raise RuntimeError("drawing the report's charts: call draw(history) first")
        results, self._results = self._results, -1
        data = _read_all(results)
        status = self._reap()
        if not data:
            raise RuntimeError("drawing the report's charts: the helper process died "
                               f"(wait status {status})")
        ok, value = pickle.loads(data)
        if not ok:
            raise RuntimeError(f"drawing the report's charts failed in the helper "
                               f"process:\n{value}")
        return value  # type: ignore[no-any-return]

    def cancel(self) -> None:
        """Abandon the charts: kill and reap the helper and the feeder (the helper's
        drawers notice and stop)."""
        for fd in (self._feed, self._results):
            if fd >= 0:
                os.close(fd)
        self._feed = self._results = -1
        for pid in (self.pid, self.feeder):
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._reap()

    def __del__(self) -> None:      # a result nobody asked for must not leave a helper
        if os.getpid() == self.owner:
            with contextlib.suppress(Exception):
                self.cancel()

    def _reap(self) -> int:
        """Wait for the feeder and the helper; the helper's wait status."""
        status = 0
        for pid in (self.feeder, self.pid):
            if pid:
                with contextlib.suppress(ChildProcessError):
                    _, status = os.waitpid(pid, 0)
        self.pid = self.feeder = 0
        return status


def _feeder(history: History, feed: int) -> None:
    status = 0
    try:
        gc.disable()        # short-lived; a full collection would copy every shared page
        _send_series(history, feed)
    except BaseException:
        status = 1
    finally:
        os._exit(status)    # no atexit handlers, no second flush of the parent's buffers


def _send_series(history: History, feed: int) -> None:
    """Record ``history``'s series and write the recorder (or why it could not be made)
    to ``feed``; the helper bins them."""
    from jobsim.report import timeseries

    try:
        # Recorded here, binned by the helper: it has numpy loaded already (matplotlib's),
        # and importing it here would come before every chart.
        recorder = timeseries.Recorder(filing=False)
        recorder.feed(history.events)
        payload = pickle.dumps((True, (recorder, timeseries.end_time(history))),
                               pickle.HIGHEST_PROTOCOL)
    except Exception:
        payload = pickle.dumps((False, traceback.format_exc()))
    _write_all(feed, payload)


def _write_all(feed: int, payload: bytes) -> None:
    with contextlib.suppress(BrokenPipeError):      # a helper that died shows in result
        view = memoryview(payload)
        while view:
            view = view[os.write(feed, view):]


def _helper(feed: int, results: int, processes: int, queues: int) -> None:
    """The helper's life: import, warm up and build empty figures ahead while the run
    simulates; read the series, draw, answer, exit."""
    status = 0
    try:
        gc.disable()        # short-lived; figures are few and freed with the process
        from jobsim.report import figures

        figures.warm_up()
        _prepare(feed, queues)
        data = _read_all(feed)
        if not data:                        # the run failed: nothing to draw
            os._exit(0)
        ok, sent = pickle.loads(data)
        if not ok:
            raise RuntimeError(f"binning the history failed:\n{sent}")
        series = sent if not isinstance(sent, tuple) else sent[0].series(sent[1])
        charts = _draw_shared(series, processes, results)
        answer = pickle.dumps((True, (charts, fault_lines(series))))
    except BaseException:
        answer, status = pickle.dumps((False, traceback.format_exc())), 1
    _answer(results, answer, status)


def _prepare(feed: int, queues: int) -> None:
    """Build the report's empty figures ahead (``figures.prepare``) until the series
    arrives: first those every report draws, then up to ``SERVICES_AHEAD`` service
    figures (a run calls services its scenario does not list, so there is no count)."""
    from jobsim.report import figures

    shapes = [*figures.report_shapes(queues), *[figures.SERVICE] * SERVICES_AHEAD]
    for shape in shapes:
        if select.select([feed], [], [], 0)[0]:      # the series (or the end) is here
            return
        figures.prepare(shape)


def _draw_shared(series: RunSeries, processes: int, answer: int) -> list[Chart]:
    """Every chart of ``series``, drawn by this process and up to ``processes - 1``
    forked drawers, each taking the next index from a shared pipe until none is left.
    ``answer``: this helper's pipe to the runner, which no drawer may hold open."""
    from jobsim.report import figures

    makers = figures.chart_makers(series)
    tokens_r, tokens_w = os.pipe()
    os.write(tokens_w, b"".join(_INDEX.pack(i) for i in range(len(makers))))
    os.close(tokens_w)
    helper = os.getpid()
    others: list[tuple[int, int]] = []
    for _ in range(min(processes, len(makers)) - 1):
        read, write = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            break
        if pid == 0:                        # a drawer: never returns
            for fd in (read, answer, *(other for _pid, other in others)):
                os.close(fd)
            _drawer(makers, tokens_r, write, helper)
        os.close(write)
        others.append((pid, read))
    charts = _take(makers, tokens_r)
    for pid, read in others:
        data = _read_all(read)
        _, status = os.waitpid(pid, 0)
        if not data:
            raise RuntimeError(f"a drawer process died (wait status {status})")
        ok, value = pickle.loads(data)
        if not ok:
            raise RuntimeError(f"a drawer process failed:\n{value}")
        charts.update(value)
    return [charts[i] for i in range(len(makers))]


def _drawer(makers: list[Callable[[], Chart]], tokens: int, results: int,
            helper: int) -> None:
    status = 0
    try:
        answer = pickle.dumps((True, _take(makers, tokens, parent=helper)))
    except BaseException:
        answer, status = pickle.dumps((False, traceback.format_exc())), 1
    _answer(results, answer, status)


def _take(makers: list[Callable[[], Chart]], tokens: int,
          parent: int | None = None) -> dict[int, Chart]:
    """Draw the figures whose indices this process takes, until none is left or, for
    a drawer, its ``parent`` helper is gone (cancelled: the drawer is an orphan)."""
    charts = {}
    while parent is None or os.getppid() == parent:
        token = os.read(tokens, _INDEX.size)
        if not token:
            break
        (i,) = _INDEX.unpack(token)
        charts[i] = makers[i]()
    return charts


def _read_all(fd: int) -> bytes:
    with os.fdopen(fd, "rb") as pipe:
        return pipe.read()


def _answer(fd: int, data: bytes, status: int) -> None:
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    finally:
        os._exit(status)    # no atexit handlers, no second flush of the parent's buffers
