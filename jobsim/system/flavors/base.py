"""A flavour: the mechanisms that make the reference system one job system or another.

Fetch, acknowledgement, retry scheduling, failure storage and recovery after a crash are
what differ between Sidekiq, Celery and RQ; the processor, the client, the lifecycle and
the history vocabulary are shared. A worker process asks its flavour for each piece once,
when it is built or started, so the per-job path has no flavour branching at all.

This base class is Sidekiq (the reference): basic or reliable fetch, the retry set with
Sidekiq's backoff, the dead set, and orphan recovery from private lists at start.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any

from jobsim.broker.base import Broker
from jobsim.system.fetch import Fetcher, QueueSelector
from jobsim.system.processor import Processor
from jobsim.system.retry import RetryHandler
from jobsim.system.scheduler import Poller

if TYPE_CHECKING:
    from jobsim.system.config import Capsule
    from jobsim.system.job import Job
    from jobsim.system.system import JobSystem
    from jobsim.system.worker import WorkerProcess

Daemon = Callable[[], Generator[Any, Any, None]]


class Flavor:
    """Sidekiq's mechanisms; Celery and RQ override the pieces that differ."""

    name = "sidekiq"
    processor_class: type[Processor] = Processor

    def __init__(self, system: JobSystem) -> None:
        self.system = system

    def retry_handler(self) -> RetryHandler:
        return RetryHandler(self.system)

    def selector(self, worker: WorkerProcess) -> Any:
        cfg = self.system.config
        rng = self.system.sim.streams[f"fetch.{worker.id}"]
        return QueueSelector(cfg.queue_spec, cfg.mode, rng)

    def fetcher(self, worker: WorkerProcess) -> Any:
        cfg = self.system.config
        return Fetcher(self.system.broker, self.selector(worker), worker.id,
                       cfg.fetch == "reliable")

    def capsule_fetcher(self, worker: WorkerProcess, capsule: Capsule) -> Fetcher:
        """A Sidekiq 7 capsule's fetcher: its own queue order and random stream, the
        process's fetch mode and private list (the scenario loader allows capsules only
        on this flavour)."""
        rng = self.system.sim.streams[f"fetch.{worker.id}.{capsule.name}"]
        return Fetcher(self.system.broker, QueueSelector(capsule.queue_spec, capsule.mode, rng),
                       worker.id, self.system.config.fetch == "reliable")

    def poller(self, worker: WorkerProcess) -> Poller:
        return Poller(worker)

    def on_start(self, worker: WorkerProcess) -> None:
        """Recovery when a process (re)starts: reliable fetch reclaims private lists."""
        if worker.fetcher.reliable:
            worker.recover_orphans()

    def on_stop(self, worker: WorkerProcess) -> None:
        """After a graceful stop's requeue: what else the process gives back."""

    def lose_child(self, worker: WorkerProcess, job: Job) -> None:
        """An OOM kill or segfault while ``job`` runs. Sidekiq runs jobs in threads of
        the process, so the whole process dies."""
        worker.crash()

    def daemons(self, worker: WorkerProcess) -> Iterable[Daemon]:
        """Extra per-process loops beyond the poller and the heartbeat."""
        return ()

    def at_rest(self) -> bool:
        """Nothing held where the runner's drain check does not look (queues, the
        schedule and retry sets and running jobs are checked there)."""
        return True

    def inventory(self, store: Broker) -> Iterable[tuple[str, str]]:
        """(jid, where) for jobs the flavour keeps outside queues, sets and private lists,
        read from ``store`` (the observer's direct read at the horizon)."""
        return ()
