"""Metrics per job class: how long each class waited and ran, and how its failures ended.

Why per class: an on-call engineer asks "how long did payments wait?", and a queue mixes
classes (single_fifo puts every job on ``default``). One pass over the history gives, for
each job class (the ``cls`` of its enqueue, schedule or defer event):

- ``latency_*_s``: the wait from becoming visible in a queue (enqueue, promote, requeue,
  recover, release) to the start of the owning execution, the same convention as the
  per-queue latency; nearest-rank percentiles;
- ``run_time_*_s``: from a start to its success or failure (owning executions only);
- ``executions`` (duplicate executions included), ``succeeded``, ``retries``, ``dead``,
  ``discarded``, and each of the last three by error class: the error of the failure
  that led to it, or the event's reason (``kill``, ``replaced``, ...) when no failure did
  (a retry has no reason: ``(process died)`` when its execution's process was killed,
  as RQ's abandoned-job cleanup retries it, else ``(no error)``).

A statistic with no data is ``None`` (``null`` in metrics.json, "—" on screen), never 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from jobsim.history.events import index
from jobsim.history.history import History

_PUSH = frozenset({"enqueue", "promote", "requeue", "recover", "release"})
_BORN = frozenset({"enqueue", "schedule", "defer"})
_CLS = {kind: index(kind, "cls") for kind in _BORN}
_START_DUP = index("start", "dup")
_SUCCESS_DUP = index("success", "dup")
_FAILURE_ERROR, _FAILURE_DUP = index("failure", "error"), index("failure", "dup")
_REASON = {"dead": index("dead", "reason"), "discard": index("discard", "reason")}
_START_WORKER, _CRASH_WORKER = index("start", "worker"), index("crash", "worker")
UNKNOWN_CLASS = "(unknown)"
NO_ERROR = "(no error)"
PROCESS_DIED = "(process died)"   # RQ's abandoned-job cleanup retries without a failure
ENDINGS = ("retries", "dead", "discarded")


class _Class:
    """The running tallies of one job class."""

    __slots__ = ("ends", "enqueued", "executions", "runs", "succeeded", "waits")

    def __init__(self) -> None:
        self.enqueued = self.executions = self.succeeded = 0
        self.waits: list[float] = []
        self.runs: list[float] = []
        self.ends: dict[str, Counter[str]] = {name: Counter() for name in ENDINGS}


def percentile(ordered: list[float], p: int) -> float | None:
    """Nearest-rank percentile of an ascending list; None when it is empty."""
    if not ordered:
        return None
    return ordered[max(1, -(-p * len(ordered) // 100)) - 1]


def stats(history: History) -> dict[str, dict[str, Any]]:
    """``jobs_by_class`` of metrics.json, classes sorted by name."""
    classes = ClassStats()
    classes.feed(history.events)
    return classes.result()


class ClassStats:
    """``stats`` fed the events in consecutive pieces (scenario/judge.py feeds it while
    the run records them)."""

    def __init__(self) -> None:
        self.classes: dict[str, _Class] = {}
        self.tally_of: dict[str, _Class] = {}   # jid -> its class's tallies, from its birth on
        self.since: dict[str, float] = {}
        self.started: dict[str, float] = {}
        self.error: dict[str, str] = {}
        self.ran_on: dict[str, tuple[float, str]] = {}   # jid -> its latest start, worker
        self.crashed: dict[str, float] = {}              # worker -> its latest crash

    def _unborn(self) -> _Class:
        """Events of a jid before (or without) its birth count for UNKNOWN_CLASS."""
        found = self.classes.get(UNKNOWN_CLASS)
        if found is None:
            found = self.classes[UNKNOWN_CLASS] = _Class()
        return found

    def feed(self, events: Iterable[tuple[Any, ...]]) -> None:
        classes, tally_of, since = self.classes, self.tally_of, self.since
        started, error, unborn = self.started, self.error, self._unborn
        ran_on, crashed = self.ran_on, self.crashed
        for ev in events:
            kind = ev[1]
            if kind in _BORN:
                jid = ev[2]
                if jid not in tally_of:
                    name = ev[_CLS[kind]]
                    found = classes.get(name)
                    if found is None:
                        found = classes[name] = _Class()
                    tally_of[jid] = found
                    found.enqueued += 1
            if kind in _PUSH:
                since[ev[2]] = ev[0]
            elif kind == "start":
                tally = tally_of.get(ev[2]) or unborn()
                tally.executions += 1
                if not ev[_START_DUP]:
                    seen = since.pop(ev[2], None)
                    if seen is not None:
                        tally.waits.append(ev[0] - seen)
                    started[ev[2]] = ev[0]
                    error.pop(ev[2], None)        # an earlier run's failure is behind us
                    ran_on[ev[2]] = (ev[0], ev[_START_WORKER])
            elif kind == "success" and not ev[_SUCCESS_DUP]:
                tally = tally_of.get(ev[2]) or unborn()
                tally.succeeded += 1
                _ran(tally, started, ev)
            elif kind == "failure" and not ev[_FAILURE_DUP]:
                error[ev[2]] = ev[_FAILURE_ERROR]
                _ran(tally_of.get(ev[2]) or unborn(), started, ev)
            elif kind == "retry":
                tally = tally_of.get(ev[2]) or unborn()
                tally.ends["retries"][error.pop(ev[2], None)
                                      or no_failure(ran_on.get(ev[2]), crashed)] += 1
            elif kind == "crash":
                crashed[ev[_CRASH_WORKER]] = ev[0]
            elif kind in _REASON:
                ending = "dead" if kind == "dead" else "discarded"
                cause = error.pop(ev[2], None) or str(ev[_REASON[kind]])
                (tally_of.get(ev[2]) or unborn()).ends[ending][cause] += 1
                since.pop(ev[2], None)

    def result(self) -> dict[str, dict[str, Any]]:
        classes = self.classes
        return {name: _summary(classes[name]) for name in sorted(classes)}


def no_failure(ran: tuple[float, str] | None, crashed: dict[str, float]) -> str:
    """What to call a retry no failure led to: ``(process died)`` when the process
    running the job's latest execution was killed during it (RQ retries such a job at
    its registry cleanup), else ``(no error)``."""
    if ran is not None and crashed.get(ran[1], -1.0) >= ran[0]:
        return PROCESS_DIED
    return NO_ERROR


def _ran(tally: _Class, started: dict[str, float], ev: tuple[Any, ...]) -> None:
    begun = started.pop(ev[2], None)
    if begun is not None:
        tally.runs.append(ev[0] - begun)


def _summary(c: _Class) -> dict[str, Any]:
    waits, runs = sorted(c.waits), sorted(c.runs)
    out: dict[str, Any] = {"enqueued": c.enqueued, "executions": c.executions,
                           "succeeded": c.succeeded}
    for label, values in (("latency", waits), ("run_time", runs)):
        out[f"{label}_mean_s"] = sum(values) / len(values) if values else None
        for p in (50, 95, 99):
            out[f"{label}_p{p}_s"] = percentile(values, p)
        out[f"{label}_max_s"] = values[-1] if values else None
    for name in ENDINGS:
        counts = c.ends[name]
        out[name] = sum(counts.values())
        out[f"{name}_by_error"] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return out
