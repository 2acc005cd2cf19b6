"""The M/M/c mechanics counters, on hand-made histories: each violation is seen."""

from __future__ import annotations

from jobsim.history.history import History
from jobsim.validate.measure import queue_mechanics
from jobsim.validate.queueing import mechanics_row


def _history(*steps: tuple[float, str, str]) -> History:
    history = History()
    for t, kind, jid in steps:
        if kind == "enqueue":
            history.append(t, kind, jid, "default", "SyntheticJob", 0, True)
        elif kind == "start":
            history.append(t, kind, jid, "default", "w0", 1, 0)
        else:
            history.append(t, kind, jid, 0)
    return history


# One thread: b arrives while a runs, waits, and starts when a ends.
FAITHFUL = (
    (0.0, "enqueue", "a"), (0.0, "start", "a"), (1.0, "enqueue", "b"),
    (2.0, "success", "a"), (2.0, "start", "b"), (3.0, "success", "b"),
)


def test_a_faithful_queue_has_no_violation() -> None:
    m = queue_mechanics(_history(*FAITHFUL), threads=1, samples=True)
    assert (m.jobs, m.late, m.skipped, m.out_of_order) == (2, 0, 0, 0)
    assert m.services == [2.0, 1.0] and m.gaps == [1.0]


def test_waiting_beside_a_free_thread_is_counted() -> None:
    m = queue_mechanics(_history((0.0, "enqueue", "a"), (0.5, "start", "a"),
                                 (1.5, "success", "a")), threads=1, samples=False)
    assert m.late == 1 and m.services is None


def test_jumping_a_busy_system_is_counted() -> None:
    m = queue_mechanics(_history((0.0, "enqueue", "a"), (0.0, "start", "a"),
                                 (1.0, "enqueue", "b"), (1.0, "start", "b"),
                                 (2.0, "success", "a"), (2.5, "success", "b")),
                        threads=1, samples=False)
    assert m.skipped == 1 and m.late == 0


def test_starting_out_of_arrival_order_is_counted() -> None:
    m = queue_mechanics(_history((0.0, "enqueue", "a"), (0.0, "start", "a"),
                                 (1.0, "enqueue", "b"), (1.1, "enqueue", "c"),
                                 (2.0, "success", "a"), (2.0, "start", "c"),
                                 (3.0, "success", "c"), (3.0, "start", "b"),
                                 (4.0, "success", "b")), threads=1, samples=False)
    assert m.out_of_order == 1


def test_mechanics_row_fails_on_any_violation() -> None:
    clean = {"jobs": 10, "late": 0, "skipped": 0, "out_of_order": 0}
    assert mechanics_row([clean, clean]).ok
    assert not mechanics_row([clean, {**clean, "late": 1}]).ok
