"""Work done in a forked child while this process carries on.

Why: a finished history is read-only, so a forked child shares it copy-on-write for
free, and on two cores saving the history or drawing the report's charts then overlaps
the checkers (docs/performance.md). Everything here falls back to running in-process
where the OS cannot fork.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import traceback
from collections.abc import Callable
from typing import IO, Any, Generic, TypeVar

T = TypeVar("T")


class Offload(Generic[T]):
    """``work()`` done in a forked child; ``result`` waits for it and returns its value,
    or raises with the child's traceback. With ``fork=False``, or where the OS cannot
    fork, ``work`` runs in-process, in ``result``.
    The value crosses a pipe pickled, so it should be small (a digest, PNG bytes).
    """

    def __init__(self, work: Callable[[], T], what: str, fork: bool = True) -> None:
        self.work, self.what = work, what
        self.pid = 0
        self.pipe: IO[bytes] | None = None
        if not fork or not hasattr(os, "fork"):
            return
        read, write = os.pipe()
        try:
            pid = os.fork()
        except OSError:                 # no fork today (process or memory limit)
            os.close(read)
            os.close(write)
            return
        if pid == 0:                    # the child: never returns
            os.close(read)
            _child(work, write)
        os.close(write)
        self.pid, self.pipe = pid, os.fdopen(read, "rb")

    def result(self) -> T:
        if self.pipe is None:
            return self.work()
        with self.pipe:
            data = self.pipe.read()
        self.pipe = None
        _, status = os.waitpid(self.pid, 0)
        if not data:
            raise RuntimeError(f"{self.what}: the helper process died (wait status {status})")
        ok, value = pickle.loads(data)
        if not ok:
            raise RuntimeError(f"{self.what} failed in the helper process:\n{value}")
        return value  # type: ignore[no-any-return]

    def cancel(self) -> None:
        """Abandon the work: kill and reap the child."""
        if self.pipe is None:
            return
        self.pipe.close()
        self.pipe = None
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _child(work: Callable[[], Any], fd: int) -> None:
    status = 0
    try:
        gc.disable()        # short-lived; a full collection would copy every shared page
        data = pickle.dumps((True, work()))
    except BaseException:
        data, status = pickle.dumps((False, traceback.format_exc())), 1
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    finally:
        os._exit(status)    # no atexit handlers, no second flush of the parent's buffers
