"""A processor: one of a worker process's ``concurrency`` threads, as a simpy generator.

Loop: fetch a job; if there is none, wait for a push or 2 s (Sidekiq's BRPOP timeout,
never a busy poll); otherwise run ``perform`` inline with ``yield from`` and settle the
outcome. A storage error while fetching or settling sleeps 1 s and carries on, as
Sidekiq's processor does. An interrupt (crash, shutdown) ends the loop: what happens to
the job in hand is the worker process's business (lost, requeued or orphaned).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from jobsim.broker.base import BrokerError, Payload

if TYPE_CHECKING:
    from jobsim.system.worker import WorkerProcess


class Processor:
    __slots__ = ("current", "fetcher", "index", "life", "process", "worker")

    def __init__(self, worker: WorkerProcess, index: int, fetcher: Any = None) -> None:
        """``fetcher``: its capsule's (Sidekiq 7); by default the process's own."""
        self.worker = worker
        self.index = index
        self.fetcher = worker.fetcher if fetcher is None else fetcher
        self.life = worker.generation      # a processor belongs to one life of its process
        self.current: tuple[Payload, str, bool] | None = None   # payload, queue, dup
        self.process: simpy.Process | None = None

    @property
    def busy(self) -> bool:
        return self.current is not None

    def run(self) -> Generator[Any, Any, None]:
        worker = self.worker
        system = worker.system
        fetcher = self.fetcher
        fetch = fetcher.fetch
        execute = self.execute
        wait = system.idle.wait
        error_sleep = system.config.fetch_error_sleep_s
        timeout = system.sim.env.timeout
        life = self.life
        try:
            # A process killed and restarted before this thread's first step must not
            # let it run: only threads of the current life fetch.
            while not worker.stopping and worker.generation == life:
                try:
                    got = fetch()
                    if got is None:
                        yield from wait(fetcher)      # system.wait_for_work, one call less
                        continue
                    yield from execute(*got)
                except BrokerError:
                    self.current = None
                    yield timeout(error_sleep)
        except simpy.Interrupt:
            pass
        system.idle.recheck()          # a wake this thread was given goes unused

    def execute(self, payload: Payload, queue: str) -> Generator[Any, Any, None]:
        """Run one job and settle it: success, or failure handed to the retry logic."""
        worker = self.worker
        system = worker.system
        sim = system.sim
        jid = payload["jid"]
        lifecycle = system.lifecycle
        prior = payload.get("retry_count")
        attempt = 1 if prior is None else prior + 2
        dup = lifecycle.state.get(jid) != "enqueued"
        self.current = (payload, queue, dup)
        if dup:
            sim.record("start", jid, queue, worker.id, attempt, 1)
        else:
            lifecycle.move("start", jid, queue, worker.id, attempt, 0)
        hooks = system.hooks           # the three this loop calls: none, no cost (hooks.py)
        if not (hooks.before_perform or hooks.after_perform or hooks.after_success):
            hooks = None
        if hooks is not None and not all(h(payload, worker.id) for h in hooks.before_perform):
            self.fetcher.acknowledge(payload)
            self.current = None
            return
        cls = job = None
        try:
            cls = system.library.resolve(payload["class"])
            args = payload["args"]
            job = cls()
            job.jid, job.args, job.attempt, job.worker = jid, args, attempt, worker.id
            job.sim, job.world, job.client, job.payload = sim, system.world, system.client, payload
            work = job.perform(*args)
            if work is not None:
                yield from work
        except simpy.Interrupt:
            raise
        except Exception as exc:
            sim.record("failure", jid, type(exc).__name__, attempt, int(dup))
            if hooks is not None:
                hooks.call_all(hooks.after_perform, payload, False)
            if not dup:
                system.retry.handle(payload, cls or _Unknown, job or _Unknown(), exc,
                                    worker.now())
        else:
            if dup:
                sim.record("success", jid, 1)
            else:
                lifecycle.move("success", jid, 0)
            if hooks is not None:
                hooks.call_all(hooks.after_perform, payload, True)
                if not dup:
                    hooks.call_all(hooks.after_success, payload)
        self.fetcher.acknowledge(payload)
        self.current = None


class _Unknown:
    """Stands in for a job class that could not be loaded, so the failure still retries."""

    retry = True
    dead = True
    backoff = "sidekiq"
    jitter = 0.0

    def retry_in(self, count: int, exc: BaseException) -> None:
        return None
