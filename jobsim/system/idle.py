"""Idle processors waiting for work: Sidekiq's BRPOP with its 2 s timeout, without a timer
for the waits nobody can observe.

A Sidekiq thread that finds every queue empty blocks in BRPOP for 2 s, then issues it
again; Redis serves a push to the blocked client that has waited longest, and a client
that re-issues after its timeout joins the back of that line. Simulated literally, every
idle thread costs two simpy events every 2 s, most of a small run's steps.

While no storage fault is on, a timeout that finds nothing changes nothing but the
thread's place in that line. So a thread parks *lazily*: no timer, only its park time,
from which its later re-issues follow (``t + 2.0``, ``+ 2.0`` again, the sums simpy's
timer would make). ``notify`` serves a push to the waiter whose next re-issue is the
soonest (it has waited longest since its last one), ties by park order; a re-issue at
exactly the push's instant has not happened yet. A timer becomes real only when it can
be observed:

* a storage fault is on that a timer wake could see (``idle_observable``, an outage or
  ambiguous pushes): a fetch of empty queues may fail (1 s error sleep), and a push may
  land without waking anyone; so a waiter parked then keeps a real timer, and the waiters
  parked lazily when such a fault begins get one at their next re-issue. Redelivery is
  not one: it acts only on a fetch that took a job, and it wakes a waiter for the copy;
* a queue a lazy waiter's process listens to holds work no woken thread took: after every
  push an *audit* (at the push's instant, after the woken threads fetched) asks every
  watched queue's size in one call, and only when one holds work walks the line: for each
  process with work it sets a *sentinel* at the soonest re-issue of that process's lazy
  waiters, which wakes that waiter if the work is still there, as its timer would have.
  (Walking the line at every push made full-scale black_friday 1.17x slower.) A
  fetcher takes part only if it answers ``idle_lists`` (the lists it
  pops from); one with work held outside the store (Celery's reserved messages) keeps
  real timers.

  The audit is skipped when no job can be stranded. While every fetcher that ever
  parked lazily pops the same lists, a lazy waiter parks only after finding them all
  empty, and each push wakes a waiter that pops them too; so the woken threads take
  every job pushed while a lazy waiter remains, and the audit would find nothing. It
  runs when that chain can break: a woken waiter whose fetcher pops other lists (or
  keeps real timers), processes whose lists differ, and a thread that leaves its loop
  (stop, crash, kill) possibly after a wake it will never act on (``recheck``). In a
  run of identical processes this removes one simpy event per push (a quarter of the
  million-job model's steps).

Crash and shutdown interrupt a parked thread as before.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from heapq import heapify, heappop, heappush, heapreplace
from itertools import count
from typing import Any

import simpy
from simpy.events import PENDING

from jobsim.broker.base import Broker


class _Waiter:
    """One parked thread: its wake event, its process's fetcher and its next re-issue."""

    __slots__ = ("fetcher", "lazy", "rank", "sentinel", "t_next", "wake")

    def __init__(self, wake: simpy.Event, fetcher: Any, t_next: float,
                 rank: tuple[float, int], lazy: bool) -> None:
        self.wake = wake
        self.fetcher = fetcher
        self.t_next = t_next           # the next (real or virtual) BRPOP re-issue
        self.rank = rank               # breaks ties between equal re-issues (see wait)
        self.lazy = lazy               # no real timer: re-issues are computed
        self.sentinel = False          # a sentinel is due at t_next


class IdleWaiters:
    """The line of blocked BRPOP clients of one job system."""

    def __init__(self, env: simpy.Environment, broker: Broker, every: float,
                 cap: int) -> None:
        self.env = env
        self.broker = broker
        self.every = every
        self.cap = cap
        self._heap: list[tuple[float, tuple[float, int], _Waiter]] = []
        self._seq = count()
        self._lazy = 0                 # lazy waiters still parked
        self._audit_due = False
        self._lists: dict[Any, tuple[str, ...]] = {}   # fetcher -> the lists it pops
        self._names: list[str] = []    # every list a lazy waiter's process pops, sorted
        # The lists every lazy fetcher pops, while they all pop the same ones (one shared
        # tuple, compared by identity in notify); None once two differ, for good.
        self._shared: tuple[str, ...] | None = None
        self._differ = False           # two fetchers pop different lists (capsules)
        watch = getattr(broker, "watch_faults", None)
        if watch is not None:
            watch(self._faults_changed)

    def _observable(self) -> bool:
        """A storage fault is on that a timer wake could see (chaos/storage.py)."""
        return bool(getattr(self.broker, "idle_observable", False))

    # ---- parking --------------------------------------------------------------------
    def wait(self, fetcher: Any = None) -> Generator[Any, Any, None]:
        """Wait for a push, or the 2 s BRPOP timeout when it can be observed. Called
        right after ``fetcher`` found nothing."""
        env = self.env
        wake = env.event()
        lazy = (getattr(fetcher, "idle_lists", None) is not None
                and not getattr(self.broker, "idle_observable", False))  # _observable()
        # Among waiters due to re-issue at the same instant, the one that parked last
        # comes first: a timer's re-issue at t lands after the real parks at t (its wake
        # is queued when the timer fires), and keeps that place afterwards; same-instant
        # parks keep their order.
        now = env.now
        t_next = now + self.every
        rank = (-now, next(self._seq))
        waiter = _Waiter(wake, fetcher, t_next, rank, lazy)
        heap = self._heap
        if len(heap) > self.cap:       # timer-woken waiters pile up in quiet spells
            heap[:] = [e for e in heap if not e[2].wake.triggered]
            heapify(heap)
        heappush(heap, (t_next, rank, waiter))
        if lazy:
            self._lazy += 1
            if fetcher not in self._lists:
                self._learn(fetcher)
        else:
            env.timeout(self.every).callbacks.append(
                lambda _timer: wake.triggered or wake.succeed())
        try:
            yield wake
        finally:
            if wake._value is PENDING:     # interrupted: never let notify pick us
                self._leave(waiter)
                wake.succeed()

    def _learn(self, fetcher: Any) -> None:
        """Remember which lists a new fetcher pops (fixed for its life), so an audit can
        ask every queue a lazy waiter watches in one ``queue_sizes`` call."""
        lists = tuple(fetcher.idle_lists())
        if not self._lists:
            self._shared = lists
        elif lists == self._shared:
            lists = self._shared
        elif any(lists != known for known in self._lists.values()):
            self._shared = None
            self._differ = True
        self._lists[fetcher] = lists
        self._names = sorted({q for lists in self._lists.values() for q in lists})

    def _leave(self, waiter: _Waiter) -> None:
        if waiter.lazy:
            waiter.lazy = False
            self._lazy -= 1

    def _advance(self, waiter: _Waiter, now: float) -> float:
        """A lazy waiter's next re-issue at or after ``now``, by simpy's own sums."""
        t_next, every = waiter.t_next, self.every
        while t_next < now:
            t_next += every
        waiter.t_next = t_next
        return t_next

    # ---- a push ---------------------------------------------------------------------
    def notify(self, n: int, queue: str | None = None) -> None:
        """A push happened (to ``queue``, None: any): wake up to ``n`` waiters,
        longest-waiting first; audit afterwards unless every woken waiter pops the lists
        every lazy waiter pops."""
        heap = self._heap
        if self._differ and queue is not None and heap:
            self._notify_blocked_on(queue, n)
            return
        if not heap:                   # nobody parked: a busy system's every push
            if self._shared is None:
                self._request_audit()
            return
        now = self.env.now
        shared, lists = self._shared, self._lists
        strand = shared is None
        while n > 0 and heap:
            t, rank, waiter = heap[0]
            wake = waiter.wake
            if wake._value is not PENDING:     # wake.triggered, without the property
                heappop(heap)
                continue
            t_next = waiter.t_next
            if waiter.lazy and t_next < now:    # _advance, inlined: its next re-issue
                every = self.every
                while t_next < now:
                    t_next += every
                waiter.t_next = t_next
            if t_next != t:
                heapreplace(heap, (t_next, rank, waiter))
                continue
            heappop(heap)
            if waiter.lazy:            # _leave, inlined
                waiter.lazy = False
                self._lazy -= 1
            wake.succeed()
            n -= 1
            if not strand and lists.get(waiter.fetcher) is not shared:
                strand = True
        if strand:
            self._request_audit()

    def _notify_blocked_on(self, queue: str, n: int) -> None:
        """Threads pop different lists (Sidekiq 7 capsules): Redis serves a push to the
        client blocked longest *on that list*, so only waiters whose fetcher pops
        ``queue`` (or whose lists are unknown) are candidates, in the order ``notify``
        uses. Heap keys left stale here are corrected by ``notify``'s own walk."""
        now = self.env.now
        lists = self._lists
        candidates = []
        for _, rank, waiter in self._heap:
            if waiter.wake._value is not PENDING:
                continue
            pops = lists.get(waiter.fetcher)
            if pops is None:
                idle_lists = getattr(waiter.fetcher, "idle_lists", None)
                pops = idle_lists() if idle_lists is not None else (queue,)
            if queue in pops:
                t_next = self._advance(waiter, now) if waiter.lazy else waiter.t_next
                candidates.append((t_next, rank, waiter))
        candidates.sort(key=lambda c: (c[0], c[1]))
        for _, _, waiter in candidates[:n]:
            self._leave(waiter)
            waiter.wake.succeed()
        self._request_audit()

    def recheck(self) -> None:
        """A thread left its loop: a wake it had been given may go unused, so look
        for work a lazy waiter's timer would find."""
        self._request_audit()

    def _request_audit(self) -> None:
        if self._lazy and not self._audit_due:
            self._audit_due = True
            self.env.timeout(0).callbacks.append(self._audit)

    def _audit(self, _event: Any = None) -> None:
        """After the woken threads fetched: does work wait where only a lazy waiter's
        timer would find it? Then set a sentinel at that waiter's next re-issue."""
        self._audit_due = False
        if not self._lazy or self._observable():
            return
        # Most pushes were taken by the thread they woke: every watched queue is empty
        # again, and no waiter needs a look (one call, not a pass over the line).
        names = self._names
        full = {q for q, size in zip(names, self.broker.queue_sizes(names), strict=True)
                if size}
        if not full:
            return
        now = self.env.now
        first: dict[int, _Waiter] = {}          # fetcher -> its soonest lazy waiter
        covered: set[int] = set()               # fetchers with a sentinel already due
        for _, rank, waiter in self._heap:
            if not waiter.lazy or waiter.wake.triggered:
                continue
            key = id(waiter.fetcher)
            if waiter.sentinel:
                covered.add(key)
                continue
            best = first.get(key)
            t_next = self._advance(waiter, now)
            if best is None or (t_next, rank) < (best.t_next, best.rank):
                first[key] = waiter
        for key in covered:
            first.pop(key, None)
        for waiter in first.values():
            if any(q in full for q in waiter.fetcher.idle_lists()):
                waiter.sentinel = True
                self._at(waiter.t_next).callbacks.append(
                    lambda _timer, w=waiter: self._sentinel(w))

    def _sentinel(self, waiter: _Waiter) -> None:
        """A lazy waiter's re-issue that may find work: wake it if it would."""
        waiter.sentinel = False
        if not waiter.lazy or waiter.wake.triggered:
            self._request_audit()               # someone else may still need waking
            return
        lists = waiter.fetcher.idle_lists()
        if not self._observable() and any(self.broker.queue_sizes(lists)):
            self._leave(waiter)
            waiter.wake.succeed()
            self._request_audit()               # after its fetch: is there more?
        else:
            waiter.t_next += self.every         # the re-issue happened and found nothing

    # ---- storage faults -------------------------------------------------------------
    def _faults_changed(self) -> None:
        """A fault began: every lazy waiter gets its real timer back, due at its next
        re-issue, since a fetch may now fail or redeliver."""
        if not self._lazy or not self._observable():
            return
        now = self.env.now
        for _, _, waiter in self._heap:
            if waiter.lazy and not waiter.wake.triggered:
                self._leave(waiter)
                wake = waiter.wake
                self._at(self._advance(waiter, now)).callbacks.append(
                    lambda _timer, wake=wake: wake.triggered or wake.succeed())

    def _at(self, when: float) -> simpy.Timeout:
        """A timer due at exactly ``when`` (simpy adds the delay to now)."""
        now = self.env.now
        delay = max(0.0, when - now)
        while now + delay < when:
            delay = math.nextafter(delay, math.inf)
        while delay > 0 and now + delay > when:
            delay = math.nextafter(delay, 0.0)
        return self.env.timeout(delay)
