"""Dependency chaining: a job deferred until every job it depends on has succeeded.

Why: the seed fulfilled orders before their payment was captured because the steps raced
(docs/semantics.md, Dependencies and batches); explicit dependencies cut its order errors
by 68 %. The known failure modes are dependents stuck forever when a parent is lost, and dependents
released twice or never after a crash between "parent done" and "release dependents".

Application code writes ``client.perform_async(FulfillmentJob, order, depends_on=[a, b])``
(a client middleware takes the job into custody and returns its jid) or
``system.dependencies.enqueue(cls, *args, dependencies=[...])``. Every piece of
bookkeeping lives in storage, as Sidekiq Pro keeps its batches, so a process crash loses
none of it:

  deps:deferred          jid -> held payload (with ``depends_on``); present = still held
  deps:pending           jid -> dependencies not yet succeeded (hincr; release at 0)
  deps:dependents:<jid>  dependent jid -> 1: reverse edges, each a one-shot token
  deps:done              jid -> succeeded | dead | discarded | canceled
  deps:unreleased        jid -> outcome: done, its dependents not yet released/canceled

Exactly once: ``hdel(deps:deferred, jid)`` is the claim: only the caller whose hdel removed
the payload pushes (or cancels) the job, so two dependencies finishing at the same
instant, a duplicate hook and the sweep may all try and one succeeds. Crash safety: a
finishing job first marks itself done *and* unreleased, then releases its dependents, then
clears the marker. A sweep every 5 s (while any process is alive) finishes every marked
job, retries marks that storage refused, and after a process (re)starts walks every held
job, recomputing from ``deps:done``, like orphan recovery. In Redis each step below is one
Lua script; here nothing runs between two storage calls of one step, which is the same.

What a failed dependency (dead, discarded or canceled) does to its dependents is the job
system's rule, ``on_failure``:

- ``cancel`` (Sidekiq, Celery): the dependents are canceled, transitively
  (``cancel(reason, dep)``), and one enqueued after its dependency failed is canceled at
  once. A Celery chain never sends the tasks after a failed one; jobsim's Sidekiq model
  does the same.
- ``hold`` (RQ): the dependents stay deferred for good. rq 2.x (``rq/worker/base.py``,
  ``handle_job_failure``; ``rq/queue.py``, ``enqueue_dependents``) moves a dependent to
  its queue only when ``Job.dependencies_are_met`` holds, and a FAILED dependency meets
  it only for a ``Dependency(..., allow_failure=True)``; otherwise the dependent waits in
  the DeferredJobRegistry, never runs and is never failed. One enqueued after its
  dependency failed is deferred the same way.

One already succeeded at enqueue counts as done. Unknown jids and cycles are refused at
enqueue.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any

from jobsim.broker.base import Broker, BrokerError, Payload
from jobsim.system.client import PushError

if TYPE_CHECKING:
    from jobsim.system.job import Job
    from jobsim.system.system import JobSystem

DEFERRED = "deps:deferred"
PENDING = "deps:pending"
DONE = "deps:done"
UNRELEASED = "deps:unreleased"
OPTION = "depends_on"
FAILED = frozenset({"dead", "discarded", "canceled"})
SWEEP_EVERY_S = 5.0
ON_FAILURE = ("cancel", "hold")          # the ``on_failure`` rules, see the module docstring
_FLAVOR_ON_FAILURE = {"rq": "hold"}       # every other job system cancels


def on_failure_rule(flavor: str) -> str:
    """The job system's own rule for the dependents of a failed job."""
    return _FLAVOR_ON_FAILURE.get(flavor, "cancel")


def dependents_key(jid: str) -> str:
    return f"deps:dependents:{jid}"


class DependencyError(ValueError):
    """A dependency list that can never be satisfied (unknown jid, cycle, bad value)."""

    def __init__(self, message: str, jids: list[str]) -> None:
        super().__init__(message)
        self.jids = jids


class JobDependencyManager:
    """Holds deferred jobs and releases or cancels them as their dependencies finish."""

    def __init__(self, system: JobSystem, sweep_every_s: float | None = SWEEP_EVERY_S,
                 on_failure: str | None = None) -> None:
        self.system = system
        self.sweep_every_s = sweep_every_s
        self.hold = (on_failure or on_failure_rule(system.flavor.name)) == "hold"
        self.let_go = 0                                  # held jobs released or canceled
        self._outbox: list[tuple[str, str]] = []         # marks storage refused, retried
        self._lives: dict[str, int] = {}                 # worker id -> generation last seen

    # ---- installation ---------------------------------------------------------------
    def attach(self) -> None:
        """Register the client option, the server hooks, the inventory and the sweep."""
        system = self.system
        system.dependencies = self  # type: ignore[attr-defined]
        system.client.middleware.append(self)
        system.hooks.after_success.append(self.on_success)
        system.hooks.on_terminal.append(self.on_terminal)
        system.inventory_sources.append(self.held)
        if self.sweep_every_s:
            system.sim.process(self._sweeper(self.sweep_every_s))

    # ---- application side -------------------------------------------------------------
    def enqueue(self, cls: type[Job], *args: Any, dependencies: Iterable[str],
                **options: Any) -> str | None:
        """Push ``cls(*args)`` to run once every job in ``dependencies`` has succeeded."""
        return self.system.client.push(cls, list(args), depends_on=list(dependencies),
                                       **options)

    def before_push(self, payload: Payload) -> Payload | str | None:
        """Client middleware: a push with ``depends_on`` is deferred; returns its jid."""
        deps = payload.get(OPTION)
        if deps is None:
            return payload
        if deps == []:
            return {k: v for k, v in payload.items() if k != OPTION}
        return self.defer(payload)

    def defer(self, payload: Payload) -> str:
        """Hold a built payload until its dependencies succeed (or cancel it at once)."""
        system, broker = self.system, self.system.client.broker
        jid, queue, cls = payload["jid"], payload["queue"], payload["class"]
        try:
            deps = self._validate(broker, payload)
            outcomes = {d: broker.hget(DONE, d) for d in deps}
            failed = next((d for d in deps if outcomes[d] in FAILED), None)
            waiting = [d for d in deps if outcomes[d] != "succeeded"]
            held = {k: v for k, v in payload.items() if k != "enqueued_at"}
            held[OPTION] = deps
            if failed is not None and not self.hold:
                broker.hset(DONE, jid, "canceled")
            else:
                for dep in waiting:
                    broker.hset(dependents_key(dep), jid, 1)
                broker.hset(PENDING, jid, len(waiting))
                broker.hset(DEFERRED, jid, held)
        except BrokerError as exc:
            system.sim.record("enqueue_failed", jid, queue, cls, type(exc).__name__)
            raise PushError(f"defer of {jid} failed: {exc}") from exc
        system.lifecycle.move("defer", jid, queue, cls, payload["retry"], deps, payload["args"])
        if failed is not None and not self.hold:
            system.lifecycle.move("cancel", jid, f"dependency_{outcomes[failed]}", failed)
        elif not waiting:
            self._release(system.broker, jid)
        return jid

    def _validate(self, broker: Broker, payload: Payload) -> list[str]:
        jid, name = payload["jid"], payload["class"]
        deps = payload[OPTION]
        if not isinstance(deps, list) or not all(isinstance(d, str) and d for d in deps):
            raise DependencyError(f"{name} {jid}: depends_on must be a list of jids, "
                                  f"got {deps!r}", [])
        if payload.get("at") is not None:
            raise DependencyError(f"{name} {jid}: depends_on cannot be combined with "
                                  "perform_in/perform_at", [jid])
        deps = list(dict.fromkeys(deps))
        cycle = self._cycle(broker, jid, deps)
        if cycle:
            raise DependencyError(f"{name} {jid}: dependency cycle {' -> '.join(cycle)}", cycle)
        known = self.system.lifecycle.get
        unknown = [d for d in deps if known(d) is None]
        if unknown:
            raise DependencyError(f"{name} {jid}: unknown dependency jid(s) "
                                  f"{', '.join(unknown)}", unknown)
        if known(jid) is not None:
            raise DependencyError(f"{name} {jid}: a job with this jid already exists", [jid])
        return deps

    @staticmethod
    def _cycle(broker: Broker, jid: str, deps: list[str]) -> list[str]:
        """A path jid -> ... -> dep -> jid when adding the edges would close a loop."""
        wanted = set(deps)
        if jid in wanted:
            return [jid, jid]
        parent: dict[str, str] = {jid: jid}
        stack = [jid]
        while stack:
            node = stack.pop()
            for child in sorted(broker.hgetall(dependents_key(node))):
                if child in parent:
                    continue
                parent[child] = node
                if child in wanted:
                    path = [child]
                    while path[-1] != jid:
                        path.append(parent[path[-1]])
                    return [*reversed(path), jid]
                stack.append(child)
        return []

    # ---- server side: a dependency finished -------------------------------------------
    def on_success(self, payload: Payload) -> None:
        self.finish(payload["jid"], "succeeded")

    def on_terminal(self, payload: Payload, state: str) -> None:
        self.finish(payload["jid"], state)

    def finish(self, jid: str, outcome: str) -> None:
        """Mark ``jid`` done, then release or cancel its dependents. A mark storage
        refuses waits in the outbox for the sweep."""
        broker = self.system.broker
        try:
            dependents = self.mark_done(broker, jid, outcome)
        except BrokerError:
            self._outbox.append((jid, outcome))
            return
        if dependents:
            with contextlib.suppress(BrokerError):       # marked: the sweep finishes it
                self.propagate(broker, jid, outcome, dependents)

    @staticmethod
    def mark_done(broker: Broker, jid: str, outcome: str) -> list[str]:
        """Step 1, durable: the outcome, plus the unreleased marker when someone waits.
        Returns the jobs waiting on ``jid``."""
        waiting = sorted(broker.hgetall(dependents_key(jid)))
        broker.hset(DONE, jid, outcome)
        if waiting:
            broker.hset(UNRELEASED, jid, outcome)
        return waiting

    def propagate(self, broker: Broker, jid: str, outcome: str,
                  dependents: list[str] | None = None) -> None:
        """Step 2: release (success) or cancel (failure) the dependents, then unmark."""
        if outcome == "succeeded":
            key = dependents_key(jid)
            if dependents is None:
                dependents = sorted(broker.hgetall(key))
            for child in dependents:
                if broker.hdel(key, child) and broker.hincr(PENDING, child, -1) <= 0:
                    self._release(broker, child)
            broker.delete(key)
        elif self.hold:
            broker.delete(dependents_key(jid))   # its dependents wait for good
        else:
            self._cancel_tree(broker, jid, outcome)
        broker.hdel(UNRELEASED, jid)

    def _release(self, broker: Broker, jid: str) -> bool:
        """Push a held job to its queue if we win the claim on its payload."""
        held = broker.hget(DEFERRED, jid)
        if held is None or not broker.hdel(DEFERRED, jid):
            broker.hdel(PENDING, jid)
            return False
        system = self.system
        queue = held["queue"]
        broker.push(queue, {**held, "enqueued_at": system.sim.now})
        broker.hdel(PENDING, jid)
        if system.lifecycle.get(jid) == "deferred":
            system.lifecycle.move("release", jid, queue)
        else:                      # storage held a job the system already let go (failover)
            system.sim.record("copy", jid, queue, "released")
        system.notify(queue, 1)
        self.let_go += 1
        return True

    def _cancel_tree(self, broker: Broker, root: str, outcome: str) -> None:
        """Cancel every job waiting on ``root``, and everything waiting on those."""
        stack = [(root, outcome)]
        while stack:
            dep, why = stack.pop()
            key = dependents_key(dep)
            for child in sorted(broker.hgetall(key)):
                if broker.hdel(key, child) and self._cancel(broker, child, dep, why):
                    stack.append((child, "canceled"))
            broker.delete(key)
            if dep != root:
                broker.hdel(UNRELEASED, dep)

    def _cancel(self, broker: Broker, jid: str, dep: str, why: str) -> bool:
        if not broker.hdel(DEFERRED, jid):
            return False
        broker.hdel(PENDING, jid)
        broker.hset(DONE, jid, "canceled")
        broker.hset(UNRELEASED, jid, "canceled")
        lifecycle = self.system.lifecycle
        if lifecycle.get(jid) == "deferred":
            lifecycle.move("cancel", jid, f"dependency_{why}", dep)
        self.let_go += 1
        return True

    # ---- recovery -----------------------------------------------------------------------
    def sweep(self, full: bool = False) -> int:
        """Finish what a crash or a storage error interrupted; returns how many held jobs
        it released or canceled. ``full``: also re-derive every held job from deps:done."""
        broker = self.system.broker
        before = self.let_go
        outbox, self._outbox = self._outbox, []
        for i, (jid, outcome) in enumerate(outbox):
            try:
                self.mark_done(broker, jid, outcome)
            except BrokerError:
                self._outbox.extend(outbox[i:])
                raise
        for jid, outcome in sorted(broker.hgetall(UNRELEASED).items()):
            self.propagate(broker, jid, outcome)
        if full:
            for jid, held in sorted(broker.hgetall(DEFERRED).items()):
                self._recheck(broker, jid, held[OPTION])
        return self.let_go - before

    def _recheck(self, broker: Broker, jid: str, deps: list[str]) -> None:
        outcomes = [broker.hget(DONE, d) for d in deps]
        for dep, outcome in zip(deps, outcomes, strict=True):
            if outcome in FAILED:
                if not self.hold and self._cancel(broker, jid, dep, outcome):
                    self.propagate(broker, jid, "canceled")
                return
        if all(o == "succeeded" for o in outcomes):
            self._release(broker, jid)

    def _sweeper(self, every: float) -> Generator[Any, Any, None]:
        """The recovery loop: runs while any process is alive (it lives in them)."""
        timeout = self.system.sim.env.timeout
        while True:
            yield timeout(every)
            lives = {w.id: w.generation for w in self.system.workers if w.alive}
            if not lives:
                continue
            started = any(self._lives.get(w) != g for w, g in lives.items())
            try:
                self.sweep(full=started)
            except BrokerError:
                continue                      # try the full pass again next tick
            self._lives = lives

    def settled(self) -> bool:
        """No release or cancel is owed: nothing waits in the outbox or for propagation,
        and no deferred job has all its dependencies finished (under ``hold``, none has
        them all succeeded: one with a failed dependency waits for good). A run is not
        drained until this holds (the sweep will act on it)."""
        broker = self.system.broker
        if self._outbox or broker.hgetall(UNRELEASED):
            return False
        owed = {"succeeded"} if self.hold else {"succeeded", *FAILED}
        return not any(all(broker.hget(DONE, d) in owed for d in held[OPTION])
                       for held in broker.hgetall(DEFERRED).values())

    # ---- inventory ----------------------------------------------------------------------
    def held(self) -> list[tuple[str, str]]:
        """(jid, "deferred") for every job storage still holds for its dependencies."""
        return [(jid, "deferred") for jid in sorted(self.system.broker.hgetall(DEFERRED))]


def install(system: JobSystem, options: dict[str, Any]) -> JobDependencyManager | None:
    """The ``dependencies`` safeguard; ``enabled: false`` installs nothing (steps race)."""
    if not options.get("enabled", True):
        return None
    manager = JobDependencyManager(system, on_failure=options.get("on_failure"))
    manager.attach()
    return manager
