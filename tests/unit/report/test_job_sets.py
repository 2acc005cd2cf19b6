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
