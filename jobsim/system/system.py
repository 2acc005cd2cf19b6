"""The reference job system, assembled: storage, client, worker processes, retries, dead set.

This is the object the chaos layer and the scenario runner hold. It knows nothing about
being tested: faults reach it only through its storage, its world and its processes.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from jobsim.broker.base import DEAD, RETRY, SCHEDULE, Broker
from jobsim.sim.simulation import Simulation
from jobsim.system.client import Client
from jobsim.system.config import SystemConfig
from jobsim.system.dead import DeadSet
from jobsim.system.flavors import build as build_flavor
from jobsim.system.hooks import Hooks
from jobsim.system.idle import IdleWaiters
from jobsim.system.library import JobLibrary
from jobsim.system.lifecycle import Lifecycle
from jobsim.system.worker import WorkerProcess


class JobSystem:
    def __init__(self, sim: Simulation, broker: Broker, config: SystemConfig | None = None,
                 world: Any = None, library: JobLibrary | None = None) -> None:
        self.sim = sim
        self.library = library if library is not None else JobLibrary()
        self.broker = broker
        self.config = config or SystemConfig()
        self.world = world
        self.lifecycle = Lifecycle(sim.record_fields)
        self.hooks = Hooks()
        self.client = Client(self)
        self.flavor = build_flavor(self)
        self.retry = self.flavor.retry_handler()
        self.dead = DeadSet(self)
        self.workers = [WorkerProcess(self, f"p{i}") for i in range(self.config.processes)]
        self._by_id = {w.id: w for w in self.workers}
        self.idle = IdleWaiters(sim.env, broker, self.config.idle_wait_s,
                                2 * self.config.processes * self.config.concurrency)
        self.inventory_sources: list[Any] = []   # extra holders (e.g. deferred jobs)

    @property
    def has_hooks(self) -> bool:
        return self.hooks.any()

    def start(self, record_config: dict[str, Any] | None = None) -> None:
        """Record the configuration, then start every worker process."""
        config = self.config.describe()
        config.update(record_config or {})
        self.sim.record("config", None, config)
        for worker in self.workers:
            worker.start()

    def process(self, wid: str) -> WorkerProcess:
        return self._by_id[wid]

    # ---- waking idle processors (BRPOP without blocking Redis) ---------------------
    def notify(self, queue: str | None, n: int = 1) -> None:
        """A push happened: wake up to ``n`` idle processors, longest-waiting first
        (system/idle.py)."""
        self.idle.notify(n, queue)

    def wait_for_work(self, fetcher: Any = None) -> Generator[Any, Any, None]:
        """Wait for a push, or the 2 s BRPOP timeout where it can be observed; called
        right after ``fetcher`` found nothing (system/idle.py)."""
        return self.idle.wait(fetcher)

    # ---- the final read (Jepsen's drain) -------------------------------------------
    def inventory(self, store: Broker | None = None) -> int:
        """Record ``horizon`` and one ``held`` event per job storage still holds.
        ``store``: read it directly (the observer's read, past the system's connection
        and its faults); by default the system's own connection."""
        record, broker = self.sim.record, store or self.broker
        record("horizon", None)
        held = 0
        for queue in broker.queue_names():
            for payload in broker.queue_items(queue):
                record("held", payload["jid"], f"queue:{queue}")
                held += 1
        for zset in (SCHEDULE, RETRY, DEAD):
            for _, payload in broker.zitems(zset):
                record("held", payload["jid"], zset)
                held += 1
        for worker in broker.private_workers():
            for payload in broker.private_items(worker):
                record("held", payload["jid"], f"private:{worker}")
                held += 1
        for jid, where in self.flavor.inventory(broker):
            record("held", jid, where)
            held += 1
        for source in self.inventory_sources:
            for jid, where in source():
                record("held", jid, where)
                held += 1
        return held
