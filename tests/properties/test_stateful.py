"""A stateful test: Hypothesis interleaves the world's actions (enqueue, advance time) with
the nemesis's (crash and restart a process, service and storage outages, duplicate
deliveries, replica lag) on one running job system, checking invariants after every step.

Safeguards on: reliable fetch and the ``constraint`` idempotency guard. Invariants as it
goes: every lifecycle move so far was legal; no once-only effect happened twice; every
job not yet finished is somewhere in storage or running on a live processor (nothing
lost, read from the store itself, not from the history).

At the end the nemesis heals everything and the system drains. A job may then still be
"processing" in the private list of a live process, but only if a storage outage hit
it after it started: its outcome could not be written, and, as with Sidekiq Pro's
super_fetch, it waits for its process to restart. So every process is then restarted
gracefully (a deploy), the system drains again, and every job must be terminal.
"""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from jobsim.broker.base import DEAD, RETRY, SCHEDULE
from jobsim.broker.memory import MemoryBroker
from jobsim.chaos.nemesis import faulty_connections
from jobsim.chaos.storage import StorageFaults
from jobsim.checks.registry import get
from jobsim.history.states import TERMINAL
from jobsim.shop import PLUGIN as SHOP
from jobsim.shop import install
from jobsim.sim.simulation import Simulation
from jobsim.system.client import PushError, PushTimeout
from jobsim.system.config import SystemConfig
from jobsim.system.library import JobLibrary
from jobsim.system.system import JobSystem
from jobsim.world.synthetic import SyntheticJob
from jobsim.world.world import World

from ._support import budget

PROCESSES = 2
RETRY_OPTIONS = {"retry": 2, "backoff": "exponential:base=1,cap=4,jitter=full"}
DRAIN_LIMIT_S = 3600.0
JOBS = {
    "email": ("NotificationDeliveryJob", {"campaign_id": 1}),
    "synthetic": ("SyntheticJob", {"dist": "fixed", "value": 0.5, "p_fail": 0.3}),
}


class JobSystemUnderChaos(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sim = sim = Simulation(seed=0)
        self.world = World(sim, {"db": {"replicas": 1}, "services": SHOP.services})
        install(self.world, {"idempotency": {"guard": "constraint"}})
        self.store = MemoryBroker()
        self.storage = StorageFaults()
        workers, client = faulty_connections(
            self.store, self.storage, sim.streams["chaos.storage"], sim.record,
            notify=lambda queue, n: self.system.notify(queue, n))
        config = SystemConfig(processes=PROCESSES, concurrency=2, fetch="reliable")
        self.system = JobSystem(sim, workers, config, self.world,
                                library=JobLibrary([*SHOP.jobs, SyntheticJob]))
        self.system.client.broker = client
        self.system.start()
        self.pushed = 0
        self.outages: list[list[float]] = []       # storage outage windows [on, off]

    # ---- the world ---------------------------------------------------------------
    @rule(kind=st.sampled_from(sorted(JOBS)), n=st.integers(1, 8))
    def enqueue(self, kind: str, n: int) -> None:
        name, params = JOBS[kind]
        cls = self.system.library.resolve(name)
        args = [cls.make_args(self.pushed + i, params) for i in range(n)]
        self.pushed += n
        with contextlib.suppress(PushError, PushTimeout):   # the application saw it fail
            self.system.client.push_bulk(cls, args, **RETRY_OPTIONS)

    @rule(seconds=st.integers(1, 60))
    def advance(self, seconds: int) -> None:
        self.sim.run(until=self.sim.now + seconds)

    # ---- the nemesis -------------------------------------------------------------
    @rule(worker=st.integers(0, PROCESSES - 1))
    def crash(self, worker: int) -> None:
        self.system.workers[worker].crash()

    @rule(worker=st.integers(0, PROCESSES - 1))
    def restart(self, worker: int) -> None:
        self.system.workers[worker].restart()

    @rule(mode=st.sampled_from(("error", "timeout")))
    def service_outage(self, mode: str) -> None:
        self.world.service("email").set_outage(mode, timeout_s=5.0)

    @rule()
    def service_heals(self) -> None:
        self.world.service("email").clear_outage()

    @precondition(lambda self: not self.storage.outage)
    @rule()
    def storage_outage(self) -> None:
        self.storage.outage = True
        self.outages.append([self.sim.now, float("inf")])

    @precondition(lambda self: self.storage.outage)
    @rule()
    def storage_heals(self) -> None:
        self.storage.outage = False
        self.outages[-1][1] = self.sim.now
        self.system.notify(None, PROCESSES * self.system.config.concurrency)

    @rule(rate=st.sampled_from((0.0, 0.2, 0.5)))
    def duplicate_delivery(self, rate: float) -> None:
        self.storage.duplicate_delivery_rate = rate

    @rule(lag=st.integers(0, 30))
    def replica_lag(self, lag: int) -> None:
        self.world.db.set_lag(0, float(lag))

    # ---- invariants ----------------------------------------------------------------
    @invariant()
    def lifecycle_is_legal(self) -> None:
        result = get("lifecycle")(self.sim.history)
        assert result.ok, result.examples

    @invariant()
    def no_duplicate_effects(self) -> None:
        result = get("idempotency")(self.sim.history)
        assert result.ok, result.examples

    @invariant()
    def unfinished_jobs_are_held(self) -> None:
        unfinished = {jid for jid, state in self.system.lifecycle.state.items()
                      if state not in TERMINAL}
        missing = unfinished - self._held() - self._running()
        assert not missing, f"not in storage and not running: {sorted(missing)[:5]}"

    def _held(self) -> set[str]:
        store = self.store
        held = {p["jid"] for q in store.queue_names() for p in store.queue_items(q)}
        held |= {p["jid"] for z in (SCHEDULE, RETRY, DEAD) for _, p in store.zitems(z)}
        held |= {p["jid"] for w in store.private_workers() for p in store.private_items(w)}
        return held

    def _running(self) -> set[str]:
        return {p.current[0]["jid"] for w in self.system.workers if w.alive
                for p in w.processors if p.current is not None}

    # ---- the end: heal, drain, liveness -------------------------------------------
    def teardown(self) -> None:
        if self.storage.outage:
            self.storage_heals()
        self.storage.duplicate_delivery_rate = 0.0
        self.world.service("email").clear_outage()
        self.world.db.set_lag(0, 0.0)
        for worker in self.system.workers:
            worker.restart()
        self._drain()
        unexplained = {jid: s for jid, s in self._unfinished().items()
                       if not self._hit_by_outage(jid)}
        assert not unexplained, f"stuck after healing, no outage to blame: {_few(unexplained)}"
        for worker in self.system.workers:           # a deploy rescues the orphans
            self.sim.run(until=worker.shutdown())
            worker.restart()
        self._drain()
        self.world.finish()
        self.system.inventory()
        history = self.sim.history
        for name in ("no_loss", "lifecycle", "idempotency"):
            result = get(name)(history)
            assert result.ok, (name, result.examples)
        stuck = self._unfinished()
        assert not stuck, f"not terminal after healing and a restart: {_few(stuck)}"

    def _drain(self) -> None:
        end = self.sim.now + DRAIN_LIMIT_S
        while self.sim.now < end and self._unfinished():
            self.sim.run(until=self.sim.now + 10.0)

    def _unfinished(self) -> dict[str, str]:
        return {jid: s for jid, s in self.system.lifecycle.state.items() if s not in TERMINAL}

    def _hit_by_outage(self, jid: str) -> bool:
        """A storage outage overlapped the job's last execution (its outcome was lost)."""
        starts = [ev[0] for ev in self.sim.history.events if ev[2] == jid and ev[1] == "start"]
        started = max(starts, default=float("inf"))
        return any(off >= started for _, off in self.outages)


def _few(items: dict[str, Any]) -> dict[str, Any]:
    return dict(list(items.items())[:5])


JobSystemUnderChaos.TestCase.settings = budget(60, stateful_step_count=50)
test_job_system_under_chaos = JobSystemUnderChaos.TestCase


def test_a_process_killed_before_its_first_step_runs_nothing() -> None:
    """The minimal sequence the state machine found: a crash right after start, and a
    restart in the same instant, must not let the killed threads fetch a job (it would
    sit in the live process's private list forever)."""
    machine = JobSystemUnderChaos()
    machine.enqueue("email", 1)
    machine.crash(0)
    machine.teardown()
