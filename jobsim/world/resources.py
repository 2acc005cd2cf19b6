"""Finite resources jobs hold: connection pools, temp files, memory; and a gauge sampler.

Why: the seed lost 48 GB to long jobs that never released connections and temp files.
Leaks here are observable as ``sample`` events ("pool.db.in_use", "tempfiles.count",
"memory.p0", ...), so a report can plot the growth and a variant that scopes its
resources can show the flat line.

Crashes: ``free_process(worker)`` is what the OS does when a process dies. Its pool
connections are closed (the server notices the dropped socket) and its memory is
returned. Temp files are **not** deleted: the OS leaves files in /tmp behind a killed
process, which is exactly how crash loops fill disks.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from typing import Any

import simpy

from jobsim.sim.simulation import Simulation

Gauges = dict[str, float]


class PoolTimeout(Exception):
    """No connection became free within ``wait_timeout`` (ActiveRecord's
    ConnectionTimeoutError)."""


def _worker_of(job: Any) -> str | None:
    return getattr(job, "worker", None)


class Lease:
    """A checked-out connection. Releasing twice is a no-op, not a crash.

    Usable as ``with (yield from pool.checkout(self)) as conn:`` so the connection goes
    back on every exit path, an interrupt (crash, shutdown kill) included.
    """

    __slots__ = ("_req", "jid", "pool", "released", "since", "worker")

    def __init__(self, pool: ConnectionPool, req: Any, worker: str | None, jid: Any) -> None:
        self.pool = pool
        self._req = req
        self.worker = worker
        self.jid = jid
        self.since = pool.sim.env.now
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.pool._checkin(self)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class ConnectionPool:
    """``size`` connections; waiting for one takes simulated time (simpy.Resource)."""

    def __init__(
        self, sim: Simulation, name: str, size: int, wait_timeout: float | None = None
    ) -> None:
        self.sim = sim
        self.name = name
        self.size = size
        self.wait_timeout = wait_timeout
        self._res = simpy.Resource(sim.env, size)
        self._leases: dict[int, Lease] = {}  # id(lease) -> lease, insertion-ordered
        self.timeouts = 0
        self.checkouts = 0

    @property
    def in_use(self) -> int:
        return self._res.count

    @property
    def waiting(self) -> int:
        return len(self._res.queue)

    def checkout(self, job: Any) -> Generator[simpy.Event, Any, Lease]:
        """Wait for a connection (at most ``wait_timeout``, else ``PoolTimeout``)."""
        req = self._res.request()
        if not req.triggered:
            try:
                if self.wait_timeout is None:
                    yield req
                else:
                    yield req | self.sim.env.timeout(self.wait_timeout)
            except BaseException:
                _drop(self._res, req)
                raise
            if not req.triggered:
                req.cancel()
                self.timeouts += 1
                raise PoolTimeout(
                    f"could not obtain a connection from pool {self.name!r} "
                    f"within {self.wait_timeout} s (all {self.size} in use)"
                )
        lease = Lease(self, req, _worker_of(job), getattr(job, "jid", job))
        self._leases[id(lease)] = lease
        self.checkouts += 1
        return lease

    def checkin(self, lease: Lease) -> None:
        lease.release()

    def _checkin(self, lease: Lease) -> None:
        self._leases.pop(id(lease), None)
        self._res.release(lease._req)

    def leases(self) -> list[Lease]:
        """Connections currently checked out, oldest first."""
        return list(self._leases.values())

    def free_process(self, worker: str) -> int:
        """Return every connection ``worker`` held (its process died); returns the count."""
        mine = [lease for lease in self._leases.values() if lease.worker == worker]
        for lease in mine:
            lease.release()
        return len(mine)

    def gauges(self) -> Gauges:
        return {f"pool.{self.name}.in_use": self.in_use, f"pool.{self.name}.waiting": self.waiting}


def _drop(res: simpy.Resource, req: Any) -> None:
    """Give back a request whether or not it was granted (interrupt while waiting)."""
    if req.triggered:
        res.release(req)
    else:
        req.cancel()


class _Ledger:
    """Handles -> (worker, bytes): the shared bookkeeping of temp files and memory."""

    def __init__(self) -> None:
        self._items: dict[int, tuple[str | None, int]] = {}
        self._next = 1
        self.count = 0
        self.bytes = 0
        self.by_worker: dict[str, int] = {}

    def add(self, worker: str | None, nbytes: int) -> int:
        handle = self._next
        self._next += 1
        self._items[handle] = (worker, nbytes)
        self.count += 1
        self.bytes += nbytes
        if worker is not None:
            self.by_worker[worker] = self.by_worker.get(worker, 0) + nbytes
        return handle

    def remove(self, handle: int) -> bool:
        item = self._items.pop(handle, None)
        if item is None:
            return False
        worker, nbytes = item
        self.count -= 1
        self.bytes -= nbytes
        if worker is not None:
            self.by_worker[worker] -= nbytes
        return True

    def handles_of(self, worker: str) -> list[int]:
        return [h for h, (w, _) in self._items.items() if w == worker]


class TempFiles:
    """Temp files on the host's disk. They survive a crash: ``free_process`` keeps them."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self._ledger = _Ledger()

    def create(self, worker: str | None, nbytes: int) -> int:
        return self._ledger.add(worker, int(nbytes))

    def delete(self, handle: int) -> bool:
        """Delete a file; False (not an error) if it was already gone."""
        return self._ledger.remove(handle)

    @property
    def count(self) -> int:
        return self._ledger.count

    @property
    def bytes(self) -> int:
        return self._ledger.bytes

    def free_process(self, worker: str) -> int:
        """Nothing: the OS does not delete a dead process's temp files."""
        return 0

    def gauges(self) -> Gauges:
        return {"tempfiles.count": self.count, "tempfiles.bytes": self.bytes}


class Memory:
    """Heap allocations per worker process; a dead process's memory returns to the OS."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self._ledger = _Ledger()

    def allocate(self, worker: str | None, nbytes: int) -> int:
        return self._ledger.add(worker, int(nbytes))

    def free(self, handle: int) -> bool:
        """Free an allocation; False if it was already freed."""
        return self._ledger.remove(handle)

    def usage(self, worker: str) -> int:
        return self._ledger.by_worker.get(worker, 0)

    @property
    def bytes(self) -> int:
        return self._ledger.bytes

    def free_process(self, worker: str) -> int:
        """Free every allocation of ``worker``; returns the bytes freed."""
        before = self.usage(worker)
        for handle in self._ledger.handles_of(worker):
            self._ledger.remove(handle)
        return before

    def gauges(self) -> Gauges:
        return {f"memory.{w}": v for w, v in sorted(self._ledger.by_worker.items())}


class Sampler:
    """Records ``sample(name, value)`` every ``interval`` s for gauges that changed.

    Only changes are recorded to keep histories small; ``final()`` records every gauge
    once more at the end so a report always has a last value. ``stop()`` ends the loop
    (needed before ``sim.run()`` without ``until``).
    """

    def __init__(
        self,
        sim: Simulation,
        sources: Iterable[Callable[[], Gauges]],
        interval: float = 10.0,
        start: bool = True,
    ) -> None:
        self.sim = sim
        self.sources = list(sources)
        self.interval = interval
        self._last: Gauges = {}
        self._stopped = False
        self.process: simpy.Process | None = sim.process(self._run()) if start else None

    def read(self) -> Gauges:
        out: Gauges = {}
        for source in self.sources:
            out.update(source())
        return out

    def sample(self) -> int:
        """Record the gauges that changed since the last record; returns how many."""
        record, last, n = self.sim.record, self._last, 0
        for name, value in self.read().items():
            if last.get(name) != value:
                last[name] = value
                record("sample", None, name, value)
                n += 1
        return n

    def final(self) -> None:
        """Record every gauge's current value and stop sampling."""
        for name, value in self.read().items():
            self._last[name] = value
            self.sim.record("sample", None, name, value)
        self.stop()

    def stop(self) -> None:
        self._stopped = True

    def _run(self) -> Generator[simpy.Event, Any, None]:
        while not self._stopped:
            self.sample()
            yield self.sim.env.timeout(self.interval)
