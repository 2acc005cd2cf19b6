"""Processors: run jobs inline, never busy-poll, and wake at once on a push."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jobsim.broker import BrokerError, MemoryBroker
from jobsim.broker.base import RETRY, Payload
from jobsim.sim.simulation import Simulation
from jobsim.system import Job

from .conftest import Build, Events


class ProcTwoStepJob(Job):
    def perform(self, seconds: float) -> Any:
        yield self.sleep(seconds / 2)
        yield self.sleep(seconds / 2)


class ProcPlainJob(Job):
    """perform may be a plain function (no yield): it takes no simulated time."""

    def perform(self) -> None:
        return None


def count_steps(sim: Simulation) -> list[int]:
    """Count every event simpy processes from now on (Environment.run calls self.step)."""
    counter = [0]
    step = sim.env.step

    def counted() -> None:
        counter[0] += 1
        step()

    sim.env.step = counted  # type: ignore[method-assign]
    return counter


def idle_hour(build: Build, fault: bool) -> int:
    """Simpy steps of an hour in which 2 processes x 5 threads find nothing to do."""
    from jobsim.chaos.storage import FaultyBroker, StorageFaults

    sim = Simulation(seed=1)
    faults = StorageFaults()
    broker = FaultyBroker(MemoryBroker(), faults, sim.streams["chaos"], "workers")
    from jobsim.system import JobSystem, SystemConfig

    JobSystem(sim, broker, SystemConfig(processes=2, concurrency=5)).start()
    faults.duplicate_delivery_rate = 0.5      # acts only on a fetch that took a job
    faults.ambiguous_push_rate = 0.5 if fault else 0.0   # a push may wake nobody
    steps = count_steps(sim)
    sim.run(until=3600.0)
    return steps[0]


def test_idle_processors_cost_no_steps_while_nothing_can_be_observed(build: Build) -> None:
    waits = 2 * 5 * 3600.0 / 2.0            # one BRPOP timeout each 2 s per thread
    quiet = idle_hour(build, fault=False)
    assert quiet <= waits / 10               # heartbeats and pollers only
    # the negative control: with a storage fault on, a wake may fetch something
    # observable, and every thread wakes on its timeout again (but never busy-polls)
    faulty = idle_hour(build, fault=True)
    assert waits <= faulty <= 3 * waits


def test_push_wakes_an_idle_processor_at_the_same_instant(build: Build, events: Events) -> None:
    sim, system = build(processes=2, concurrency=3)

    def pusher() -> Any:
        yield sim.timeout(101.3)        # mid-way through everyone's 2 s wait
        system.client.perform_async(ProcTwoStepJob, 4)

    sim.process(pusher())
    sim.run(until=110)
    ((t, _, jid, queue, worker, attempt, dup),) = events(sim, "start")
    assert (t, queue, attempt, dup) == (101.3, "default", 1, 0)
    assert worker in ("p0", "p1")
    assert events(sim, "success", jid) == [(105.3, "success", jid, 0)]


def test_a_push_from_outside_the_simulation_wakes_too(build: Build, events: Events) -> None:
    sim, system = build(processes=1, concurrency=2)
    sim.run(until=7.25)
    jid = system.client.perform_async(ProcTwoStepJob, 1)
    sim.run(until=9)
    assert [e[0] for e in events(sim, "start", jid)] == [7.25]


def test_concurrency_bounds_parallel_jobs(build: Build, events: Events) -> None:
    sim, system = build(start=False, processes=2, concurrency=3)
    system.client.push_bulk(ProcTwoStepJob, [[10] for _ in range(12)])
    system.start()
    sim.run(until=100)
    starts = sorted(e[0] for e in events(sim, "start"))
    assert starts == [0] * 6 + [10] * 6               # 6 slots, each job takes 10 s
    assert len(events(sim, "success")) == 12


def test_plain_perform_succeeds_without_time(build: Build, events: Events) -> None:
    sim, system = build(processes=1, concurrency=1)
    sim.run(until=3)
    jid = system.client.perform_async(ProcPlainJob)
    sim.run(until=4)
    assert [e[0] for e in events(sim, "success", jid)] == [3]


def test_unknown_job_class_fails_and_retries(build: Build, events: Events) -> None:
    sim, system = build(processes=1, concurrency=1)
    system.broker.push("default", {"jid": "ghost", "class": "NoSuchJobAnywhere", "args": [],
                                   "queue": "default", "retry": True, "created_at": 0.0,
                                   "enqueued_at": 0.0})
    system.lifecycle.move("enqueue", "ghost", "default", "NoSuchJobAnywhere", True, True)
    sim.run(until=5)
    assert [e[3] for e in events(sim, "failure", "ghost")] == ["UnknownJob"]
    assert len(events(sim, "retry", "ghost")) == 1
    assert system.broker.zsize(RETRY) == 1


class FlakyBroker(MemoryBroker):
    """Fails every fetch (a pop, or the sizes a weighted fetch reads) until ``healthy_at``
    on the given clock."""

    def __init__(self, sim: Simulation, healthy_at: float) -> None:
        super().__init__()
        self.sim, self.healthy_at, self.failures = sim, healthy_at, 0

    def _flaky(self) -> None:
        if self.sim.now < self.healthy_at:
            self.failures += 1
            raise BrokerError("connection reset")

    def pop(self, queue: str) -> Payload | None:
        self._flaky()
        return super().pop(queue)

    def queue_sizes(self, queues: Sequence[str]) -> list[int]:
        self._flaky()
        return super().queue_sizes(queues)


def test_fetch_error_sleeps_then_carries_on(events: Events) -> None:
    from jobsim.system import JobSystem, SystemConfig

    sim = Simulation(seed=1)
    broker = FlakyBroker(sim, healthy_at=5.5)
    system = JobSystem(sim, broker, SystemConfig(processes=1, concurrency=1))
    system.client.perform_async(ProcTwoStepJob, 1)
    system.start()
    sim.run(until=20)
    assert broker.failures == 6           # t = 0..5, one attempt a second, never busy
    assert [e[0] for e in events(sim, "start")] == [6]
