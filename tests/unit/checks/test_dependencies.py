"""dependencies: order, release once, transitive cancel, stuck dependents at a drained end."""

from __future__ import annotations

from jobsim.checks.dependencies import check
from jobsim.history.history import History


def enq(t: float, jid: str) -> tuple:
    return (t, "enqueue", jid, "default", "Job", True, True)


def defer(t: float, jid: str, deps: list[str]) -> tuple:
    return (t, "defer", jid, "default", "Job", True, deps)


def run(t: float, jid: str, dup: int = 0) -> list[tuple]:
    return [(t, "start", jid, "default", "p0", 1, dup), (t + 0.5, "success", jid, dup)]


def die(t: float, jid: str) -> list[tuple]:
    return [(t, "start", jid, "default", "p0", 1, 0), (t, "failure", jid, "Boom", 1, 0),
            (t, "dead", jid, "exhausted")]


def cancel(t: float, jid: str, dep: str) -> tuple:
    return (t, "cancel", jid, "dependency died", dep)


def release(t: float, jid: str) -> tuple:
    return (t, "release", jid, "default")


def test_dependent_runs_after_its_dependency_holds() -> None:
    history = History([
        enq(0, "a"), defer(0, "d", ["a"]), *run(1, "a"), release(2, "d"), *run(3, "d"),
        (10, "horizon", None),
    ])
    result = check(history)
    assert result.ok, result.examples
    assert result.stats["dependents"] == 1
    assert result.stats["released"] == 1


def test_start_before_dependency_succeeded_and_double_release() -> None:
    history = History([
        enq(0, "a"), defer(0, "d", ["a"]),
        (0.5, "start", "d", "default", "p1", 1, 0),  # raced ahead of its dependency
        *run(1, "a"), (2, "success", "d", 0),
        defer(0, "e", ["a"]), release(2, "e"), release(2.1, "e"), *run(3, "e"),
    ])
    result = check(history)
    assert result.violations == 2
    assert result.stats["started_early"] == 1
    assert result.stats["released_twice"] == 1
    assert result.examples[0]["jid"] == "d"
    assert result.examples[0]["pending"] == ["a"]
    assert result.examples[1] == {"jid": "e", "t": 2.1, "what": "released twice"}


def test_dup_success_does_not_release() -> None:
    history = History([
        enq(0, "a"), defer(0, "d", ["a"]), *run(1, "a", dup=1), release(2, "d"),
    ])
    result = check(history)
    assert result.violations == 1
    assert result.stats["released_early"] == 1


def test_diamond_with_transitive_cancel_holds() -> None:
    history = History([
        enq(0, "a"), defer(0, "b", ["a"]), defer(0, "c", ["a"]), defer(0, "d", ["b", "c"]),
        *die(1, "a"), cancel(1, "b", "a"), cancel(1, "c", "a"), cancel(1, "d", "b"),
        (5, "horizon", None),
    ])
    result = check(history)
    assert result.ok, result.examples
    assert result.stats["canceled"] == 3


def test_diamond_missing_transitive_cancel_is_a_violation() -> None:
    history = History([
        enq(0, "a"), defer(0, "b", ["a"]), defer(0, "c", ["a"]), defer(0, "d", ["b", "c"]),
        *die(1, "a"), cancel(1, "b", "a"), cancel(1, "c", "a"),
        (5, "horizon", None),
    ])
    result = check(history)
    assert result.violations == 1
    assert result.stats["not_canceled"] == 1
    assert result.examples[0]["jid"] == "d"
    assert result.examples[0]["failed_deps"] == ["b", "c"]


def test_diamond_release_before_second_parent_is_early() -> None:
    history = History([
        enq(0, "a"), defer(0, "b", ["a"]), defer(0, "c", ["a"]), defer(0, "d", ["b", "c"]),
        *run(1, "a"), release(2, "b"), release(2, "c"), *run(3, "b"),
        release(3.1, "d"),  # c has not succeeded yet
        *run(4, "c"), *run(5, "d"),
    ])
    result = check(history)
    assert result.violations == 1
    assert result.stats["released_early"] == 1
    assert result.examples[0]["pending"] == ["c"]


def test_stuck_dependent_only_when_the_run_drained() -> None:
    events = [enq(0, "a"), defer(0, "d", ["a"]), *run(1, "a"), (9, "horizon", None)]
    result = check(History(events))
    assert result.violations == 1
    assert result.stats["stuck"] == 1
    assert result.examples[0]["what"] == "stuck deferred"
    busy = History([enq(0, "x"), *events])  # x still enqueued: the release may be pending
    assert check(busy).ok
    no_horizon = History(events[:-1])
    assert check(no_horizon).ok
