"""Client: payload fields, scheduling, bulk pushes, and JSON-native argument checks."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from jobsim.broker import BrokerError, MemoryBroker
from jobsim.broker.base import SCHEDULE, Payload
from jobsim.sim.simulation import Simulation
from jobsim.system import ArgumentError, Job, JobSystem, PushError, PushTimeout

from .conftest import Build, Events


class ClientEmailJob(Job):
    queue = "mailers"
    retry = 7

    def perform(self, *args: Any) -> Any:
        yield self.sleep(1)


def test_perform_async_payload_and_event(build: Build, events: Events) -> None:
    sim, system = build(start=False)
    sim.run(until=12.5)
    jid = system.client.perform_async(ClientEmailJob, 1, "two", [3.5], {"k": None})
    assert jid is not None and re.fullmatch(r"[0-9a-f]{24}", jid)
    (payload,) = system.broker.queue_items("mailers")
    assert payload == {
        "jid": jid, "class": "ClientEmailJob", "args": [1, "two", [3.5], {"k": None}],
        "queue": "mailers", "retry": 7, "created_at": 12.5, "enqueued_at": 12.5,
    }
    assert events(sim, "enqueue") == [
        (12.5, "enqueue", jid, "mailers", "ClientEmailJob", 7, True,
         [1, "two", [3.5], {"k": None}])]
    assert system.lifecycle.get(jid) == "enqueued"


def test_per_push_options_override_class_options(build: Build) -> None:
    _, system = build(start=False)
    system.client.perform_async(ClientEmailJob, queue="critical", retry=False)
    (payload,) = system.broker.queue_items("critical")
    assert payload["queue"] == "critical" and payload["retry"] is False
    assert system.broker.queue_size("mailers") == 0


def test_jids_are_unique_and_seeded(build: Build) -> None:
    _, first = build(seed=3, start=False)
    _, again = build(seed=3, start=False)
    _, other = build(seed=4, start=False)
    jids = [first.client.perform_async(ClientEmailJob) for _ in range(50)]
    assert len(set(jids)) == 50
    assert jids == [again.client.perform_async(ClientEmailJob) for _ in range(50)]
    assert jids != [other.client.perform_async(ClientEmailJob) for _ in range(50)]


@pytest.mark.parametrize("how", ["perform_in", "perform_at"])
def test_scheduled_push_goes_to_schedule_set(build: Build, events: Events, how: str) -> None:
    sim, system = build(start=False)
    sim.run(until=5)
    if how == "perform_in":
        jid = system.client.perform_in(30, ClientEmailJob, 1)
    else:
        jid = system.client.perform_at(35, ClientEmailJob, 1)
    assert system.broker.queue_size("mailers") == 0
    ((score, payload),) = system.broker.zitems(SCHEDULE)
    assert score == 35 and payload["at"] == 35 and payload["created_at"] == 5
    assert "enqueued_at" not in payload
    assert events(sim, "schedule") == [
        (5, "schedule", jid, "mailers", "ClientEmailJob", 7, True, 35, [1])]
    assert events(sim, "enqueue") == []
    assert system.lifecycle.get(jid) == "scheduled"


def test_perform_at_in_the_past_enqueues_now(build: Build, events: Events) -> None:
    sim, system = build(start=False)
    sim.run(until=50)
    jid = system.client.perform_at(10, ClientEmailJob)
    assert system.broker.zsize(SCHEDULE) == 0
    (payload,) = system.broker.queue_items("mailers")
    assert payload["enqueued_at"] == 50 and "at" not in payload
    assert [e[2] for e in events(sim, "enqueue")] == [jid]


def test_push_bulk_keeps_order_and_records_each(build: Build, events: Events) -> None:
    sim, system = build(start=False)
    jids = system.client.push_bulk(ClientEmailJob, [[i] for i in range(20)])
    assert len(set(jids)) == 20
    queued = system.broker.queue_items("mailers")
    assert [p["jid"] for p in queued] == jids          # FIFO: first pushed, first popped
    assert [p["args"] for p in queued] == [[i] for i in range(20)]
    assert [e[2] for e in events(sim, "enqueue")] == jids
    assert system.client.push_bulk(ClientEmailJob, []) == []


def test_push_bulk_with_at_schedules_each(build: Build, events: Events) -> None:
    sim, system = build(start=False)
    jids = system.client.push_bulk(ClientEmailJob, [[1], [2]], at=100)
    assert sorted(p["jid"] for _, p in system.broker.zitems(SCHEDULE)) == sorted(jids)
    assert [e[2] for e in events(sim, "schedule")] == jids


class _Opaque:
    pass


BAD_ARGS: list[tuple[list[Any], str]] = [
    ([(1, 2)], "args[0]"),
    ([1, {3}], "args[1]"),
    ([_Opaque()], "args[0]"),
    ([math.nan], "args[0]"),
    ([1, 2, math.inf], "args[2]"),
    ([{1: "one"}], "args[0]"),
    ([{"a": [1, {"b": (2,)}]}], "args[0]['a'][1]['b']"),
    ([[[b"bytes"]]], "args[0][0][0]"),
]


@pytest.mark.parametrize(("args", "path"), BAD_ARGS)
def test_non_json_arguments_rejected_naming_class_and_path(
        build: Build, args: list[Any], path: str) -> None:
    sim, system = build(start=False)
    with pytest.raises(ArgumentError) as caught:
        system.client.perform_async(ClientEmailJob, *args)
    assert "ClientEmailJob" in str(caught.value)
    assert path in str(caught.value)
    assert system.broker.queue_size("mailers") == 0
    assert len(sim.history) == 0


def test_bad_argument_rejects_whole_bulk(build: Build) -> None:
    sim, system = build(start=False)
    with pytest.raises(ArgumentError, match=re.escape("args[0]")):
        system.client.push_bulk(ClientEmailJob, [[1], [(2,)], [3]])
    assert system.broker.queue_size("mailers") == 0
    assert len(sim.history) == 0


def test_json_native_arguments_accepted(build: Build) -> None:
    _, system = build(start=False)
    args = [None, True, 0, -1.5, "x", [], {}, {"a": [1, {"b": None}]}]
    system.client.perform_async(ClientEmailJob, *args)
    assert system.broker.queue_items("mailers")[0]["args"] == args


def test_repush_of_a_known_jid_is_a_copy(build: Build, events: Events) -> None:
    sim, system = build(start=False)
    jid = system.client.perform_async(ClientEmailJob, 1)
    assert system.client.perform_async(ClientEmailJob, 1, jid=jid) == jid
    assert [e[1:] for e in sim.history if e[2] == jid] == [
        ("enqueue", jid, "mailers", "ClientEmailJob", 7, True, [1]),
        ("copy", jid, "mailers", "repush"),
    ]
    assert [p["jid"] for p in system.broker.queue_items("mailers")] == [jid, jid]
    assert system.lifecycle.get(jid) == "enqueued"


class RefusingBroker(MemoryBroker):
    """Every push fails; ``ambiguous`` says whether the client can know the outcome."""

    def __init__(self, ambiguous: bool) -> None:
        super().__init__()
        self.ambiguous = ambiguous

    def push(self, queue: str, payload: Payload) -> None:
        if self.ambiguous:
            super().push(queue, payload)          # applied, but the reply was lost
        error = BrokerError("connection reset")
        error.ambiguous = self.ambiguous  # type: ignore[attr-defined]
        raise error


def test_push_timeout_is_recorded_unacknowledged(events: Events) -> None:
    sim = Simulation(seed=1)
    system = JobSystem(sim, RefusingBroker(ambiguous=True))
    with pytest.raises(PushTimeout) as caught:
        system.client.perform_async(ClientEmailJob, 1)
    jid = caught.value.jid
    assert events(sim, "enqueue") == [
        (0, "enqueue", jid, "mailers", "ClientEmailJob", 7, False, [1])]
    assert system.broker.queue_size("mailers") == 1


def test_refused_push_is_recorded_as_failed(events: Events) -> None:
    sim = Simulation(seed=1)
    system = JobSystem(sim, RefusingBroker(ambiguous=False))
    with pytest.raises(PushError):
        system.client.perform_async(ClientEmailJob, 1)
    ((_, kind, _, queue, cls, error),) = list(sim.history)
    assert (kind, queue, cls, error) == ("enqueue_failed", "mailers", "ClientEmailJob",
                                         "BrokerError")
    assert events(sim, "enqueue") == []
