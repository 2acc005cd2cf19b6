"""Where tasks run: a Dask cluster (``distributed``), local or remote, or this process.

Why Dask: a ``LocalCluster`` on a laptop and a scheduler address on a real cluster are
the same client API, so a sweep moves from one machine to many by changing one option.
Results come back as they complete (any order); callers key them by task index, so what
they write never depends on which worker finished first. A task whose worker dies is
rescheduled by the Dask scheduler on another worker (``distributed.scheduler.
allowed-failures``, default 3), so a killed worker loses no task.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any, Protocol

from jobsim.guard import InputError

Fn = Callable[[Any], Any]
# The local cluster's workers run without Dask's statistical profiler: it samples the task
# thread's stack every 10 ms for the dashboard, which a sweep does not show, and a
# simulation's stacks are deep. Measured on an idle worker: 3.6 % of a core with it, 2.0 %
# without (docs/sweeps.md, Cost). A remote cluster's workers keep their own settings.
LOCAL_WORKER_CONFIG = {"distributed.worker.profile.enabled": False}


class EngineError(InputError):
    """The cluster cannot be reached or started: bad input (exit 2), not a failed check."""


class Engine(Protocol):
    workers: int

    def run(self, fn: Fn, items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """``(index, fn(items[index]))`` for every item, in completion order."""
        ...


class Inline:
    """Every task in this process, in order: one worker without a cluster's start-up."""

    workers = 1

    def run(self, fn: Fn, items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for index, item in enumerate(items):
            yield index, fn(item)


class Dask:
    """Tasks on a ``distributed.Client``; the scheduler spreads them over its workers."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.workers = max(1, len(client.scheduler_info()["workers"]))

    def run(self, fn: Fn, items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed

        if not items:
            return
        futures = self.client.map(fn, list(items), pure=False)
        index = {future.key: k for k, future in enumerate(futures)}
        for future, result in as_completed(futures, with_results=True):
            yield index[future.key], result
            future.release()


@cache
def code_fingerprint() -> str:
    """A digest of jobsim's own source files, read once per process (about when it
    loads them): a run is a function of the code, so a worker running other code than
    the client gives other digests."""
    import hashlib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def machine_workers() -> int:
    """One single-threaded worker process per CPU: runs are CPU-bound pure Python."""
    return os.cpu_count() or 1


@contextmanager
def open_engine(scheduler: str | None = None, workers: int | None = None,
                inline_single: bool = False) -> Iterator[Engine]:
    """A connection to ``scheduler`` (``tcp://HOST:PORT``), or a LocalCluster of
    ``workers`` processes (default: one per CPU). ``inline_single``: one local worker
    runs in this process instead of a one-worker cluster."""
    if scheduler is None and inline_single and (workers or machine_workers()) <= 1:
        yield Inline()
        return
    with _client(scheduler, workers) as client:
        yield Dask(client)


@contextmanager
def _client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise EngineError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        try:
            _wait_for_workers(client, scheduler)
            _same_code(client, scheduler)
            yield client
        finally:
            client.close()
        return
    with dask.config.set(LOCAL_WORKER_CONFIG):      # the nannies pass it to their workers
        cluster = LocalCluster(n_workers=workers or machine_workers(), threads_per_worker=1,
                               processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR)
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def _same_code(client: Any, scheduler: str) -> None:
    """Refuse a cluster whose workers run other jobsim code than this client."""
    mine = code_fingerprint()
    theirs = client.run(code_fingerprint)
    stale = sorted(address for address, fingerprint in theirs.items() if fingerprint != mine)
    if stale:
        raise EngineError(f"--scheduler {scheduler}: {len(stale)} worker(s) run other jobsim "
                          f"code than this client (e.g. {stale[0]}); restart them on this "
                          "version, or their results would not match")


def _wait_for_workers(client: Any, scheduler: str) -> None:
    try:
        client.wait_for_workers(1, timeout=30)
    except TimeoutError:
        raise EngineError(f"--scheduler {scheduler}: no worker joined in 30 s") from None
