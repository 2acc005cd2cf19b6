"""The Retries and Dead tables of the run report, laid out like Sidekiq's Web UI.

Sidekiq's Web UI lists the retry set (jid, class, error, retry count, next retry) and
the dead set (jid, class, error, retry count, died at). A finished run's retry set is
usually empty, so the Retries table lists every job that was retried: its class, the
error of its latest failure, how many retries were scheduled, when the latest was due,
and how the job ended. Both tables show the top entries, commonest error class first
(then by time), under the total per error class. Built from the history alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from jobsim.history.events import STATE_OF, index
from jobsim.history.history import History
from jobsim.report.job_classes import NO_ERROR, no_failure

TOP = 10
_CLS = {kind: index(kind, "cls") for kind in ("enqueue", "schedule", "defer")}
_FAILURE_ERROR, _FAILURE_DUP = index("failure", "error"), index("failure", "dup")
_RETRY_COUNT, _RETRY_DUE = index("retry", "count"), index("retry", "due")
_DEAD_REASON = index("dead", "reason")
_START_WORKER, _START_DUP = index("start", "worker"), index("start", "dup")
_CRASH_WORKER = index("crash", "worker")


@dataclass
class JobSet:
    """One table: the total per error class and the top entries."""

    totals: dict[str, int] = field(default_factory=dict)
    header: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    count: int = 0


def build(history: History, top: int = TOP) -> dict[str, JobSet]:
    """{"retries": JobSet, "dead": JobSet} for ``history``."""
    sets = Tables()
    sets.feed(history.events)
    return sets.result(top)


class Tables:
    """``build`` fed the events in consecutive pieces (scenario/judge.py)."""

    def __init__(self) -> None:
        self.cls: dict[str, str] = {}
        self.error: dict[str, str] = {}
        self.retried: dict[str, list[Any]] = {}     # jid -> [count, due, last error]
        self.died: dict[str, list[Any]] = {}        # jid -> [t, error, reason]
        self.state: dict[str, str] = {}
        self.ran_on: dict[str, tuple[float, str]] = {}   # jid -> its latest start, worker
        self.crashed: dict[str, float] = {}              # worker -> its latest crash

    def feed(self, events: Iterable[tuple[Any, ...]]) -> None:
        cls, error, retried, died, state = (self.cls, self.error, self.retried, self.died,
                                            self.state)
        for ev in events:
            kind, jid = ev[1], ev[2]
            if kind in _CLS:
                if jid not in cls:
                    cls[jid] = ev[_CLS[kind]]
            elif kind == "failure":
                if not ev[_FAILURE_DUP]:
                    error[jid] = ev[_FAILURE_ERROR]
                continue                        # moves no state
            elif kind == "start" and not ev[_START_DUP]:
                error.pop(jid, None)                # an earlier run's failure is behind us
                self.ran_on[jid] = (ev[0], ev[_START_WORKER])
            elif kind == "crash":
                self.crashed[ev[_CRASH_WORKER]] = ev[0]
            elif kind == "retry":
                retried[jid] = [ev[_RETRY_COUNT] + 1, ev[_RETRY_DUE],
                                error.pop(jid, None)
                                or no_failure(self.ran_on.get(jid), self.crashed)]
            elif kind == "dead":
                died[jid] = [ev[0], error.get(jid) or str(ev[_DEAD_REASON]), ev[_DEAD_REASON]]
            # "ended as" is read for retried jobs only, and a job's retry is itself a
            # move: tracking the others' states would change no row.
            if jid in retried:
                target = STATE_OF.get(kind)
                if target is not None and not (kind in ("start", "success") and _dup(ev)):
                    state[jid] = target

    def result(self, top: int = TOP) -> dict[str, JobSet]:
        cls, retried, state = self.cls, self.retried, self.state
        retries = _table(
            ["jid", "class", "error", "retries", "latest retry due (s)", "ended as"],
            {jid: [jid, cls.get(jid, ""), err, n, round(due, 1), state.get(jid, "")]
             for jid, (n, due, err) in retried.items()}, error_at=2, time_at=4, top=top)
        dead = _table(
            ["jid", "class", "error", "retries", "died at (s)", "reason"],
            {jid: [jid, cls.get(jid, ""), err, retried.get(jid, [0])[0], round(t, 1), reason]
             for jid, (t, err, reason) in self.died.items()}, error_at=2, time_at=4, top=top)
        return {"retries": retries, "dead": dead}


def _dup(ev: tuple[Any, ...]) -> bool:
    return bool(ev[6] if ev[1] == "start" else ev[3])


def _table(header: list[str], entries: dict[str, list[Any]], error_at: int, time_at: int,
           top: int) -> JobSet:
    totals = Counter(row[error_at] or NO_ERROR for row in entries.values())
    rank = {name: i for i, (name, _) in enumerate(totals.most_common())}
    rows = sorted(entries.values(),
                  key=lambda r: (rank[r[error_at] or NO_ERROR], r[time_at], r[0]))
    return JobSet(dict(totals.most_common()), header, rows[:top], len(entries))
