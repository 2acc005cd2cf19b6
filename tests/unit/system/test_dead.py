"""The dead set: trimming by age and size (recorded), death handlers, discards."""

from __future__ import annotations

from typing import Any

from jobsim.broker.base import DEAD, Payload
from jobsim.system import Job

from .conftest import Build, Events


class DeadNowJob(Job):
    retry = 0

    def perform(self, seconds: float = 0.0) -> Any:
        yield self.sleep(seconds)
        raise LookupError("gone")


class DeadNoRetryJob(DeadNowJob):
    retry = False


class DeadTwiceJob(DeadNowJob):
    retry = 2
    backoff = "exponential:base=1,cap=1"


class DeadOkJob(Job):
    def perform(self) -> Any:
        yield self.sleep(1)


class Recorder:
    """A death handler that remembers its calls."""

    __name__ = "recorder"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    def __call__(self, payload: Payload, exc: BaseException | None) -> None:
        self.calls.append((payload["jid"], type(exc).__name__ if exc else None))


def broken_handler(payload: Payload, exc: BaseException | None) -> None:
    raise ZeroDivisionError("handler bug")


def dead_jids(system: Any) -> list[str]:
    return [p["jid"] for _, p in system.broker.zitems(DEAD)]


def test_trim_by_age_on_add_is_recorded(build: Build, events: Events) -> None:
    sim, system = build(processes=1, concurrency=1, dead_timeout_s=100.0)
    old = system.client.perform_async(DeadNowJob)
    sim.run(until=50)
    assert dead_jids(system) == [old]
    sim.run(until=300)
    assert dead_jids(system) == [old]              # trimming happens only on add
    new = system.client.perform_async(DeadNowJob)
    sim.run(until=310)
    assert events(sim, "trim") == [(300, "trim", old, "age")]
    assert dead_jids(system) == [new]
    system.inventory()
    assert [e[2] for e in events(sim, "held")] == [new]


def test_trim_by_size_keeps_max_minus_one_newest(build: Build, events: Events) -> None:
    sim, system = build(start=False, processes=1, concurrency=1, dead_max_jobs=3)
    jids = system.client.push_bulk(DeadNowJob, [[1] for _ in range(6)])
    system.start()
    sim.run(until=100)
    assert [e[2] for e in events(sim, "dead")] == jids
    trims = events(sim, "trim")
    assert [(e[2], e[3]) for e in trims] == [(jid, "size") for jid in jids[:4]]
    assert [e[0] for e in trims] == [3, 4, 5, 6]   # each at the add that overflowed
    assert dead_jids(system) == jids[4:]
    assert system.broker.zsize(DEAD) == 2


def test_death_handlers_run_once_and_failures_are_swallowed(
        build: Build, events: Events) -> None:
    recorder = Recorder()
    sim, system = build(processes=1, concurrency=1,
                        death_handlers=[broken_handler, recorder])
    dying = system.client.perform_async(DeadTwiceJob)
    sim.run(until=200)
    survivor = system.client.perform_async(DeadOkJob)
    sim.run(until=300)
    assert events(sim, "death_handler") == [
        (events(sim, "dead", dying)[0][0], "death_handler", dying, "broken_handler", False,
         "ZeroDivisionError"),
        (events(sim, "dead", dying)[0][0], "death_handler", dying, "recorder", True, None),
    ]
    assert recorder.calls == [(dying, "LookupError")]
    assert len(events(sim, "start", dying)) == 3
    assert events(sim, "success", survivor) != []  # the processor carried on
    ((_, _, _, config),) = events(sim, "config")
    assert config["death_handlers"] == ["broken_handler", "recorder"]


def test_retry_false_discard_still_runs_handlers(build: Build, events: Events) -> None:
    recorder = Recorder()
    sim, system = build(processes=1, concurrency=1, death_handlers=[recorder])
    jid = system.client.perform_async(DeadNoRetryJob)
    sim.run(until=10)
    assert events(sim, "discard", jid) == [(0, "discard", jid, "retry_false")]
    assert [e[3:] for e in events(sim, "death_handler", jid)] == [("recorder", True, None)]
    assert recorder.calls == [(jid, "LookupError")]
    assert dead_jids(system) == []


def test_poison_death_runs_handlers_without_exception(build: Build, events: Events) -> None:
    recorder = Recorder()
    sim, system = build(processes=1, concurrency=1, fetch="reliable", death_handlers=[recorder])
    payload = {"jid": "j1", "class": "DeadOkJob", "args": [], "queue": "default",
               "retry": True, "recoveries": [1.0, 2.0, 3.0]}
    system.broker.push("default", payload)
    system.lifecycle.move("enqueue", "j1", "default", "DeadOkJob", True, True)
    system.broker.pop_to_private("default", "p0")
    system.lifecycle.move("start", "j1", "default", "p0", 1, 0)
    system.workers[0].crash()
    sim.run(until=5)
    system.workers[0].restart()
    assert events(sim, "dead", "j1") == [(5, "dead", "j1", "poison")]
    assert recorder.calls == [("j1", None)]
    assert dead_jids(system) == ["j1"]
