"""lifecycle: jobs move only along states.TRANSITIONS; dup executions move nothing."""

from __future__ import annotations

from jobsim.checks.lifecycle import check
from jobsim.history.history import History


def enq(t: float, jid: str) -> tuple:
    return (t, "enqueue", jid, "default", "Job", True, True)


def start(t: float, jid: str, dup: int = 0, attempt: int = 1) -> tuple:
    return (t, "start", jid, "default", "p0", attempt, dup)


def success(t: float, jid: str, dup: int = 0) -> tuple:
    return (t, "success", jid, dup)


def healthy(dup_flag: int = 1) -> History:
    """Three jobs on legal paths; ``b`` also ran as a duplicate copy flagged ``dup_flag``."""
    return History([
        (0, "config", None, {"queues": [["default", 1]]}),
        enq(0, "a"), start(1, "a"), (2, "failure", "a", "Boom", 1, 0),
        (2, "retry", "a", 0, 15.0, 17.0, "sidekiq", 25),
        (17, "promote", "a", "default", "retry"), start(18, "a", attempt=2), success(19, "a"),
        (0, "schedule", "b", "default", "Job", True, True, 5.0),
        (5, "promote", "b", "default", "schedule"), start(6, "b"),
        start(6.5, "b", dup=dup_flag), success(7, "b", dup=dup_flag), success(8, "b"),
        enq(0, "c"), start(1, "c"), (2, "crash", None, "p0"),
        (3, "recover", "c", "default", "p0", 1), start(4, "c"),
        (5, "failure", "c", "Boom", 1, 0), (5, "dead", "c", "exhausted"),
    ])


def test_legal_paths_hold() -> None:
    result = check(healthy())
    assert result.ok, result.examples
    assert result.stats["jobs"] == 3
    assert result.stats["final_states"] == {"dead": 1, "succeeded": 2}
    # a: enqueue start retry promote start success; b: schedule promote start success;
    # c: enqueue start recover start dead -- the dup start/success are not transitions
    assert result.stats["transitions"] == 6 + 4 + 5


def test_duplicate_copy_not_flagged_dup_is_caught() -> None:
    """Negative control: the same history with the copy's dup flag cleared is illegal:
    processing -> processing, then succeeded -> succeeded."""
    result = check(healthy(dup_flag=0))
    assert not result.ok
    assert result.violations == 2
    moves = [(e["from"], e["to"]) for e in result.examples]
    assert moves == [("processing", "processing"), ("succeeded", "succeeded")]
    assert result.examples[1]["terminal"] is True


def test_moves_out_of_terminal_and_skipped_states_are_counted_once() -> None:
    history = History([
        enq(0, "x"), start(1, "x"), success(2, "x"),
        enq(3, "x"),                                         # succeeded -> enqueued
        start(4, "x"), success(5, "x"),                      # legal from the recorded state
        enq(0, "y"), (1, "retry", "y", 0, 15.0, 16.0, "sidekiq", 25),  # enqueued -> retrying
        (16, "promote", "y", "default", "retry"),            # retrying -> enqueued: legal
        (0, "dead", "z", "reject"),                          # new -> dead: legal (unique)
        (1, "cancel", "w", "dep_dead", "z"),                 # new -> canceled: illegal
    ])
    result = check(history)
    assert result.violations == 3
    by_jid = {e["jid"]: e for e in result.examples}
    assert by_jid["x"] | {"t": 3} == by_jid["x"]
    assert (by_jid["x"]["from"], by_jid["x"]["to"]) == ("succeeded", "enqueued")
    assert (by_jid["y"]["from"], by_jid["y"]["to"]) == ("enqueued", "retrying")
    assert by_jid["w"]["from"] is None and by_jid["w"]["event"] == "cancel"


def test_edge_empty_and_system_only_history() -> None:
    empty = check(History())
    assert empty.ok and empty.stats["jobs"] == 0 and empty.stats["transitions"] == 0
    system_only = check(History([
        (0, "config", None, {}), (1, "crash", None, "p0"), (2, "horizon", None),
    ]))
    assert system_only.ok and system_only.stats["jobs"] == 0


def test_start_without_enqueue_is_illegal() -> None:
    result = check(History([start(1, "ghost"), success(2, "ghost")]))
    assert result.violations == 1
    assert result.examples[0]["from"] is None and result.examples[0]["to"] == "processing"
