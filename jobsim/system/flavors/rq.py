"""RQ (rq 2.12.0) as a flavour: registries, ``Retry``, the work-horse and its timeout.

What each piece reproduces, and from which file of rq 2.12.0:

* Fetch (``rq/worker/base.py``, ``rq/executions.py``): a dequeued job enters the
  StartedJobRegistry with score ``now + ttl``, ``ttl = min(job_timeout,
  job_monitoring_interval) + 60`` (``get_heartbeat_ttl``). Here the registry is the
  worker's private list, named after one life of the process (an RQ worker's name is new
  at every start), plus a hash of expiry times. While the horse runs, the monitor
  refreshes the expiry every ``job_monitoring_interval`` (``monitor_work_horse``).
* ``job_timeout`` (``rq/timeouts.py``, the death penalty): the horse is killed when the
  job runs longer; the job fails with ``JobTimeoutException`` and is retried or failed.
* ``Retry(max, interval)`` (``rq/job.py``, ``Job.get_retry_interval`` and ``Job.retry``):
  the interval is ``intervals[max(len(intervals) - retries_left, 0)]`` (with fewer
  intervals than retries the FIRST one repeats); a non-zero interval puts the job in the
  ScheduledJobRegistry (the retry set here), zero enqueues it at once.
* Failure storage (``rq/registry.py``, ``FailedJobRegistry``): a job with no retries
  left is kept for ``failure_ttl`` (one year), with no size bound: the dead set with
  RQ's trimming rules.
* Abandoned jobs (``rq/registry.py``, ``StartedJobRegistry.cleanup``; run by
  ``Worker.clean_registries`` at start and every ``maintenance_interval``): entries past
  their expiry are retried when ``retries_left > 0`` and otherwise failed with
  ``AbandonedJobError``. Nothing is redelivered as Sidekiq's reliable fetch would.
* The scheduler (``rq/scheduler.py``) moves due jobs to their queues every second.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any

import simpy

from jobsim import backoff
from jobsim.broker.base import RETRY, BrokerError, Payload
from jobsim.system.flavors.base import Daemon, Flavor
from jobsim.system.flavors.selectors import OrderedSelector
from jobsim.system.job import Job
from jobsim.system.processor import Processor
from jobsim.system.retry import RetryHandler
from jobsim.system.scheduler import Poller

if TYPE_CHECKING:
    from jobsim.system.flavors.options import RQOptions
    from jobsim.system.worker import WorkerProcess

WIP = "rq:wip"                  # hash: "owner|jid" -> [started, expiry]
ABANDONED = "AbandonedJobError"
TIMEOUT = "JobTimeoutException"
HORSE_KILLED = "WorkHorseTerminated"   # jobsim's name for rq's "terminated unexpectedly"
_ORDER = {"default": "priority", "round_robin": "rq_round_robin", "random": "random"}


def owner(worker: WorkerProcess) -> str:
    """The registry name of this life of the process (RQ names a worker per start)."""
    return f"{worker.id}.{worker.generation}"


def heartbeat_ttl(opts: RQOptions, running: float) -> float:
    """``Worker.get_heartbeat_ttl``: the registry score's distance from now."""
    remaining = opts.job_timeout - running
    return min(remaining, opts.job_monitoring_interval) + 60.0


class RQFlavor(Flavor):
    name = "rq"

    def __init__(self, system: Any) -> None:
        super().__init__(system)
        self.opts: RQOptions = system.config.flavor.rq

    def retry_handler(self) -> RetryHandler:
        return RQRetry(self.system, self.opts)

    def selector(self, worker: WorkerProcess) -> OrderedSelector:
        names = [name for name, _ in self.system.config.queue_spec]
        return OrderedSelector(names, _ORDER[self.opts.dequeue_strategy],
                               self.system.sim.streams[f"fetch.{worker.id}"])

    def fetcher(self, worker: WorkerProcess) -> StartedRegistryFetch:
        return StartedRegistryFetch(worker, self.selector(worker), self.opts)

    def poller(self, worker: WorkerProcess) -> Poller:
        return RQScheduler(worker, self.opts.scheduler_interval)

    def on_start(self, worker: WorkerProcess) -> None:
        """No recovery at start: abandoned jobs wait for the registry cleanup."""

    def daemons(self, worker: WorkerProcess) -> Iterable[Daemon]:
        return (lambda: self._monitor(worker), lambda: self._maintenance(worker))

    def at_rest(self) -> bool:
        """Jobs in a StartedJobRegistry still await the cleanup (or are running)."""
        try:
            return not self.system.broker.hgetall(WIP)
        except BrokerError:
            return False

    def lose_child(self, worker: WorkerProcess, job: Job) -> None:
        """The work-horse dies, not the worker (``monitor_work_horse`` then
        ``handle_job_failure``, rq/worker/worker_classes.py): retried or failed."""
        for p in worker.processors:
            if p.current is not None and p.current[0] is job.payload:
                p.kill_horse()
                return

    # ---- the horse monitor and the maintenance loop --------------------------------
    def _monitor(self, worker: WorkerProcess) -> Generator[Any, Any, None]:
        """Refresh the registry expiry of every running job, as monitor_work_horse does."""
        env, broker, opts = self.system.sim.env, self.system.broker, self.opts
        try:
            while True:
                yield env.timeout(opts.job_monitoring_interval)
                name = owner(worker)
                for p in worker.processors:
                    if p.current is None:
                        continue
                    key = f"{name}|{p.current[0]['jid']}"
                    try:
                        entry = broker.hget(WIP, key)
                        if entry is not None:
                            started = entry[0]
                            ttl = heartbeat_ttl(opts, env.now - started)
                            broker.hset(WIP, key, [started, env.now + ttl])
                    except BrokerError:
                        pass
        except simpy.Interrupt:
            return

    def _maintenance(self, worker: WorkerProcess) -> Generator[Any, Any, None]:
        """clean_registries at start, then every maintenance_interval."""
        env = self.system.sim.env
        try:
            while True:
                self.clean_started(env.now)
                yield env.timeout(self.opts.maintenance_interval)
        except simpy.Interrupt:
            return

    def clean_started(self, now: float) -> int:
        """StartedJobRegistry.cleanup: expired entries are retried or failed as abandoned.
        Entries are taken one registry (one dead worker life) at a time, once all of its
        entries have expired (a live worker's never do: its monitor refreshes them)."""
        system = self.system
        broker = system.broker
        handled = 0
        try:
            entries = broker.hgetall(WIP)
            by_owner: dict[str, list[float]] = {}
            for key, (_started, expiry) in sorted(entries.items()):
                by_owner.setdefault(key.partition("|")[0], []).append(expiry)
            for name in sorted(by_owner):
                if max(by_owner[name]) > now:
                    continue
                for payload in broker.take_private(name):
                    broker.hdel(WIP, f"{name}|{payload['jid']}")
                    handled += self._abandon(payload, now)
        except BrokerError:
            pass
        return handled

    def _abandon(self, payload: Payload, now: float) -> int:
        system = self.system
        if system.lifecycle.get(payload["jid"]) != "processing":
            return 0              # a duplicate copy: the owner decides the job's fate
        assert isinstance(system.retry, RQRetry)
        system.retry.settle({**payload, "error_class": ABANDONED}, None, now, "abandoned")
        return 1


class StartedRegistryFetch:
    """Dequeue into the StartedJobRegistry; finishing removes the entry."""

    __slots__ = ("broker", "opts", "reliable", "selector", "worker")

    def __init__(self, worker: WorkerProcess, selector: OrderedSelector,
                 opts: RQOptions) -> None:
        self.worker = worker
        self.broker = worker.system.broker
        self.selector = selector
        self.opts = opts
        self.reliable = False

    def fetch(self) -> tuple[Payload, str] | None:
        queue = self.selector.choose(self.broker)
        if queue is None:
            return None
        name = owner(self.worker)
        payload = self.broker.pop_to_private(queue, name)
        if payload is None:
            return None
        now = self.worker.system.sim.env.now
        self.broker.hset(WIP, f"{name}|{payload['jid']}", [now, now + heartbeat_ttl(
            self.opts, 0.0)])
        return payload, queue

    def idle_lists(self) -> list[str]:
        """The queues a fetch pops from (system/idle.py): nothing is held outside them."""
        return list(self.selector.order)

    def acknowledge(self, payload: Payload) -> None:
        name = owner(self.worker)
        self.broker.ack(name, payload)
        self.broker.hdel(WIP, f"{name}|{payload['jid']}")


class WorkHorse(Processor):
    """Runs each job in a horse (its own simpy process) killed after ``job_timeout``."""

    __slots__ = ("horse", "lost")

    def __init__(self, worker: WorkerProcess, index: int) -> None:
        super().__init__(worker, index)
        self.horse: simpy.Process | None = None
        self.lost = False

    def execute(self, payload: Payload, queue: str) -> Generator[Any, Any, None]:
        system = self.worker.system
        env = system.sim.env
        horse = self.horse = env.process(self._horse(payload, queue))
        self.lost = False
        try:
            yield horse | env.timeout(system.flavor.opts.job_timeout)  # type: ignore[attr-defined]
        except simpy.Interrupt:
            if horse.is_alive:
                horse.interrupt("killed")
            raise
        if horse.is_alive:
            horse.interrupt(TIMEOUT)
            self._horse_failed(payload, TIMEOUT)
        elif self.lost:
            self._horse_failed(payload, HORSE_KILLED)
        self.horse = None

    def _horse(self, payload: Payload, queue: str) -> Generator[Any, Any, None]:
        try:
            yield from Processor.execute(self, payload, queue)
        except simpy.Interrupt:
            return

    def kill_horse(self) -> None:
        """The horse died under its job (an OOM kill): the worker lives on."""
        if self.horse is not None and self.horse.is_alive:
            self.lost = True
            self.horse.interrupt("killed")

    def _horse_failed(self, payload: Payload, error: str) -> None:
        """handle_job_failure: retried or failed like any failure; the entry goes."""
        system = self.worker.system
        jid = payload["jid"]
        dup = self.current[2] if self.current is not None else True
        prior = payload.get("retry_count")
        attempt = 1 if prior is None else prior + 2
        system.sim.record("failure", jid, error, attempt, int(dup))
        if not dup:
            exc = _JobTimeout() if error == TIMEOUT else _HorseKilled()
            system.retry.handle(payload, _class_of(system, payload), Job(), exc,
                                self.worker.now())
        self.worker.fetcher.acknowledge(payload)
        self.current = None


class _JobTimeout(Exception):
    """rq.timeouts.JobTimeoutException, as jobsim records it."""


_JobTimeout.__name__ = TIMEOUT


class _HorseKilled(Exception):
    """rq's "Work-horse terminated unexpectedly" (rq/worker/worker_classes.py)."""


_HorseKilled.__name__ = HORSE_KILLED


def _class_of(system: Any, payload: Payload) -> type[Job]:
    try:
        return system.library.resolve(payload["class"])
    except LookupError:
        return Job


class RQRetry(RetryHandler):
    """``Retry(max, interval)``, then the FailedJobRegistry."""

    def __init__(self, system: Any, opts: RQOptions) -> None:
        super().__init__(system)
        self.opts = opts
        self.schedule = backoff.policy("rq", max=opts.retry_max,
                                       interval=opts.retry_interval) if opts.retry_max else None

    def handle(self, payload: Payload, cls: type[Job], job: Job, exc: Exception,
               now: float) -> None:
        failed = {**payload, "error_class": type(exc).__name__}
        left = failed.get("retries_left", self.opts.retry_max)
        if left > 0 and self.budget is not None and not self.budget.allow_retry(
                getattr(job, "worker", None), exc):
            self.system.dead.kill(failed, "retry_budget", exc)   # the safeguard said no
            return
        self.settle(failed, exc, now, "failed")

    def settle(self, failed: Payload, exc: BaseException | None, now: float,
               reason: str) -> None:
        """Retry while retries are left, else keep the job in the FailedJobRegistry."""
        left = failed.get("retries_left", self.opts.retry_max)
        if left > 0 and self.schedule is not None:
            self._retry(failed, left, now)
        else:
            self.system.dead.kill(failed, reason, exc)

    def _retry(self, failed: Payload, left: int, now: float) -> None:
        system = self.system
        jid, queue = failed["jid"], failed["queue"]
        count = self.opts.retry_max - left
        assert self.schedule is not None
        delay = self.schedule.delay(count, self.rng)
        again = {**failed, "retries_left": left - 1, "retry_count": count}
        spec = self.schedule.spec()
        if delay:
            system.broker.zadd(RETRY, now + delay, again)
            system.lifecycle.move("retry", jid, count, delay, now + delay, spec,
                                  self.opts.retry_max)
        else:
            system.broker.push(queue, again)
            system.lifecycle.move("retry", jid, count, 0.0, now, spec, self.opts.retry_max)
            system.lifecycle.move("promote", jid, queue, "retry")
            system.notify(queue, 1)
        system.hooks.call_all(system.hooks.on_retry, again)


class RQScheduler(Poller):
    """rq's scheduler: due scheduled jobs and retries move to their queues every second."""

    def __init__(self, worker: WorkerProcess, every: float) -> None:
        super().__init__(worker)
        self.every = every

    def run(self) -> Generator[Any, Any, None]:
        timeout = self.worker.system.sim.env.timeout
        try:
            while True:
                self.enqueue_due()
                yield timeout(self.every)
        except simpy.Interrupt:
            return


RQFlavor.processor_class = WorkHorse
