"""The poller that moves due scheduled jobs and retries to their queues.

Every worker process runs one, as in Sidekiq. Its sleep averages ``I`` = 5 s x the
number of processes (or the configured average), so the cluster as a whole polls about
every 5 s: below 10 processes each sleep is U(0.5 I, 1.5 I), from 10 up U(0, 2 I). The
first poll comes after 10 + U(0, 5) s: 10 s for the heartbeats to register (the average
depends on the process count) and 5 random seconds so restarted clusters do not poll in
lockstep; with a configured average the 10 s are skipped (sidekiq 8.0.0,
lib/sidekiq/scheduled.rb, ``initial_wait``). A moved
job goes to the back of its queue; jobs move one at a time, as Sidekiq's Lua script does,
so a storage error mid-tick strands nothing. Due-ness is judged on this process's clock, so a
skewed process promotes early.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from jobsim.broker.base import RETRY, SCHEDULE, BrokerError

if TYPE_CHECKING:
    from jobsim.system.worker import WorkerProcess

SOURCES = ((SCHEDULE, "schedule", "scheduled"), (RETRY, "retry", "retrying"))
INITIAL_WAIT_S = 10.0     # Sidekiq's INITIAL_WAIT, unless poll_interval_average is set
INITIAL_SPREAD_S = 5.0


class Poller:
    def __init__(self, worker: WorkerProcess) -> None:
        self.worker = worker
        self.rng = worker.system.sim.streams[f"poll.{worker.id}"]

    def interval(self) -> float:
        cfg = self.worker.system.config
        average = cfg.poll_average
        if cfg.processes < 10:
            return self.rng.uniform(0.5 * average, 1.5 * average)
        return self.rng.uniform(0.0, 2.0 * average)

    def initial_wait(self) -> float:
        configured = self.worker.system.config.poll_interval_avg is not None
        return (0.0 if configured else INITIAL_WAIT_S) + self.rng.uniform(0.0, INITIAL_SPREAD_S)

    def run(self) -> Generator[Any, Any, None]:
        timeout = self.worker.system.sim.env.timeout
        try:
            yield timeout(self.initial_wait())
            while True:
                self.enqueue_due()
                yield timeout(self.interval())
        except simpy.Interrupt:
            return

    def enqueue_due(self) -> int:
        """Move everything due on this process's clock; returns how many moved."""
        system = self.worker.system
        broker, lifecycle, sim = system.broker, system.lifecycle, system.sim
        moved = 0
        try:
            for zset, source, state in SOURCES:
                while due := broker.pop_due(zset, self.worker.now(), 1):
                    payload = due[0]
                    queue, jid = payload["queue"], payload["jid"]
                    ready = {k: v for k, v in payload.items() if k != "at"}
                    ready["enqueued_at"] = sim.env.now
                    broker.push(queue, ready)
                    if lifecycle.get(jid) == state:
                        lifecycle.move("promote", jid, queue, source)
                    else:
                        sim.record("copy", jid, queue, source)
                    system.notify(queue, 1)
                    moved += 1
        except BrokerError:
            pass
        return moved
