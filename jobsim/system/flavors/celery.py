"""Celery on Redis (celery 5.7.0, kombu 5.7.0) as a flavour.

What each piece reproduces, and from which file:

* Prefetch (celery ``celery/worker/consumer/tasks.py``, kombu ``kombu/common.py`` QoS):
  a worker holds at most ``worker_prefetch_multiplier * concurrency`` unacknowledged
  messages it has not started (plus, with ``task_acks_late``, the ones running). ETA and
  countdown messages do not count (``qos.increment_eventually`` in
  ``celery/worker/strategy.py``): the worker holds them in memory until their time.
* Acknowledgement (``celery/app/task.py``, ``acks_late``): early ack just before the task
  runs (a crash then loses the running task), or late ack after it finished.
* Unacked messages (kombu ``kombu/transport/redis.py``, ``QoS.append`` and
  ``restore_visible``): every delivered message sits in the ``unacked`` hash with its
  delivery time. Every ``unacked_restore_interval`` (10 s) each worker calls
  ``restore_visible``, which scans on every ``unacked_restore_throttle``-th call (10) and
  pushes back to its queue every message delivered more than ``visibility_timeout`` ago,
  whoever still holds it. An ETA message held longer than the timeout, or an
  ``acks_late`` task running longer, is therefore delivered a second time.
* Retries (``celery/app/autoretry.py``, ``Task.retry``): an exception listed in
  ``autoretry_for`` republishes the task to its queue at once with a countdown (an ETA
  message, same task id, ``retries + 1``) while ``retries < max_retries``; the countdown
  is ``default_retry_delay``, or with ``retry_backoff``
  ``celery.utils.time.get_exponential_backoff_interval``.
* Failure storage: no dead set. A task that fails for good is recorded in the result
  backend as state FAILURE (``celery/backends/base.py``, ``mark_as_failure``); jobsim
  records it as ``discard`` with reason ``FAILURE``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any

import simpy

from jobsim import backoff
from jobsim.broker.base import Broker, BrokerError, Payload
from jobsim.system.flavors.base import Daemon, Flavor
from jobsim.system.flavors.selectors import OrderedSelector
from jobsim.system.job import Job
from jobsim.system.retry import RetryHandler

if TYPE_CHECKING:
    from jobsim.system.flavors.options import CeleryOptions
    from jobsim.system.worker import WorkerProcess

WORKER_LOST = "WorkerLostError"          # billiard.exceptions.WorkerLostError
UNACKED = "unacked"                       # kombu's hash: delivery tag -> message
RESULTS = "celery-task-meta"              # the result backend: task id -> state
TAG = "delivery_tag"                      # carried on a delivered payload, never stored


def countdown_policy(opts: CeleryOptions) -> backoff.Policy:
    """The countdown autoretry passes to Task.retry: ``default_retry_delay``, or with
    ``retry_backoff`` the ``celery`` policy (get_exponential_backoff_interval)."""
    if not opts.retry_backoff:
        return backoff.policy("fixed", intervals=(opts.default_retry_delay,))
    return backoff.policy("celery", retry_backoff=float(opts.retry_backoff),
                          retry_backoff_max=opts.retry_backoff_max,
                          retry_jitter=opts.retry_jitter)


def priority_step(priority: Any, steps: tuple[int, ...]) -> int:
    """kombu's ``Channel.priority``: the message priority clamped to 0..9
    (``_get_message_priority``), then rounded down to a step."""
    try:
        value = max(min(int(priority), 9), 0)
    except (TypeError, ValueError):
        value = 0
    return steps[max(bisect_right(steps, value) - 1, 0)]


def priority_list(queue: str, step: int) -> str:
    """The list a step's messages live in: the queue itself for step 0. kombu joins the
    names with its separator ``\\x06\\x16``; jobsim writes ``queue:pSTEP`` so reports
    stay readable."""
    return f"{queue}:p{step}" if step else queue


class PriorityRouting:
    """Client middleware: a message with a priority goes to its step's list (kombu's
    ``Channel._put`` with ``_q_for_pri``)."""

    def __init__(self, steps: tuple[int, ...]) -> None:
        self.steps = steps

    def before_push(self, payload: Payload) -> Payload:
        priority = payload.get("priority")
        if priority is None:
            return payload
        step = priority_step(priority, self.steps)
        if not step:
            return payload
        return {**payload, "queue": priority_list(payload["queue"], step)}


class CeleryFlavor(Flavor):
    name = "celery"

    def __init__(self, system: Any) -> None:
        super().__init__(system)
        self.opts: CeleryOptions = system.config.flavor.celery
        self.owners: dict[str, str] = {}   # acks_late: jid -> tag of the owning execution
        self.priorities = len(self.opts.priority_steps) > 1
        if self.priorities:
            system.client.middleware.append(PriorityRouting(self.opts.priority_steps))

    def lists(self, queue: str) -> tuple[str, ...]:
        return tuple(priority_list(queue, step) for step in self.opts.priority_steps)

    def retry_handler(self) -> RetryHandler:
        return CeleryRetry(self.system, self.opts)

    def selector(self, worker: WorkerProcess) -> OrderedSelector:
        names = [name for name, _ in self.system.config.queue_spec]
        return OrderedSelector(names, self.opts.queue_order_strategy,
                               self.system.sim.streams[f"fetch.{worker.id}"],
                               self.lists if self.priorities else None)

    def fetcher(self, worker: WorkerProcess) -> Consumer:
        return Consumer(worker, self.selector(worker), self.opts)

    def on_start(self, worker: WorkerProcess) -> None:
        """A new life starts with empty buffers: what the last one held is in ``unacked``."""
        worker.fetcher.reset()

    def on_stop(self, worker: WorkerProcess) -> None:
        """kombu's ``QoS.restore_unacked_once`` at a graceful stop: every message this
        life reserved or held (and did not acknowledge) goes back to its queue now."""
        system = self.system
        holder = f"{worker.id}.{worker.generation}:"
        try:
            entries = system.broker.hgetall(UNACKED)
            for tag in sorted(t for t in entries if t.startswith(holder)):
                _at, queue, payload = entries[tag]
                if system.broker.hdel(UNACKED, tag):
                    system.broker.push(queue, payload)
                    system.sim.record("copy", payload["jid"], queue, "restore_unacked")
                    system.notify(queue, 1)
        except BrokerError:
            pass

    def daemons(self, worker: WorkerProcess) -> Iterable[Daemon]:
        return (lambda: self._restore_loop(worker),)

    def lose_child(self, worker: WorkerProcess, job: Job) -> None:
        """A prefork pool child dies under its task (``celery/worker/request.py``,
        ``Request.on_failure`` with ``WorkerLostError``): the worker lives on and starts a
        new child. The message is requeued only with ``task_acks_late`` and
        ``task_reject_on_worker_lost``; otherwise it is acknowledged and the task fails."""
        system = self.system
        found = replace_thread(worker, job)
        if found is None:
            return
        payload, queue, dup = found
        jid, tag = payload["jid"], payload.get(TAG)
        system.sim.record("failure", jid, WORKER_LOST, job.attempt, int(dup))
        message = {k: v for k, v in payload.items() if k != TAG}
        if tag is not None:
            system.broker.hdel(UNACKED, tag)
            self.owners.pop(jid, None)
        if self.opts.task_acks_late and self.opts.task_reject_on_worker_lost:
            system.broker.push(queue, message)
            if dup:
                system.sim.record("copy", jid, queue, "reject_on_worker_lost")
            else:
                system.lifecycle.move("requeue", jid, queue, worker.id)
            system.notify(queue, 1)
        elif not dup:
            assert isinstance(system.retry, CeleryRetry)
            system.retry.fail(message, WorkerLostError())

    def at_rest(self) -> bool:
        """Held ETA messages and reserved ones are all in the unacked hash."""
        try:
            return not self.system.broker.hgetall(UNACKED)
        except BrokerError:
            return False

    def inventory(self, store: Broker) -> Iterable[tuple[str, str]]:
        for _tag, (_at, _queue, payload) in sorted(store.hgetall(UNACKED).items()):
            yield payload["jid"], UNACKED

    # ---- visibility timeout ---------------------------------------------------------
    def _restore_loop(self, worker: WorkerProcess) -> Generator[Any, Any, None]:
        env, opts = self.system.sim.env, self.opts
        calls = 0
        try:
            while True:
                yield env.timeout(opts.unacked_restore_interval)
                calls += 1
                if (calls - 1) % (opts.unacked_restore_throttle or 1) == 0:
                    self.restore_visible(env.now)
        except simpy.Interrupt:
            return

    def restore_visible(self, now: float) -> int:
        """Push back every message delivered at or before ``now - visibility_timeout``."""
        system = self.system
        broker = system.broker
        ceiling = now - self.opts.visibility_timeout
        restored = 0
        try:
            entries = broker.hgetall(UNACKED)
            due = sorted((at, tag) for tag, (at, _q, _p) in entries.items() if at <= ceiling)
            for _at, tag in reversed(due):         # ZRANGE ... REV: the newest first
                _, queue, payload = entries[tag]
                if not broker.hdel(UNACKED, tag):
                    continue
                broker.push(queue, payload)
                self._record_restore(payload, queue, tag)
                system.notify(queue, 1)
                restored += 1
        except BrokerError:
            pass
        return restored

    def _record_restore(self, payload: Payload, queue: str, tag: str) -> None:
        """A message whose owning execution died with its process takes the job over
        (``recover``); any other restored message is a second copy (``copy``)."""
        system, jid = self.system, payload["jid"]
        holder, _, _ = tag.partition(":")
        wid, _, life = holder.rpartition(".")
        worker = system.process(wid)
        dead = not worker.alive or str(worker.generation) != life
        if dead and self.owners.get(jid) == tag and system.lifecycle.get(jid) == "processing":
            del self.owners[jid]
            system.lifecycle.move("recover", jid, queue, wid, 1)
        else:
            system.sim.record("copy", jid, queue, "visibility_timeout")


class Consumer:
    """A worker's kombu consumer: reserves messages, holds ETA ones, acks them."""

    __slots__ = ("acks_late", "broker", "limit", "reliable", "reserved", "selector", "seq",
                 "worker")

    def __init__(self, worker: WorkerProcess, selector: OrderedSelector,
                 opts: CeleryOptions) -> None:
        self.worker = worker
        self.broker = worker.system.broker
        self.selector = selector
        self.limit = opts.worker_prefetch_multiplier * worker.system.config.concurrency
        self.acks_late = opts.task_acks_late
        self.reserved: deque[tuple[Payload, str, str]] = deque()
        self.seq = 0
        self.reliable = False

    def reset(self) -> None:
        self.reserved = deque()

    def fetch(self) -> tuple[Payload, str] | None:
        self._reserve()
        if not self.reserved:
            return None
        payload, queue, tag = self.reserved.popleft()
        system = self.worker.system
        jid = payload["jid"]
        if not self.acks_late:
            self.broker.hdel(UNACKED, tag)        # early ack: just before the task runs
        state = system.lifecycle.get(jid)
        if state == "retrying":
            system.lifecycle.move("promote", jid, queue, "eta")
            state = "enqueued"
        if state == "enqueued" and self.acks_late:
            system.flavor.owners[jid] = tag       # type: ignore[attr-defined]
        self._reserve(1 if self.acks_late else 0)  # the consumer refills at once
        return {**payload, TAG: tag}, queue

    def acknowledge(self, payload: Payload) -> None:
        tag = payload.get(TAG)
        if tag is not None and self.acks_late:
            self.broker.hdel(UNACKED, tag)
            owners = self.worker.system.flavor.owners  # type: ignore[attr-defined]
            if owners.get(payload["jid"]) == tag:
                del owners[payload["jid"]]

    def _unacked(self, starting: int) -> int:
        """Unacknowledged messages counted against the prefetch limit: the reserved ones,
        and with late ack the running ones (``starting``: one about to run)."""
        if not self.acks_late:
            return len(self.reserved)
        running = sum(1 for p in self.worker.processors if p.current is not None)
        return len(self.reserved) + running + starting

    def _reserve(self, starting: int = 0) -> None:
        """Take messages until the prefetch limit (0: no limit); ETA ones are held."""
        worker = self.worker
        system = worker.system
        while not self.limit or self._unacked(starting) < self.limit:
            queue = self.selector.choose(self.broker)
            if queue is None:
                return
            payload = self.broker.pop(queue)
            if payload is None:
                return
            self.seq += 1
            tag = f"{worker.id}.{worker.generation}:{self.seq}"
            self.broker.hset(UNACKED, tag, [system.sim.env.now, queue, payload])
            eta = payload.get("eta")
            if eta is not None and eta > worker.now():
                self._hold(payload, queue, tag, eta - worker.now())
            else:
                self.reserved.append((payload, queue, tag))

    def _hold(self, payload: Payload, queue: str, tag: str, wait: float) -> None:
        """Keep an ETA message in memory; at its time it joins the reserved ones."""
        worker = self.worker
        life = worker.generation

        def ready(_event: Any) -> None:
            if worker.alive and worker.generation == life:
                self.reserved.append((payload, queue, tag))
                worker.system.notify(queue, 1)

        worker.system.sim.env.timeout(wait).callbacks.append(ready)


class WorkerLostError(Exception):
    """billiard's WorkerLostError: the pool child running the task died."""


def replace_thread(worker: WorkerProcess, job: Job) -> tuple[Payload, str, bool] | None:
    """Kill the thread running ``job`` and start a fresh one in its place; returns what
    it was running (payload, queue, dup), or None when it is not running any more."""
    for index, p in enumerate(worker.processors):
        if p.current is not None and p.current[0] is job.payload:
            current, p.current = p.current, None
            if p.process is not None and p.process.is_alive:
                p.process.interrupt("worker_lost")
            fresh = type(p)(worker, p.index)
            fresh.process = worker.system.sim.env.process(fresh.run())
            worker.processors[index] = fresh
            return current
    return None


class CeleryRetry(RetryHandler):
    """autoretry_for + Task.retry: republish with a countdown, or FAILURE."""

    def __init__(self, system: Any, opts: CeleryOptions) -> None:
        super().__init__(system)
        self.opts = opts
        self.countdown = countdown_policy(opts)
        self.spec = self.countdown.spec()

    def handle(self, payload: Payload, cls: type[Job], job: Job, exc: Exception,
               now: float) -> None:
        opts, system = self.opts, self.system
        retries = payload.get("retries", 0)
        names = {k.__name__ for k in type(exc).__mro__}
        if not names.intersection(opts.autoretry_for) or retries >= opts.max_retries:
            self.fail(payload, exc)
            return
        if self.budget is not None and not self.budget.allow_retry(
                getattr(job, "worker", None), exc):
            self.fail(payload, exc)            # the retry budget safeguard said no
            return
        countdown = self.countdown.delay(retries, self.rng)
        eta = now + countdown
        jid, queue = payload["jid"], payload["queue"]
        message = {k: v for k, v in payload.items() if k != TAG}
        message.update(retries=retries + 1, retry_count=retries, eta=eta)
        system.broker.push(queue, message)
        system.lifecycle.move("retry", jid, retries, countdown, eta, self.spec, opts.max_retries)
        system.notify(queue, 1)
        system.hooks.call_all(system.hooks.on_retry, message)

    def fail(self, payload: Payload, exc: BaseException) -> None:
        """The result backend stores FAILURE; the message is gone (no dead set)."""
        system = self.system
        system.broker.hset(RESULTS, payload["jid"], "FAILURE")
        failed = {k: v for k, v in payload.items() if k != TAG}
        system.dead.discard(failed, "FAILURE", exc, handlers=False)
