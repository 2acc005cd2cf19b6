"""The Broker protocol: everything the job system keeps, behind one interface.

The names follow Sidekiq's Redis layout (``queue:NAME`` lists; ``schedule``, ``retry`` and
``dead`` sorted sets) so a reader who knows Sidekiq knows where each job sits.

Contract shared by every implementation, proven by tests/conformance:

* Payloads are JSON-native dicts and are never mutated after a push; the job system
  builds a new dict to change one. Implementations may therefore store them by reference.
* Queues are FIFO: ``push`` adds at the back (LPUSH), ``pop`` takes the front (RPOP),
  ``push_front`` puts a job where it is popped next (RPUSH, Sidekiq's requeue).
* Sorted sets order by ``(score, canonical JSON of the payload)``, which is what Redis
  does for equal scores; an identical payload added twice is one member (score updated).
* Time never comes from the storage: lock expiry and due times are timestamps the caller
  passes in from the simulation clock. No Redis TTLs, no blocking commands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import msgspec

Payload = dict[str, Any]

SCHEDULE = "schedule"
RETRY = "retry"
DEAD = "dead"
SORTED_SETS = (SCHEDULE, RETRY, DEAD)

DEAD_MAX_JOBS = 10_000
DEAD_TIMEOUT_S = 180 * 24 * 3600.0


class BrokerError(RuntimeError):
    """Storage failed (outage, connection reset); the caller decides what it means."""


_ENCODE = msgspec.json.Encoder(order="sorted").encode


def canonical(payload: Payload) -> str:
    """The one JSON spelling of a payload (keys sorted at every depth): member names in
    sorted sets and private lists, so ties order the same in every broker."""
    return _ENCODE(payload).decode()


# ``canonical(payload)`` as the UTF-8 bytes a store is sent: the encoder itself, no
# Python call around it on the embedded Redis broker's hot path.
canonical_bytes: Callable[[Payload], bytes] = _ENCODE


@runtime_checkable
class Broker(Protocol):
    """Storage for queues, scheduled/retry/dead sets, in-progress lists, locks and counters."""

    name: str
    # How many writes that can fill a queue (push, push_bulk, push_front, restore) this
    # store has taken: a fetcher that found every queue empty at count N knows they
    # still are while the count reads N, and need not ask (see system/fetch.py).
    queue_writes: int

    # ---- queues -------------------------------------------------------------------
    def push(self, queue: str, payload: Payload) -> None: ...
    def push_bulk(self, queue: str, payloads: list[Payload]) -> None: ...
    def push_front(self, queue: str, payload: Payload) -> None: ...
    def pop(self, queue: str) -> Payload | None: ...
    def queue_size(self, queue: str) -> int: ...
    def queue_sizes(self, queues: Sequence[str]) -> list[int]:
        """Every queue's size at one instant: one round trip on a networked store, where
        a fetch decision would otherwise ask each queue in turn."""
        ...
    def queue_names(self) -> list[str]: ...
    def queue_items(self, queue: str) -> list[Payload]:
        """Every job in the queue, the next to be popped first."""
        ...
    def remove_from_queue(self, queue: str, jid: str) -> Payload | None: ...

    # ---- reliable fetch: one private in-progress list per worker process ----------
    def pop_to_private(self, queue: str, worker: str) -> Payload | None:
        """Atomically move the front job of ``queue`` into ``worker``'s private list."""
        ...
    def ack(self, worker: str, payload: Payload) -> bool:
        """Remove one copy of ``payload`` from ``worker``'s private list."""
        ...
    def private_items(self, worker: str) -> list[Payload]:
        """The worker's in-progress jobs, oldest fetch first."""
        ...
    def take_private(self, worker: str) -> list[Payload]:
        """Empty the worker's private list, returning its jobs oldest first (recovery)."""
        ...
    def private_workers(self) -> list[str]: ...

    # ---- sorted sets: schedule, retry, dead ---------------------------------------
    def zadd(self, zset: str, score: float, payload: Payload) -> None: ...
    def pop_due(self, zset: str, now: float, limit: int = 1000) -> list[Payload]:
        """Remove and return members with score <= now, in (score, member) order."""
        ...
    def zsize(self, zset: str) -> int: ...
    def zitems(self, zset: str) -> list[tuple[float, Payload]]: ...
    def zremove_jid(self, zset: str, jid: str) -> Payload | None: ...
    def dead_add(
        self, payload: Payload, now: float,
        max_jobs: int = DEAD_MAX_JOBS, timeout_s: float = DEAD_TIMEOUT_S,
    ) -> list[tuple[Payload, str]]:
        """Add to the dead set, then trim: older than timeout_s ('age'), then all but the
        newest max_jobs - 1 ('size'), as Sidekiq does. Returns what was trimmed and why."""
        ...

    # ---- uniqueness locks ---------------------------------------------------------
    def lock_acquire(self, key: str, holder: str, now: float, expires_at: float | None) -> bool:
        """Take the lock if it is free or expired at ``now``; None never expires."""
        ...
    def lock_force(self, key: str, holder: str, expires_at: float | None) -> str | None:
        """Take the lock whoever holds it; returns the previous holder."""
        ...
    def lock_release(self, key: str, holder: str) -> bool:
        """Release only if ``holder`` holds it (expired or not)."""
        ...
    def lock_holder(self, key: str, now: float) -> str | None: ...

    # ---- counters and small hashes (dependency bookkeeping) -----------------------
    def incr(self, key: str, by: int = 1) -> int: ...
    def hset(self, key: str, field: str, value: Any) -> None: ...
    def hsetnx(self, key: str, field: str, value: Any) -> bool: ...
    def hget(self, key: str, field: str) -> Any: ...
    def hdel(self, key: str, field: str) -> bool: ...
    def hgetall(self, key: str) -> dict[str, Any]: ...
    def hincr(self, key: str, field: str, by: int = 1) -> int: ...
    def delete(self, key: str) -> None: ...

    # ---- failover -----------------------------------------------------------------
    def snapshot(self) -> Any:
        """A copy of all state, for a failover that rolls the store back to it."""
        ...
    def restore(self, snapshot: Any) -> None: ...
