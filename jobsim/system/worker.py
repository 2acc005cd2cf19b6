"""A worker process: ``concurrency`` processors (and each capsule's), a poller, a
heartbeat, and its faults.

The chaos layer reaches a process only through the methods a real one has signals for:
``crash`` (SIGKILL: in-flight work vanishes; the OS frees its resources), ``shutdown``
(TERM: stop fetching, wait up to the timeout, push unfinished jobs back to the FRONT of
their queues, stop) and ``start``/``restart``. With reliable fetch a starting process
reclaims its own private list (left by its previous life) and, at most once a minute
across the cluster, the lists of processes whose heartbeat is older than 60 s. A job
recovered more than 3 times in 72 h goes to the dead set as poison.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from jobsim.broker.base import BrokerError, Payload

if TYPE_CHECKING:
    from jobsim.system.system import JobSystem

PROCESSES_KEY = "processes"          # hash: worker id -> last heartbeat (sim seconds)
META_KEY = "jobsim:meta"             # hash: cluster-wide bookkeeping
HEARTBEAT_TTL_S = 60.0


class WorkerProcess:
    def __init__(self, system: JobSystem, wid: str) -> None:
        self.system = system
        self.id = wid
        self.skew = 0.0                 # clock skew fault: this process's clock runs ahead
        self.alive = False
        self.stopping = False
        self.generation = 0             # one per start: a stale shutdown must not touch a new life
        flavor = system.flavor
        self.fetcher = flavor.fetcher(self)
        # Sidekiq 7 capsules beside the default one: (threads, their fetcher) each.
        self.capsules = [(c.concurrency, flavor.capsule_fetcher(self, c))
                         for c in system.config.capsules]
        self.processors: list[Any] = []
        self._daemons: list[simpy.Process] = []
        self.poller = flavor.poller(self)

    def now(self) -> float:
        """This process's clock (skewed by a clock-skew fault)."""
        return self.system.sim.env.now + self.skew

    # ---- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        if self.alive:
            return
        self.alive, self.stopping = True, False
        self.generation += 1
        env = self.system.sim.env
        self._beat()
        flavor = self.system.flavor
        flavor.on_start(self)
        make = flavor.processor_class
        self.processors = [make(self, i) for i in range(self.system.config.concurrency)]
        for threads, fetcher in self.capsules:
            first = len(self.processors)
            self.processors += [make(self, i, fetcher) for i in range(first, first + threads)]
        for p in self.processors:
            p.process = env.process(p.run())
        self._daemons = [env.process(self.poller.run()), env.process(self._heartbeat())]
        self._daemons += [env.process(daemon()) for daemon in flavor.daemons(self)]

    def restart(self) -> None:
        if not self.alive:
            self.system.sim.record("restart", None, self.id)
            self.start()

    def crash(self) -> None:
        """SIGKILL: everything stops mid-step; nothing is acknowledged or requeued."""
        if not self.alive:
            return
        self.alive = False
        self.stopping = True
        self.system.sim.record("crash", None, self.id)
        own = self._interrupt_all("crash")
        free = getattr(self.system.world, "free_process", None)
        if free is not None:
            free(self.id)
        if own:  # called from one of our own processors (Job.crash_process): unwind it
            raise simpy.Interrupt("crash")

    def shutdown(self, timeout: float | None = None) -> simpy.Process:
        """TERM; returns a process that ends when this one has stopped."""
        return self.system.sim.env.process(self._shutdown(timeout))

    def _shutdown(self, timeout: float | None) -> Generator[Any, Any, None]:
        sim = self.system.sim
        timeout = self.system.config.shutdown_timeout if timeout is None else timeout
        if not self.alive:
            return
        life = self.generation
        sim.record("shutdown", None, self.id, timeout)
        self.stopping = True
        for daemon in self._daemons:
            if daemon.is_alive:
                daemon.interrupt("stop")
        for p in self.processors:
            if not p.busy and p.process is not None and p.process.is_alive:
                p.process.interrupt("stop")
        busy = [p.process for p in self.processors if p.busy and p.process is not None]
        if busy:
            yield sim.env.all_of(busy) | sim.env.timeout(timeout)
        if not self.alive or self.generation != life:   # killed (and maybe restarted) meanwhile
            return
        self._requeue_unfinished()
        self.system.flavor.on_stop(self)
        self.alive = False
        sim.record("stop", None, self.id)

    def _requeue_unfinished(self) -> None:
        """Push still-running jobs back to the front of their queues, then kill them."""
        system = self.system
        for p in self.processors:
            if p.current is None or p.process is None or not p.process.is_alive:
                continue
            payload, queue, dup = p.current
            p.current = None
            try:
                system.broker.push_front(queue, payload)
                p.fetcher.acknowledge(payload)
            except BrokerError:
                pass  # reliable fetch keeps it in the private list; basic loses it
            else:
                if dup:
                    system.sim.record("copy", payload["jid"], queue, "requeue")
                else:
                    system.lifecycle.move("requeue", payload["jid"], queue, self.id)
                system.notify(queue, 1)
            p.process.interrupt("kill")

    def _interrupt_all(self, cause: str) -> bool:
        """Interrupt our live processes; True when the caller is one of them, which simpy
        cannot interrupt (no self-interrupts), so it must unwind by itself."""
        active = self.system.sim.env.active_process
        own = False
        for proc in [p.process for p in self.processors] + self._daemons:
            if proc is active and proc is not None:
                own = True
            elif proc is not None and proc.is_alive:
                proc.interrupt(cause)
        return own

    # ---- heartbeat and orphans ----------------------------------------------------
    def _beat(self) -> None:
        with contextlib.suppress(BrokerError):
            self.system.broker.hset(PROCESSES_KEY, self.id, self.system.sim.env.now)

    def _heartbeat(self) -> Generator[Any, Any, None]:
        timeout = self.system.sim.env.timeout
        every = self.system.config.heartbeat_s
        try:
            while True:
                yield timeout(every)
                self._beat()
        except simpy.Interrupt:
            return

    def recover_orphans(self) -> None:
        """Move jobs from dead processes' private lists back to their queues."""
        system = self.system
        broker, now = system.broker, system.sim.env.now
        try:
            owners = [self.id]          # our own list is ours to reclaim at every start
            last = broker.hget(META_KEY, "orphan_check")
            if last is None or now - last >= system.config.orphan_check_every_s:
                broker.hset(META_KEY, "orphan_check", now)
                beats = broker.hgetall(PROCESSES_KEY)
                owners += [w for w in broker.private_workers() if w != self.id and (
                    beats.get(w) is None or now - beats[w] > HEARTBEAT_TTL_S)]
            for owner in owners:
                for payload in broker.take_private(owner):
                    self._recover(payload, owner, now)
        except BrokerError:
            return

    def _recover(self, payload: Payload, owner: str, now: float) -> None:
        system = self.system
        cfg = system.config
        window = [t for t in payload.get("recoveries", []) if now - t < cfg.poison_window_s]
        window.append(now)
        recovered = {**payload, "recoveries": window}
        jid, queue = payload["jid"], payload["queue"]
        owned = system.lifecycle.get(jid) == "processing"
        if len(window) > cfg.poison_recoveries and owned:
            system.dead.kill(recovered, "poison", None)
            return
        system.broker.push(queue, recovered)
        if owned:
            system.lifecycle.move("recover", jid, queue, owner, len(window))
        else:
            system.sim.record("copy", jid, queue, "recovered")
        system.notify(queue, 1)
