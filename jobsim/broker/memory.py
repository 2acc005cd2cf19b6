"""In-process broker: the fast default, with exactly the semantics of the Redis layout.

Queues are deques (left = back, right = front, as LPUSH/RPOP). Sorted sets are a
member -> (score, payload) map plus a heap with lazy deletion, so ``pop_due`` is
O(log n) per job while matching Redis's (score, member) order on ties. The canonical
JSON member string is built only for sorted-set adds, which the no-op hot path never does.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence
from typing import Any

from jobsim.broker.base import (
    DEAD,
    DEAD_MAX_JOBS,
    DEAD_TIMEOUT_S,
    Payload,
    canonical,
)


class _SortedSet:
    __slots__ = ("heap", "members")

    def __init__(self) -> None:
        self.members: dict[str, tuple[float, Payload]] = {}
        self.heap: list[tuple[float, str]] = []

    def add(self, score: float, payload: Payload) -> None:
        member = canonical(payload)
        self.members[member] = (score, payload)
        heapq.heappush(self.heap, (score, member))

    def pop_lowest(self, max_score: float | None) -> Payload | None:
        """Remove the lowest live member if its score <= max_score (None: any)."""
        heap, members = self.heap, self.members
        while heap:
            score, member = heap[0]
            if max_score is not None and score > max_score:
                return None
            heapq.heappop(heap)
            live = members.get(member)
            if live is not None and live[0] == score:
                del members[member]
                return live[1]
        return None

    def items(self) -> list[tuple[float, Payload]]:
        ordered = sorted((score, member) for member, (score, _) in self.members.items())
        return [(score, self.members[member][1]) for score, member in ordered]

    def remove_jid(self, jid: str) -> Payload | None:
        """The first match in (score, member) order: insertion order has no Redis twin."""
        matches = [(s, m) for m, (s, p) in self.members.items() if p.get("jid") == jid]
        if not matches:
            return None
        return self.members.pop(min(matches)[1])[1]

    def copy(self) -> _SortedSet:
        other = _SortedSet()
        other.members = dict(self.members)
        other.heap = list(self.heap)
        return other


class MemoryBroker:
    """Dict-and-deque storage; see ``base.Broker`` for the contract."""

    name = "memory"

    def __init__(self) -> None:
        self._queues: dict[str, deque[Payload]] = {}
        self._private: dict[str, list[Payload]] = {}
        self._zsets: dict[str, _SortedSet] = {}
        self._locks: dict[str, tuple[str, float | None]] = {}
        self._counters: dict[str, int] = {}
        self._hashes: dict[str, dict[str, Any]] = {}
        self.queue_writes = 0

    # ---- queues -------------------------------------------------------------------
    def _queue(self, queue: str) -> deque[Payload]:
        q = self._queues.get(queue)
        if q is None:
            q = self._queues[queue] = deque()
        return q

    def push(self, queue: str, payload: Payload) -> None:
        self.queue_writes += 1
        q = self._queues.get(queue)      # _queue(queue), inlined: once a job
        if q is None:
            q = self._queues[queue] = deque()
        q.appendleft(payload)

    def push_bulk(self, queue: str, payloads: list[Payload]) -> None:
        self.queue_writes += 1
        self._queue(queue).extendleft(payloads)

    def push_front(self, queue: str, payload: Payload) -> None:
        self.queue_writes += 1
        self._queue(queue).append(payload)

    def pop(self, queue: str) -> Payload | None:
        q = self._queues.get(queue)
        return q.pop() if q else None

    def queue_size(self, queue: str) -> int:
        q = self._queues.get(queue)
        return len(q) if q else 0

    def queue_sizes(self, queues: Sequence[str]) -> list[int]:
        get = self._queues.get
        return [len(q) if (q := get(name)) else 0 for name in queues]

    def queue_names(self) -> list[str]:
        return sorted(name for name, q in self._queues.items() if q)

    def queue_items(self, queue: str) -> list[Payload]:
        return list(reversed(self._queues.get(queue, ())))

    def remove_from_queue(self, queue: str, jid: str) -> Payload | None:
        q = self._queues.get(queue)
        if not q:
            return None
        # Redis LREM scans from the head (the back of the queue here: the left end).
        for payload in q:
            if payload.get("jid") == jid:
                q.remove(payload)
                return payload
        return None

    # ---- reliable fetch -----------------------------------------------------------
    def pop_to_private(self, queue: str, worker: str) -> Payload | None:
        q = self._queues.get(queue)
        if not q:
            return None
        payload = q.pop()
        private = self._private.get(worker)
        if private is None:
            private = self._private[worker] = []
        private.append(payload)
        return payload

    def ack(self, worker: str, payload: Payload) -> bool:
        private = self._private.get(worker)
        if not private:
            return False
        for i, held in enumerate(private):
            if held is payload:
                del private[i]
                return True
        # LREM matches the stored spelling: {"n": 1} is not {"n": true}, although == says so.
        member = canonical(payload)
        for i, held in enumerate(private):
            if canonical(held) == member:
                del private[i]
                return True
        return False

    def private_items(self, worker: str) -> list[Payload]:
        return list(self._private.get(worker, ()))

    def take_private(self, worker: str) -> list[Payload]:
        return self._private.pop(worker, [])

    def private_workers(self) -> list[str]:
        return sorted(w for w, items in self._private.items() if items)

    # ---- sorted sets --------------------------------------------------------------
    def _zset(self, zset: str) -> _SortedSet:
        z = self._zsets.get(zset)
        if z is None:
            z = self._zsets[zset] = _SortedSet()
        return z

    def zadd(self, zset: str, score: float, payload: Payload) -> None:
        self._zset(zset).add(score, payload)

    def pop_due(self, zset: str, now: float, limit: int = 1000) -> list[Payload]:
        z = self._zsets.get(zset)
        due: list[Payload] = []
        while z is not None and len(due) < limit:
            payload = z.pop_lowest(now)
            if payload is None:
                break
            due.append(payload)
        return due

    def zsize(self, zset: str) -> int:
        z = self._zsets.get(zset)
        return len(z.members) if z else 0

    def zitems(self, zset: str) -> list[tuple[float, Payload]]:
        z = self._zsets.get(zset)
        return z.items() if z else []

    def zremove_jid(self, zset: str, jid: str) -> Payload | None:
        z = self._zsets.get(zset)
        return z.remove_jid(jid) if z else None

    def dead_add(
        self, payload: Payload, now: float,
        max_jobs: int = DEAD_MAX_JOBS, timeout_s: float = DEAD_TIMEOUT_S,
    ) -> list[tuple[Payload, str]]:
        z = self._zset(DEAD)
        z.add(now, payload)
        trimmed: list[tuple[Payload, str]] = []
        cutoff = now - timeout_s
        while (old := z.pop_lowest(cutoff)) is not None:
            trimmed.append((old, "age"))
        while len(z.members) > max(max_jobs - 1, 0):
            oldest = z.pop_lowest(None)
            assert oldest is not None
            trimmed.append((oldest, "size"))
        return trimmed

    # ---- locks --------------------------------------------------------------------
    def lock_acquire(self, key: str, holder: str, now: float, expires_at: float | None) -> bool:
        if self.lock_holder(key, now) is not None:
            return False
        self._locks[key] = (holder, expires_at)
        return True

    def lock_force(self, key: str, holder: str, expires_at: float | None) -> str | None:
        previous = self._locks.get(key)
        self._locks[key] = (holder, expires_at)
        return previous[0] if previous else None

    def lock_release(self, key: str, holder: str) -> bool:
        held = self._locks.get(key)
        if held is None or held[0] != holder:
            return False
        del self._locks[key]
        return True

    def lock_holder(self, key: str, now: float) -> str | None:
        held = self._locks.get(key)
        if held is None:
            return None
        if held[1] is not None and held[1] <= now:
            del self._locks[key]
            return None
        return held[0]

    # ---- counters and hashes ------------------------------------------------------
    def incr(self, key: str, by: int = 1) -> int:
        value = self._counters.get(key, 0) + by
        self._counters[key] = value
        return value

    def _hash(self, key: str) -> dict[str, Any]:
        h = self._hashes.get(key)
        if h is None:
            h = self._hashes[key] = {}
        return h

    def hset(self, key: str, field: str, value: Any) -> None:
        self._hash(key)[field] = value

    def hsetnx(self, key: str, field: str, value: Any) -> bool:
        h = self._hash(key)
        if field in h:
            return False
        h[field] = value
        return True

    def hget(self, key: str, field: str) -> Any:
        h = self._hashes.get(key)
        return h.get(field) if h else None

    def hdel(self, key: str, field: str) -> bool:
        h = self._hashes.get(key)
        return bool(h) and h.pop(field, _MISSING) is not _MISSING  # type: ignore[union-attr]

    def hgetall(self, key: str) -> dict[str, Any]:
        return dict(self._hashes.get(key, {}))

    def hincr(self, key: str, field: str, by: int = 1) -> int:
        h = self._hash(key)
        value = int(h.get(field, 0)) + by
        h[field] = value
        return value

    def delete(self, key: str) -> None:
        self._counters.pop(key, None)
        self._hashes.pop(key, None)
        self._locks.pop(key, None)

    # ---- failover -----------------------------------------------------------------
    def snapshot(self) -> Any:
        return (
            {k: deque(v) for k, v in self._queues.items()},
            {k: list(v) for k, v in self._private.items()},
            {k: v.copy() for k, v in self._zsets.items()},
            dict(self._locks),
            dict(self._counters),
            {k: dict(v) for k, v in self._hashes.items()},
        )

    def restore(self, snapshot: Any) -> None:
        queues, private, zsets, locks, counters, hashes = snapshot
        self.queue_writes += 1
        self._queues = {k: deque(v) for k, v in queues.items()}
        self._private = {k: list(v) for k, v in private.items()}
        self._zsets = {k: v.copy() for k, v in zsets.items()}
        self._locks = dict(locks)
        self._counters = dict(counters)
        self._hashes = {k: dict(v) for k, v in hashes.items()}


_MISSING = object()
