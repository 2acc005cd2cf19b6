"""The lifecycle state machine: every event, illegal moves raise at once, guards."""

from __future__ import annotations

from typing import Any

import pytest

from jobsim.history.events import FIELDS, STATE_OF
from jobsim.history.history import History
from jobsim.history.states import STATES, TERMINAL, TRANSITIONS, is_legal
from jobsim.system import Job
from jobsim.system.lifecycle import IllegalTransition, Lifecycle

from .conftest import Build, Events

# fields per event kind (values only need the right arity; retry's must pass the guards)
SAMPLE_FIELDS: dict[str, tuple[Any, ...]] = {
    "retry": (0, 15.0, 15.0, "sidekiq", 25),
    **{kind: tuple(f"v{i}" for i in range(len(FIELDS[kind])))
       for kind in STATE_OF if kind != "retry"},
}

# a known path of events from a new job into each state
PATH_TO: dict[str | None, list[str]] = {
    None: [],
    "scheduled": ["schedule"],
    "enqueued": ["enqueue"],
    "deferred": ["defer"],
    "processing": ["enqueue", "start"],
    "retrying": ["enqueue", "start", "retry"],
    "succeeded": ["enqueue", "start", "success"],
    "dead": ["dead"],
    "discarded": ["enqueue", "discard"],
    "canceled": ["defer", "cancel"],
}


class LifecycleSleepJob(Job):
    def perform(self) -> Any:
        yield self.sleep(5)


def fresh() -> tuple[Lifecycle, History]:
    history = History()
    return Lifecycle(lambda kind, jid, f: history.append(0.0, kind, jid, *f)), history


def drive(lifecycle: Lifecycle, jid: str, state: str | None) -> None:
    for kind in PATH_TO[state]:
        lifecycle.move(kind, jid, *SAMPLE_FIELDS[kind])
    assert lifecycle.get(jid) == state


def test_paths_cover_every_state() -> None:
    assert set(PATH_TO) == set(TRANSITIONS) == {None, *STATES}


@pytest.mark.parametrize("current", list(PATH_TO))
@pytest.mark.parametrize("kind", sorted(STATE_OF))
def test_every_event_from_every_state(current: str | None, kind: str) -> None:
    lifecycle, history = fresh()
    drive(lifecycle, "j", current)
    before = len(history)
    if is_legal(current, STATE_OF[kind]):
        lifecycle.move(kind, "j", *SAMPLE_FIELDS[kind])
        assert lifecycle.get("j") == STATE_OF[kind]
        assert history.events[-1] == (0.0, kind, "j", *SAMPLE_FIELDS[kind])
    else:
        with pytest.raises(IllegalTransition, match=f"{kind} cannot move {current}"):
            lifecycle.move(kind, "j", *SAMPLE_FIELDS[kind])
        assert lifecycle.get("j") == current
        assert len(history) == before              # nothing recorded for a refused move


def test_terminal_states_accept_nothing() -> None:
    for state in TERMINAL:
        lifecycle, _ = fresh()
        drive(lifecycle, "j", state)
        assert lifecycle.is_terminal("j")
        for kind in STATE_OF:
            with pytest.raises(IllegalTransition):
                lifecycle.move(kind, "j", *SAMPLE_FIELDS[kind])


@pytest.mark.parametrize(("fields", "why"), [
    ((3, 10.0, 10.0, "sidekiq", 3), "exceeds max_retries=3"),
    ((0, 1.0, 1.0, "sidekiq", 0), "exceeds max_retries=0"),
    ((1, -0.5, -0.5, "custom", 5), "negative retry delay"),
])
def test_retry_guards_refuse(fields: tuple[Any, ...], why: str) -> None:
    lifecycle, history = fresh()
    drive(lifecycle, "j", "processing")
    with pytest.raises(IllegalTransition, match=why):
        lifecycle.move("retry", "j", *fields)
    assert lifecycle.get("j") == "processing" and history.events[-1][1] == "start"


def test_retry_guard_allows_the_last_retry_and_zero_delay() -> None:
    lifecycle, _ = fresh()
    drive(lifecycle, "j", "processing")
    lifecycle.move("retry", "j", 2, 0.0, 0.0, "custom", 3)
    assert lifecycle.get("j") == "retrying"


def test_counts_per_state() -> None:
    lifecycle, _ = fresh()
    for i, state in enumerate(["enqueued", "enqueued", "dead", "succeeded"]):
        drive(lifecycle, f"j{i}", state)
    assert lifecycle.counts() == {"enqueued": 2, "dead": 1, "succeeded": 1}


def test_illegal_move_in_a_running_system_stops_the_run_at_once(
        build: Build, events: Events) -> None:
    sim, system = build(processes=1, concurrency=1)
    sim.run(until=2)
    jid = system.client.perform_async(LifecycleSleepJob)

    def buggy() -> Any:
        yield sim.timeout(1)
        system.lifecycle.move("schedule", jid, "default", "LifecycleSleepJob", True, True, 9.0)

    sim.process(buggy())
    with pytest.raises(IllegalTransition, match="processing -> scheduled"):
        sim.run(until=100)
    assert sim.now == 3
    assert [e[1] for e in sim.history if e[2] == jid] == ["enqueue", "start"]


def test_a_run_history_replays_legally(build: Build) -> None:
    """Every state-changing event the system wrote is legal from the replayed state."""
    sim, system = build(processes=1, concurrency=2, fetch="reliable")
    system.client.push_bulk(LifecycleSleepJob, [[] for _ in range(6)])
    system.client.perform_in(20, LifecycleSleepJob)
    sim.run(until=2)
    system.workers[0].crash()
    system.workers[0].restart()
    sim.run(until=100)
    state: dict[str, str] = {}
    for event in sim.history:
        kind, jid = event[1], event[2]
        if kind in STATE_OF and not (kind in ("start", "success") and event[-1] == 1):
            assert is_legal(state.get(jid), STATE_OF[kind]), event
            state[jid] = STATE_OF[kind]
    assert state == system.lifecycle.state
    assert set(state.values()) == {"succeeded"}
    assert sum(1 for _ in sim.history.of_kind("recover")) == 2
