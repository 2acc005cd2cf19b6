"""The Retries and Dead tables: totals by error class, top entries commonest error first."""

from __future__ import annotations

from jobsim.history.history import History
from jobsim.report import job_sets

from .conftest import CONFIG


def _dies(jid: str, t: float, error: str, retries: int) -> list[tuple]:
    events: list[tuple] = [(t, "enqueue", jid, "default", "PayJob", True, True)]
    for n in range(retries + 1):
        events += [(t + n, "start", jid, "default", "p0", n + 1, 0),
                   (t + n + 0.5, "failure", jid, error, n + 1, 0)]
        if n < retries:
            events.append((t + n + 0.5, "retry", jid, n, 0.5, t + n + 1, "sidekiq", 25))
    events.append((t + retries + 0.5, "dead", jid, "exhausted"))
    return events


def test_dead_table_groups_by_error_class() -> None:
    events = [(0.0, "config", None, CONFIG)]
    events += _dies("a", 1.0, "ServiceTimeout", 2) + _dies("b", 10.0, "ServiceError", 0)
    events += _dies("c", 20.0, "ServiceTimeout", 1)
    events.sort(key=lambda e: e[0])
    sets = job_sets.build(History([*events, (99.0, "horizon", None)]), top=2)
    dead = sets["dead"]
    assert dead.totals == {"ServiceTimeout": 2, "ServiceError": 1}
    assert dead.count == 3
    # commonest error class first, then by time; top 2 only
    assert [(r[0], r[2], r[3]) for r in dead.rows] == [("a", "ServiceTimeout", 2),
                                                       ("c", "ServiceTimeout", 1)]
    retries = sets["retries"]
    assert retries.totals == {"ServiceTimeout": 2}
    assert [r[-1] for r in retries.rows] == ["dead", "dead"]


def test_a_retry_after_its_process_died_says_so() -> None:
    """RQ's registry cleanup retries a job whose work-horse's worker was killed: no
    failure is recorded, and the tables said '(no error)'; a later retry of a job that
    once failed took that old failure's error."""
    def retry(t: float, jid: str, count: int) -> tuple:
        return (t, "retry", jid, count, 10.0, t + 10, "rq:max=3", 3)

    history = History([
        (0.0, "config", None, CONFIG),
        (0.0, "enqueue", "a", "default", "Report", True, True),
        (0.0, "enqueue", "b", "default", "Report", True, True),
        (0.0, "enqueue", "c", "default", "Report", True, True),
        (1.0, "start", "a", "default", "p1", 1, 0),
        (1.0, "start", "b", "default", "p0", 1, 0),
        (1.0, "start", "c", "default", "p0", 1, 0),
        (2.0, "failure", "b", "ServiceError", 1, 0), retry(2.0, "b", 0),
        (3.0, "crash", None, "p1"),
        (5.0, "start", "b", "default", "p1", 2, 0),     # b's second run dies with p1
        (6.0, "crash", None, "p1"),
        (9.0, "success", "c", 0), retry(9.5, "c", 0),   # negative control: nothing died
        retry(20.0, "a", 0), retry(20.0, "b", 1),
        (99.0, "horizon", None),
    ])
    assert job_sets.build(history)["retries"].totals == {
        "(process died)": 2, "(no error)": 1}       # a, b's latest; c
    from jobsim.report import job_classes

    by_error = job_classes.stats(history)["Report"]["retries_by_error"]
    assert by_error == {"(process died)": 2, "ServiceError": 1, "(no error)": 1}
