"""Batches, after Sidekiq Pro: a group of jobs and callbacks on what happens to the group.

Why: "send the receipt when every line item is packed" needs to know when a group is
done, and the known failure is a callback that fires twice, or never, after a crash
between "job done" and "batch settled" (docs/semantics.md, Dependencies and batches)::

    batch = Batch(system, on_success=ShipOrderJob, on_death=alert)
    batch.jobs(lambda: [client.perform_async(PackItemJob, item) for item in items])
    batch.add(PackItemJob, extra_item)

Callbacks, each fired exactly once:

* ``complete``: every job ran once (succeeded, or failed at least once; retries may
  still be pending). A dead or discarded job has run.
* ``success``: every job succeeded; never, once a job has died.
* ``death``: the first time a job of the batch dies (dead set; a discard is not a death).

A callback is a Job class, enqueued with arguments ``[bid, kind]`` as Sidekiq enqueues its
callback jobs (the class name is stored with the batch, so it survives a crash), or a
plain callable ``f(status)`` run inline by whoever settles the batch (kept in memory
only: a Ruby proc could not be stored either). Every firing is recorded as
``effect(f"batch:{bid}:{kind}", "batch", once=True)``: the idempotency checker then proves
exactly-once from the history.

Storage (Redis hashes; counters move only through a per-jid token)::

  batch:<bid>          total, unran, pending, dead counters; callbacks {kind: class}
  batch:<bid>:unran    jid -> 1, removed the first time the job runs   (unran - 1)
  batch:<bid>:pending  jid -> 1, removed when the job succeeds          (pending - 1)
  batch:<bid>:dead     jid -> 1, hsetnx when the job dies               (dead + 1)
  batch:<bid>:fired    kind -> time, hsetnx: the single owner of each callback
  batches:open         bid -> 1, an outcome recorded but not yet settled

A job's outcome is recorded (open marker, token, counter) before the batch is settled;
a sweep every 5 s (while any process lives) settles every open batch, so a crash between
the two fires the callback later, once. Duplicate deliveries run no hooks (the system
runs them for the owning copy only), and a hook delivered twice finds its token gone.

Caveats, as in Sidekiq Pro: jobs should be added before any of them can finish (one
``jobs`` block, or adds at one instant): a batch whose counters reached zero has fired.
A job a later client middleware drops (a unique conflict) or a dependent that is
canceled never runs, so its batch never completes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

from jobsim.broker.base import Broker, BrokerError, Payload
from jobsim.system.job import Job

if TYPE_CHECKING:
    from jobsim.system.system import JobSystem

KINDS = ("complete", "success", "death")
OPEN = "batches:open"
SWEEP_EVERY_S = 5.0
Callback = type[Job] | Callable[[dict[str, Any]], Any] | None


def batch_key(bid: str, part: str = "") -> str:
    return f"batch:{bid}:{part}" if part else f"batch:{bid}"


class BatchManager:
    """The system-wide half of batches: tags pushes, records outcomes, fires callbacks."""

    def __init__(self, system: JobSystem, sweep_every_s: float | None = SWEEP_EVERY_S) -> None:
        self.system = system
        self.sweep_every_s = sweep_every_s
        self.errors: list[tuple[str, str, str]] = []     # (bid, kind, error) from callables
        self._rng = system.sim.streams["batch"]
        self._open: list[str] = []                        # bids of enclosing jobs() blocks
        self._added: list[list[str]] = []
        self._callables: dict[str, dict[str, Callable[[dict[str, Any]], Any]]] = {}
        self._outbox: list[tuple[str, str, bool, bool]] = []

    @classmethod
    def of(cls, system: JobSystem) -> BatchManager:
        """The system's manager, installed on first use."""
        found = getattr(system, "batches", None)
        if found is None:
            found = cls(system)
            found.attach()
        return found

    def attach(self) -> None:
        system = self.system
        system.batches = self  # type: ignore[attr-defined]
        system.client.middleware.insert(0, self)          # tag before anyone defers a job
        system.hooks.after_success.append(self.on_success)
        system.hooks.on_retry.append(self.on_retry)
        system.hooks.on_terminal.append(self.on_terminal)
        if self.sweep_every_s:
            system.sim.process(self._sweeper(self.sweep_every_s))

    # ---- creating batches -----------------------------------------------------------
    def create(self, callbacks: dict[str, Callback]) -> str:
        bid = f"{self._rng.getrandbits(64):016x}"
        library = self.system.library
        names = {k: library.payload_name(cb) for k, cb in callbacks.items()
                 if isinstance(cb, type) and issubclass(cb, Job)}
        self._callables[bid] = {k: cb for k, cb in callbacks.items()
                                if cb is not None and k not in names}  # type: ignore[misc]
        broker = self.system.client.broker
        key = batch_key(bid)
        for counter in ("total", "unran", "pending", "dead"):
            broker.hset(key, counter, 0)
        broker.hset(key, "callbacks", names)
        return bid

    @contextlib.contextmanager
    def opened(self, bid: str) -> Iterator[list[str]]:
        """While open, every push is added to batch ``bid``; yields the jids added."""
        added: list[str] = []
        self._open.append(bid)
        self._added.append(added)
        try:
            yield added
        finally:
            self._open.pop()
            self._added.pop()
        self.settle(bid, None)

    def before_push(self, payload: Payload) -> Payload:
        """Client middleware: tag a push made inside ``jobs()`` and count it in."""
        if not self._open:
            return payload
        bid, jid = self._open[-1], payload["jid"]
        broker = self.system.client.broker
        broker.hset(batch_key(bid, "unran"), jid, 1)
        broker.hset(batch_key(bid, "pending"), jid, 1)
        for counter in ("total", "unran", "pending"):
            broker.hincr(batch_key(bid), counter, 1)
        self._added[-1].append(jid)
        return {**payload, "bid": bid}

    # ---- outcomes (server side) -----------------------------------------------------
    def on_success(self, payload: Payload) -> None:
        self.record(payload, ok=True)

    def on_retry(self, payload: Payload) -> None:
        self.record(payload)

    def on_terminal(self, payload: Payload, state: str) -> None:
        self.record(payload, dead=state == "dead")

    def record(self, payload: Payload, ok: bool = False, dead: bool = False) -> None:
        bid = payload.get("bid")
        if bid is None:
            return
        jid = payload["jid"]
        try:
            self.mark(self.system.broker, bid, jid, ok, dead)
        except BrokerError:
            self._outbox.append((bid, jid, ok, dead))
            return
        with contextlib.suppress(BrokerError):           # marked open: the sweep settles it
            self.settle(bid, jid)

    @staticmethod
    def mark(broker: Broker, bid: str, jid: str, ok: bool, dead: bool) -> None:
        """Step 1, durable: the open marker, then each counter through its jid's token."""
        key = batch_key(bid)
        broker.hset(OPEN, bid, 1)
        if broker.hdel(batch_key(bid, "unran"), jid):
            broker.hincr(key, "unran", -1)
        if ok and broker.hdel(batch_key(bid, "pending"), jid):
            broker.hincr(key, "pending", -1)
        if dead and broker.hsetnx(batch_key(bid, "dead"), jid, 1):
            broker.hincr(key, "dead", 1)

    def settle(self, bid: str, jid: str | None) -> list[str]:
        """Step 2: fire every callback now due (each at most once), then unmark.
        Returns the kinds fired by this call."""
        broker = self.system.broker
        state = broker.hgetall(batch_key(bid))
        due = []
        if state.get("unran", 1) <= 0:
            due.append("complete")
        if state.get("pending", 1) <= 0 and state.get("dead", 0) == 0:
            due.append("success")
        if state.get("dead", 0) > 0:
            due.append("death")
        fired = [kind for kind in due if self._fire(broker, bid, kind, jid, state)]
        broker.hdel(OPEN, bid)
        return fired

    def _fire(self, broker: Broker, bid: str, kind: str, jid: str | None,
              state: dict[str, Any]) -> bool:
        system = self.system
        if not broker.hsetnx(batch_key(bid, "fired"), kind, system.sim.now):
            return False
        system.sim.record("effect", jid, f"batch:{bid}:{kind}", "batch", True)
        name = state.get("callbacks", {}).get(kind)
        if name is not None:
            self._enqueue(broker, self.system.library.resolve(name), bid, kind)
            return True
        callback = self._callables.get(bid, {}).get(kind)
        if callback is not None:
            status = {"bid": bid, "kind": kind, **{k: state.get(k) for k in
                                                   ("total", "unran", "pending", "dead")}}
            try:
                callback(status)
            except Exception as exc:  # a broken callback must not break the processor
                self.errors.append((bid, kind, type(exc).__name__))
        return True

    def _enqueue(self, broker: Broker, cls: type[Job], bid: str, kind: str) -> None:
        """The callback job, pushed on this process's connection (as the poller pushes)."""
        system = self.system
        payload = system.client.build(cls, [bid, kind])
        queue = payload["queue"]
        broker.push(queue, payload)
        system.lifecycle.move("enqueue", payload["jid"], queue, payload["class"],
                              payload["retry"], True, payload["args"])
        system.notify(queue, 1)

    # ---- recovery -------------------------------------------------------------------
    def sweep(self) -> list[tuple[str, str]]:
        """Retry refused marks and settle every open batch: (bid, kind) fired."""
        broker = self.system.broker
        outbox, self._outbox = self._outbox, []
        for i, (bid, jid, ok, dead) in enumerate(outbox):
            try:
                self.mark(broker, bid, jid, ok, dead)
            except BrokerError:
                self._outbox.extend(outbox[i:])
                raise
        return [(bid, kind) for bid in sorted(broker.hgetall(OPEN))
                for kind in self.settle(bid, None)]

    def _sweeper(self, every: float) -> Generator[Any, Any, None]:
        timeout = self.system.sim.env.timeout
        while True:
            yield timeout(every)
            if any(w.alive for w in self.system.workers):
                with contextlib.suppress(BrokerError):
                    self.sweep()

    def status(self, bid: str) -> dict[str, Any]:
        """Counters and fired callbacks, read from storage."""
        broker = self.system.broker
        state = broker.hgetall(batch_key(bid))
        state["fired"] = sorted(broker.hgetall(batch_key(bid, "fired")))
        return state


class Batch:
    """One batch: ``jobs(fn)`` or ``add(cls, *args)`` put jobs in; callbacks fire once."""

    def __init__(self, system: JobSystem, on_success: Callback = None,
                 on_complete: Callback = None, on_death: Callback = None) -> None:
        self.system = system
        self.manager = BatchManager.of(system)
        self.bid = self.manager.create(
            {"success": on_success, "complete": on_complete, "death": on_death})

    def jobs(self, fn: Callable[[], Any]) -> list[str]:
        """Run ``fn``; every job it pushes joins the batch. Returns the jids added."""
        with self.manager.opened(self.bid) as added:
            fn()
        return added

    def add(self, cls: type[Job], *args: Any, **options: Any) -> str | None:
        """Push one job into the batch; its jid, or None if a middleware skipped it."""
        jid: list[str | None] = []
        self.jobs(lambda: jid.append(self.system.client.perform_async(cls, *args, **options)))
        return jid[0]

    def status(self) -> dict[str, Any]:
        return self.manager.status(self.bid)
