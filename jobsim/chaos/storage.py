"""Storage faults, delivered the way a network and a Redis server deliver them.

``FaultyBroker`` wraps one connection to the real store. Connections share one
``StorageFaults`` state (an outage takes down everyone) but each has its own kinds of
trouble: the application's connection sees ambiguous push timeouts (the write landed, the
reply was lost); the workers' connection sees duplicate deliveries (a fetched job shows up
again at the front of its queue, as after a replayed write).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from jobsim.broker.base import Broker, BrokerError, Payload

# A job is redelivered by the duplicate_delivery fault at most this many times: a real
# queue replays a message a few times, never forever, and without a cap a high rate
# (each copy can be duplicated again) grows the queue without end.
MAX_REDELIVERIES = 3


class BrokerUnavailable(BrokerError):
    """Connection refused: nothing was applied."""

    ambiguous = False


class BrokerTimeout(BrokerError):
    """The reply never came: the command may have been applied (here: it was)."""

    ambiguous = True


class StorageFaults:
    """Fault switches shared by every connection to one store.

    Setting a switch tells every connection, which re-binds its methods: while no fault
    is on, a connection hands out the store's own methods and costs nothing per call."""

    def __init__(self) -> None:
        self._connections: list[FaultyBroker] = []
        self._watchers: list[Callable[[], None]] = []
        self.outage = False
        self.ambiguous_push_rate = 0.0
        self.duplicate_delivery_rate = 0.0
        self._redelivered: dict[str, int] = {}    # jid -> copies made so far

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if not name.startswith("_"):
            for connection in self._connections:
                connection.rebind()
            for watcher in self._watchers:
                watcher()

    def any(self) -> bool:
        return bool(self.outage or self.ambiguous_push_rate or self.duplicate_delivery_rate)


_WRITES_THAT_TIME_OUT = frozenset({"push", "push_bulk", "zadd"})
_FETCHES = frozenset({"pop", "pop_to_private"})


class FaultyBroker:
    """A Broker proxy that injects the faults switched on in ``faults``.

    ``on_duplicate(jid, queue)`` is told when a delivery is duplicated, so the nemesis can
    record the copy: the fault injector's log, like Jepsen's nemesis history.
    """

    def __init__(self, inner: Broker, faults: StorageFaults, rng: random.Random,
                 role: str, on_duplicate: Callable[[str, str], None] | None = None) -> None:
        self._inner = inner
        self._faults = faults
        self._rng = rng
        self._role = role                     # "client" or "workers"
        self._on_duplicate = on_duplicate
        self.name = inner.name
        self._quiet = True
        self.idle_observable = False
        """Whether a fault is on that an idle thread's timer could see: an outage fails
        even a fetch of empty queues, and an ambiguous push lands a job without waking
        anyone. A redelivery acts only on a fetch that took a job (system/idle.py).
        Kept by ``rebind``, like ``_quiet`` (no fault on), since every switch calls it."""
        faults._connections.append(self)
        self._refresh()

    @property
    def inner(self) -> Broker:
        return self._inner

    @property
    def queue_writes(self) -> int | None:
        """The store's count, or None while a fault is on: then every fetch must reach
        the store, since an outage or a redelivery acts on the call itself."""
        return self._inner.queue_writes if self._quiet else None

    def _refresh(self) -> None:
        faults = self._faults
        self._quiet = not faults.any()
        self.idle_observable = bool(faults.outage or faults.ambiguous_push_rate)

    def watch_faults(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever a fault switch is set: idle threads waiting
        without a timer need theirs back when a fetch can fail (system/idle.py)."""
        self._faults._watchers.append(callback)

    def __getattr__(self, op: str) -> Any:
        method = getattr(self._inner, op)
        if not callable(method):
            return method
        bound = self._wrap(op, method) if self._acts_on(op) else method
        self.__dict__[op] = bound             # later lookups skip __getattr__
        return bound

    def rebind(self) -> None:
        """Forget bound methods so the next lookup wraps (or unwraps) them."""
        for op in [k for k in self.__dict__
                   if not k.startswith("_") and k not in ("name", "idle_observable")]:
            del self.__dict__[op]
        self._refresh()

    def _acts_on(self, op: str) -> bool:
        """Whether a fault on now can act on ``op`` on this connection: the others get
        the store's own method, as with no fault on (every switch rebinds). A wrapped
        call that no fault acts on draws nothing, so the history is the same."""
        faults = self._faults
        if faults.outage:
            return True
        if faults.ambiguous_push_rate and self._role == "client" \
                and op in _WRITES_THAT_TIME_OUT:
            return True
        return bool(faults.duplicate_delivery_rate and self._role == "workers"
                    and op in _FETCHES)

    def _wrap(self, op: str, method: Callable[..., Any]) -> Callable[..., Any]:
        faults, rng = self._faults, self._rng
        times_out = self._role == "client" and op in _WRITES_THAT_TIME_OUT
        duplicates = self._role == "workers" and op in _FETCHES

        def call(*args: Any, **kwargs: Any) -> Any:
            if faults.outage:
                raise BrokerUnavailable(f"storage unavailable ({op})")
            result = method(*args, **kwargs)
            rate = faults.ambiguous_push_rate
            if times_out and rate and rng.random() < rate:
                raise BrokerTimeout(f"{op}: no reply within the client timeout")
            if duplicates and result is not None and faults.duplicate_delivery_rate \
                    and rng.random() < faults.duplicate_delivery_rate:
                self._duplicate(args[0], result)
            return result

        return call

    def _duplicate(self, queue: str, payload: Payload) -> None:
        copies = self._faults._redelivered
        jid = payload["jid"]
        if copies.get(jid, 0) >= MAX_REDELIVERIES:
            return                   # the draw was made: other draws stay where they were
        copies[jid] = copies.get(jid, 0) + 1
        self._inner.push_front(queue, payload)
        if self._on_duplicate is not None:
            self._on_duplicate(payload["jid"], queue)
