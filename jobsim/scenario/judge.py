"""The judge: a forked helper that reads the history while the simulation records it.

Why: after a large run the saver, the checkers and the metrics' passes each read every
event once more, on one core, while the other core had sat idle through the simulation
(M/M/4 at 200,000 jobs: 4 s of reading after 7.7 s of simulating). A judge forked once
the history is large takes each slice's new events while the next slice simulates. When
the run ends it has saved the history, fed every check that can judge in pieces
(``registry.stream``), made the metrics' passes (``metrics.Passes``), the report's
Retries and Dead tables (``job_sets``) and its charts' series (``timeseries.Recorder``).
The parent hands the series to the chart helper and runs the remaining checks.

Forked, the judge starts with the events recorded so far already in its memory; later
ones cross a pipe pickled, one frame a slice, written by a thread so that the simulation
never waits on the judge. Its answer comes back pickled. Whatever goes wrong with the
judge itself (no fork, a crash, a broken pipe) leaves ``result`` None and the caller
judges in-process, as without a judge; so does an answer that counts a different
number of events than the parent recorded. A checker that raises is ``unknown``, as
in-process. Events are final once recorded (nothing edits an event's fields later), so
the judge's copy and the parent's history agree.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import pickle
import queue
import signal
import struct
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobsim.checks import registry
from jobsim.checks.priority import QueueLatency
from jobsim.checks.result import CheckResult
from jobsim.history.history import History, LineWriter
from jobsim.report.job_classes import ClassStats
from jobsim.report.job_sets import JobSet, Tables
from jobsim.report.metrics import Passes, Tally
from jobsim.report.timeseries import Recorder, RunSeries

JUDGE_EVENTS = 100_000    # a history this long forks a judge; a shorter one is read after
_FRAME = struct.Struct("<Q")   # a frame: its length, then the pickled events (0: the end)
_PIPE_BYTES = 1 << 20          # a slice's frame fits the pipe whole where Linux allows it


@dataclass
class Judged:
    """The judge's answer: the streamed checks' verdicts, the metrics' passes and the
    digest of the history (saved too, when the run saves it)."""

    checks: dict[str, CheckResult]
    passes: Passes
    digest: str
    events: int      # how many events the judge read
    tables: dict[str, JobSet]   # the report's Retries and Dead tables (job_sets)


class Judging:
    """Starts a judge once the history holds ``JUDGE_EVENTS`` events and hands it each
    slice's new events (``after_slice``), then the rest (``finish``).

    The runner enables it for runs that write their files (``jobsim simulate``). A run
    called from Python keeps reading its history after the run, one pass at a time: the
    judge holds every pass's per-job state at once (about 470 bytes a job on the
    million-job model, against 180 for no_loss alone) beside the parent's history."""

    def __init__(self, history: History, checks: list[str],
                 options: Mapping[str, Mapping[str, Any]], path: Path | None,
                 enabled: bool = True) -> None:
        self.history, self.checks, self.options, self.path = history, checks, options, path
        self.enabled = enabled and hasattr(os, "fork")
        self.judge: Judge | None = None

    def after_slice(self) -> None:
        if self.judge is not None:
            self.judge.send()
        elif self.enabled and len(self.history.events) >= JUDGE_EVENTS:
            self.enabled = False            # one try: a failed fork is not retried
            self.judge = Judge.fork(self.history, self.checks, self.options, self.path)

    def finish(self) -> Judge | None:
        """The judge, given every event, or None when there is none."""
        if self.judge is not None:
            self.judge.send(last=True)
        return self.judge

    def cancel(self) -> None:
        if self.judge is not None:
            self.judge.cancel()


class Judge:
    """The parent's handle on one forked judge."""

    def __init__(self, pid: int, history: History, streamed: list[str], inbound: int,
                 outbound: int) -> None:
        self.pid, self.history, self.streamed = pid, history, streamed
        self.sent = len(history.events)      # the judge has these from the fork
        self._answer = outbound
        self._frames: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=_write_frames, args=(inbound, self._frames),
                                        name="judge-writer", daemon=True)
        self._writer.start()
        self._done = False
        self._reader: Any = None

    @classmethod
    def fork(cls, history: History, checks: list[str],
             options: Mapping[str, Mapping[str, Any]], path: Path | None) -> Judge | None:
        """A judge holding the events recorded so far; None when the OS cannot fork."""
        streamed = [name for name in checks if registry.streams(name)]
        fds: list[int] = []
        try:
            in_read, in_write = os.pipe()
            fds += (in_read, in_write)
            out_read, out_write = os.pipe()
            fds += (out_read, out_write)
            with contextlib.suppress(OSError):   # Linux only; elsewhere frames wait more
                fcntl.fcntl(in_write, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_BYTES)
            pid = os.fork()
        except OSError:             # no descriptors or no fork today: judge after the run
            for fd in fds:
                os.close(fd)
            return None
        if pid == 0:                            # the judge: never returns
            _serve(history, checks, streamed, options, path, in_read, out_write)
        os.close(in_read)
        os.close(out_write)
        return cls(pid, history, streamed, in_write, out_read)

    def send(self, last: bool = False) -> None:
        """The events recorded since the last call (``last``: and the end)."""
        if self._done:
            return
        events = self.history.events
        if len(events) > self.sent:
            try:
                frame = pickle.dumps(events[self.sent:], pickle.HIGHEST_PROTOCOL)
            except Exception:       # an unpicklable field: the caller judges in-process
                self.cancel()
                return
            self._frames.put(frame)
            self.sent = len(events)
        if last:
            self._frames.put(None)
            self._done = True

    def series(self) -> RunSeries | None:
        """The charts' series, the judge's first answer once it has read every event
        (before it finishes the checks); None if it failed or read a different number
        of events than were recorded."""
        message = self._message()
        if message is None or message[0] != len(self.history.events):
            return None
        return message[1]  # type: ignore[no-any-return]

    def result(self) -> Judged | None:
        """The judge's answer (after ``series``); None if it failed or read a different
        number of events than were recorded."""
        answer = self.answer()
        if answer is None or answer.events != len(self.history.events):
            return None
        return answer

    def answer(self) -> Judged | None:
        """What the judge answered, unchecked; None if it failed."""
        value = self._message()
        self._reap()
        return value  # type: ignore[no-any-return]

    def _message(self) -> Any:
        """The judge's next framed answer; None if it failed or sent no more."""
        if self.pid == 0 or self._answer < 0:
            return None
        if self._reader is None:
            self._reader = os.fdopen(self._answer, "rb")
        head = self._reader.read(_FRAME.size)
        if len(head) < _FRAME.size:
            return None
        data = self._reader.read(_FRAME.unpack(head)[0])
        ok, value = pickle.loads(data)
        return value if ok else None

    def cancel(self) -> None:
        """Abandon the judge: kill and reap it."""
        if self.pid == 0:
            return
        self._done = True
        self._frames.put(None)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        if self._reader is not None:
            self._reader.close()
        elif self._answer >= 0:
            os.close(self._answer)
        self._reader, self._answer = None, -1
        if self.pid:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
        self.pid = 0


def _write_frames(fd: int, frames: queue.SimpleQueue[bytes | None]) -> None:
    """The parent's writer thread: each frame whole, then the end frame, then close.
    A judge that died breaks the pipe: the rest is dropped (``result`` says None)."""
    try:
        while True:
            frame = frames.get()
            payload = b"" if frame is None else frame
            data = memoryview(_FRAME.pack(len(payload)) + payload)
            while data:
                data = data[os.write(fd, data):]
            if frame is None:
                break
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


# ---- the judge process ----------------------------------------------------------

def _serve(history: History, checks: list[str], streamed: list[str],
           options: Mapping[str, Mapping[str, Any]], path: Path | None,
           inbound: int, outbound: int) -> None:
    status = 0
    try:
        with os.fdopen(outbound, "wb") as out:
            try:
                gc.disable()    # short-lived; a collection would copy every shared page
                _close_inherited(keep=(inbound, outbound))
                judged = _judge(history, checks, streamed, options, path, inbound,
                                lambda series: _send(out, (True, series)))
                _send(out, (True, judged))
            except BaseException:
                status = 1
                _send(out, (False, traceback.format_exc()))
    finally:
        os._exit(status)    # no atexit handlers, no second flush of the parent's buffers


def _send(out: Any, message: Any) -> None:
    data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    out.write(_FRAME.pack(len(data)) + data)
    out.flush()


def _close_inherited(keep: tuple[int, ...]) -> None:
    """Close every descriptor but stdio and ``keep``: a pipe end another helper waits
    on (the chart helper's) must not stay open here until the judge exits."""
    try:
        limit = os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        limit = 65536
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, max(limit, low))


def _judge(history: History, checks: list[str], streamed: list[str],
           options: Mapping[str, Mapping[str, Any]], path: Path | None,
           inbound: int, charts: Callable[[tuple[int, RunSeries]], None]) -> Judged:
    """Read every event, then answer the charts' series (``charts``) before finishing
    the checks and passes: the drawing starts while the rest is made."""
    import numpy  # noqa: F401  (for the charts' binning at the end, while the run goes on)

    events = history.events                     # those recorded before the fork
    config = registry.config_of(history)
    streams = {name: registry.stream(name, config, options.get(name)) for name in streamed}
    loss = streams.get("no_loss") or registry.stream("no_loss", config)
    tally, classes, tables, recorder = Tally(), ClassStats(), Tables(), Recorder()
    latency = None if "priority" in checks else QueueLatency()
    writer = LineWriter(path)
    readers = list(dict.fromkeys([*streams.values(), loss]))

    def feed(piece: list[tuple[Any, ...]], start: int) -> None:
        writer.write(piece)
        for reader in readers:
            reader.feed(piece, start)
        tally.feed(piece)
        classes.feed(piece)
        tables.feed(piece)
        recorder.feed(piece)
        if latency is not None:
            latency.feed(piece)

    start = len(events)
    feed(events, 0)
    with os.fdopen(inbound, "rb", buffering=_PIPE_BYTES) as frames:
        while True:
            head = frames.read(_FRAME.size)
            if len(head) < _FRAME.size:
                raise EOFError("the run ended without its last frame")
            size = _FRAME.unpack(head)[0]
            if size == 0:
                break
            piece = pickle.loads(frames.read(size))
            feed(piece, start)
            start += len(piece)
    charts((start, recorder.series(recorder.end())))
    verdicts = {name: stream.finish() for name, stream in streams.items()}
    passes = Passes(tally=tally.result(), loss=verdicts.get("no_loss") or loss.finish(),
                    queues=None if latency is None else latency.result(config),
                    classes=classes.result())
    return Judged(checks=verdicts, passes=passes, digest=writer.close(), events=start,
                  tables=tables.result())
