"""The nemesis: applies a schedule of faults and records when each starts and ends.

Like Jepsen's nemesis, it writes its own log into the history (``fault_start``,
``fault_end``, and ``copy`` for jobs that its faults duplicated), so a checker can tell
what the system suffered from what the system did.
"""

from __future__ import annotations

import random
from collections.abc import Generator
from typing import Any

from jobsim.broker.base import Broker
from jobsim.chaos.faults import ChaosContext, Fault, RedisFailover
from jobsim.chaos.storage import FaultyBroker, StorageFaults


def faulty_connections(store: Broker, faults: StorageFaults, rng: random.Random,
                       record: Any, notify: Any = None) -> tuple[FaultyBroker, FaultyBroker]:
    """The workers' and the application's connections to one store."""

    def on_duplicate(jid: str, queue: str) -> None:
        record("copy", jid, queue, "redelivery")
        if notify is not None:
            notify(queue, 1)

    workers = FaultyBroker(store, faults, rng, "workers", on_duplicate)
    client = FaultyBroker(store, faults, rng, "client")
    return workers, client


class Nemesis:
    def __init__(self, ctx: ChaosContext, faults: list[Fault]) -> None:
        self.ctx = ctx
        self.faults = sorted(faults, key=lambda f: (f.start, f.kind))

    def start(self) -> None:
        env = self.ctx.sim.env
        for fault in self.faults:
            env.process(self._drive(fault))
            if isinstance(fault, RedisFailover):
                env.process(self._snapshot(fault))

    def _drive(self, fault: Fault) -> Generator[Any, Any, None]:
        env, record = self.ctx.sim.env, self.ctx.sim.record
        yield env.timeout(max(0.0, fault.start - env.now))
        params = {k: v for k, v in fault.params.items() if v is not None}
        record("fault_start", None, fault.kind, fault.target, params)
        before = self._queued_jids() if isinstance(fault, RedisFailover) else None
        yield from fault.run(self.ctx)
        if before is not None:
            self._record_resurrected(before)
        record("fault_end", None, fault.kind, fault.target)

    def _snapshot(self, fault: RedisFailover) -> Generator[Any, Any, None]:
        env = self.ctx.sim.env
        yield env.timeout(max(0.0, fault.snapshot_at() - env.now))
        self.ctx.snapshots[id(fault)] = self.ctx.store.snapshot()

    def _queued_jids(self) -> set[str]:
        store = self.ctx.store
        return {p["jid"] for q in store.queue_names() for p in store.queue_items(q)}

    def _record_resurrected(self, before: set[str]) -> None:
        """Jobs the rollback put back into a queue are copies: say so in the history."""
        store, record = self.ctx.store, self.ctx.sim.record
        for queue in store.queue_names():
            for payload in store.queue_items(queue):
                if payload["jid"] not in before:
                    record("copy", payload["jid"], queue, "failover")
