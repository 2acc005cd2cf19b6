"""no_loss: acknowledged jobs end terminal, are held at the horizon, or are still running."""

from __future__ import annotations

from jobsim.checks.no_loss import check
from jobsim.history.history import History


def enq(t: float, jid: str, ack: bool = True) -> tuple:
    return (t, "enqueue", jid, "default", "Job", True, ack)


def start(t: float, jid: str, worker: str = "p0", dup: int = 0, attempt: int = 1) -> tuple:
    return (t, "start", jid, "default", worker, attempt, dup)


def ok(t: float, jid: str, dup: int = 0) -> tuple:
    return (t, "success", jid, dup)


def test_every_job_accounted_for_holds() -> None:
    history = History([
        enq(0, "a"), start(1, "a"), ok(2, "a"),
        (0, "schedule", "b", "default", "Job", True, True, 5.0),
        (5, "promote", "b", "default", "schedule"), start(6, "b"),
        (7, "failure", "b", "Boom", 1, 0), (7, "retry", "b", 0, 15.0, 22.0, "sidekiq", 25),
        (22, "promote", "b", "default", "retry"), start(23, "b", attempt=2), ok(24, "b"),
        enq(0, "c"), start(1, "c", "p1"), (2, "failure", "c", "Boom", 1, 0),
        (2, "dead", "c", "exhausted"),
        (0, "defer", "d", "default", "Job", True, ["a"]), (2, "release", "d", "default"),
        start(3, "d"), ok(4, "d"),
        enq(30, "e"), start(31, "e", "p1"),  # still running at the horizon
        enq(30, "f"),
        (40, "horizon", None), (40, "held", "f", "queue:default"),
    ])
    result = check(history)
    assert result.ok, result.examples
    assert result.stats["terminal"]["succeeded"] == 3
    assert result.stats["terminal"]["dead"] == 1
    assert result.stats["in_flight"] == 2  # e running, f held in its queue
    assert result.stats["enqueued"] == 6


def test_released_job_that_vanished_is_lost() -> None:
    history = History([
        (0, "defer", "d", "default", "Job", True, ["a"]), (2, "release", "d", "default"),
        (9, "horizon", None),
    ])
    result = check(history)
    assert result.violations == 1
    assert result.examples[0]["jid"] == "d"


def test_basic_fetch_crash_and_dropped_write_are_lost() -> None:
    history = History([
        enq(0, "a"), start(1, "a", "p0"), (2, "crash", None, "p0"), (3, "restart", None, "p0"),
        enq(0, "b"),  # acknowledged, then the write vanished in a failover
        enq(0, "c"),
        (10, "horizon", None), (10, "held", "c", "queue:default"),
    ])
    result = check(history)
    assert not result.ok
    assert result.violations == 2
    assert result.stats["lost"] == 2
    assert {e["jid"] for e in result.examples} == {"a", "b"}
    assert next(e for e in result.examples if e["jid"] == "a")["worker"] == "p0"


def test_without_horizon_only_crashed_unrecovered_starts_are_lost() -> None:
    history = History([
        enq(0, "a"), start(1, "a", "p0"), (2, "crash", None, "p0"),
        enq(0, "b"),  # waiting in the queue when the history ends: in flight
        enq(0, "c"), start(3, "c", "p0"),  # started after the crash: still running
    ])
    result = check(history)
    assert result.violations == 1
    assert result.examples[0]["jid"] == "a"
    assert result.stats["in_flight"] == 2


def test_maybe_enqueue_never_seen_is_not_lost_but_one_that_ran_is_recovered() -> None:
    history = History([
        enq(0, "a", ack=False),
        enq(0, "b", ack=False), start(1, "b"), ok(2, "b"),
        (5, "horizon", None),
    ])
    result = check(history)
    assert result.ok
    assert result.stats["maybe"] == 2
    assert result.stats["recovered_maybe"] == 1
    assert result.stats["acknowledged"] == 0


def test_maybe_job_the_system_accepted_is_owed_like_any_other() -> None:
    history = History([
        enq(0, "a", ack=False), start(1, "a", "p0"), (2, "crash", None, "p0"),
        (5, "horizon", None),
    ])
    assert check(history).stats["lost"] == 1


def test_reliable_fetch_recovery_is_not_lost() -> None:
    history = History([
        enq(0, "a"), start(1, "a", "p0"), (2, "crash", None, "p0"), (3, "restart", None, "p0"),
        (3, "recover", "a", "default", "p0", 1), start(4, "a", "p1"), ok(5, "a"),
        enq(0, "b"), start(1, "b", "p0"),  # orphan not yet recovered at the horizon
        (10, "horizon", None), (10, "held", "b", "private:p0"),
    ])
    result = check(history)
    assert result.ok, result.examples
    assert result.stats["duplicated"] == 0  # a re-run after a crash is not a duplicate


def test_unexpected_start_and_two_terminal_states_are_violations() -> None:
    history = History([
        start(1, "ghost"), ok(2, "ghost"),
        (0, "enqueue_failed", "x", "default", "Job", "Timeout"), start(1, "x"),
        enq(0, "a"), start(1, "a"), ok(2, "a"), (3, "dead", "a", "kill"),
    ])
    result = check(history)
    assert result.stats["unexpected"] == 2
    assert result.stats["conflicting_terminal"] == 1
    assert result.violations == 3
    whats = {(e["jid"], e["what"]) for e in result.examples}
    assert ("ghost", "unexpected start") in whats
    assert ("a", "second terminal state") in whats


def test_duplicates_are_reported_but_allowed() -> None:
    history = History([
        enq(0, "a"), start(1, "a", "p0"), start(1.5, "a", "p1", dup=1), ok(2, "a", dup=1),
        ok(3, "a"),
        enq(0, "b"), start(1, "b", "p0"), start(1.2, "b", "p1"), ok(2, "b"), ok(3, "b"),
        enq(0, "c"), start(1, "c"), ok(2, "c"), start(3, "c", dup=1), ok(4, "c", dup=1),
        (5, "horizon", None),
    ])
    result = check(history)
    assert result.ok
    assert result.stats["duplicated"] == 3
    assert result.stats["terminal"]["succeeded"] == 3


def test_dup_success_does_not_finish_the_owning_copy() -> None:
    history = History([
        enq(0, "a"), enq(0.5, "a"), start(1, "a", dup=1), ok(2, "a", dup=1),
        (5, "horizon", None),  # the owning copy vanished: not held, not running
    ])
    result = check(history)
    assert result.stats["lost"] == 1
    assert result.examples[0]["state"] == "enqueued"


def _private(worker_events: list[tuple], held_where: str = "private:p0") -> History:
    return History([
        enq(0, "a"), (1, "start", "a", "default", "p0", 1, 0),
        *worker_events,
        (9, "horizon", None), (9, "held", "a", held_where),
    ])


def test_a_restarted_process_that_kept_its_previous_lifes_job_strands_it() -> None:
    """The negative control of self-reclaim: p0 crashed and restarted, but the job it
    held in its private list before the crash is still there, and nobody runs it."""
    result = check(_private([(2, "crash", None, "p0"), (3, "restart", None, "p0")]))
    assert not result.ok and result.stats["stranded"] == 1 and result.stats["lost"] == 0
    assert result.examples[0]["what"] == "stranded in a private list"
    assert result.examples[0]["worker"] == "p0"


def test_private_lists_that_are_not_stranded() -> None:
    down = check(_private([(2, "crash", None, "p0")]))       # others recover it later
    assert down.ok and down.stats["stranded"] == 0
    running = check(_private([]))                             # p0 is still running it
    assert running.ok and running.stats["abandoned"] == 0
    settled = History([
        enq(0, "a"), (1, "start", "a", "default", "p0", 1, 0),
        (2, "failure", "a", "BrokerError", 1, 0),             # the retry could not be written
        (9, "horizon", None), (9, "held", "a", "private:p0")])
    left = check(settled)                                     # current life: Sidekiq's choice
    assert left.ok and left.stats["abandoned"] == 1 and left.stats["stranded"] == 0
    queued = check(_private([(2, "crash", None, "p0"), (3, "restart", None, "p0"),
                             (4, "recover", "a", "default", "p0", 1)], "queue:default"))
    assert queued.ok and queued.stats["stranded"] == 0
