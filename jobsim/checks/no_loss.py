"""No loss (after Jepsen's total-queue): every acknowledged job is accounted for.

Why: a job system's first promise is that an enqueue the client saw succeed is never
silently dropped. Basic fetch breaks it on SIGKILL (the job left storage at fetch), a
failover that drops the newest writes breaks it too. Nothing in the job system announces
a loss; it is found here, from the history alone.

Rule, by final-state reasoning. Each jid's lifecycle state is replayed with ``STATE_OF``
(dup executions move nothing; the first terminal state is sticky, a later *different*
terminal state is a violation: a job ends in exactly one terminal state). At the end a
tracked job that is not terminal must be accounted for:

- with a ``horizon`` event: it appears in a ``held`` event (queue, retry set, private
  list, ...), or it is ``processing`` on a worker that neither crashed nor stopped after
  the job's last start (still running at the horizon);
- without one (a truncated history): only a job whose last state is a start on a worker
  that later crashed or stopped, and that was never recovered, counts as lost.

Tracked jobs are the acknowledged ones (enqueue/schedule with ack True, any defer) plus
the "maybe" ones (ack False) that the system demonstrably accepted (any later event for
them): once the system ran or moved a job it owes it like any other. A maybe job never
seen again is not lost: the client was told the outcome is unknown.

Stranded jobs are lost too: a job held at the horizon only in the private list
(``private:W``) of a process W that is alive then, is not running it, and restarted
after the job was fetched into that list. A process reclaims its own list when it
starts; one that skipped it leaves its previous life's jobs where nobody will run them.
A job fetched by W's current life and left there (its failure could not be written
during a storage outage, so it was never acknowledged) is counted as ``abandoned``
instead: Sidekiq leaves it on purpose, to be recovered at W's next start, so it is
reported but not a violation. The private list of a process that is down at the
horizon is not judged: the others recover it once its heartbeat is old enough.

A start or success for a jid never enqueued, scheduled, deferred or released is
``unexpected`` (a phantom job). Executing a job more than once is allowed (at-least-once
delivery) but reported as ``duplicated``: a start with dup=1, or a start while another
copy of the same jid was still running.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jobsim.checks.result import MAX_EXAMPLES, CheckResult, verdict
from jobsim.history.events import STATE_OF, index
from jobsim.history.history import History
from jobsim.history.states import TERMINAL

_ENTRY_ACK = {"enqueue": index("enqueue", "ack"), "schedule": index("schedule", "ack")}
_START_WORKER = index("start", "worker")
_START_DUP = index("start", "dup")
_SUCCESS_DUP = index("success", "dup")
_FAILURE_DUP = index("failure", "dup")
_CRASH_WORKER = index("crash", "worker")
_STOP_WORKER = index("stop", "worker")
_REQUEUE_WORKER = index("requeue", "worker")
_RESTART_WORKER = index("restart", "worker")
_HELD_WHERE = index("held", "where")
PRIVATE = "private:"


class InFlight:
    """Executions running right now, per jid and per worker (shared with ``resources``).

    A success or failure names no worker, so it ends the oldest running copy of the jid
    with the same dup flag. A crash or stop ends every execution on that worker.
    """

    __slots__ = ("by_jid", "by_worker", "count")

    def __init__(self) -> None:
        self.by_jid: dict[str, list[tuple[str, int]]] = {}
        self.by_worker: dict[str, dict[str, int]] = {}  # worker -> jid -> copies running
        self.count = 0

    def start(self, jid: str, worker: str, dup: int) -> bool:
        """Record a start; True when another copy of ``jid`` was already running."""
        copies = self.by_jid.get(jid)
        if copies is None:
            self.by_jid[jid] = [(worker, dup)]
        else:
            copies.append((worker, dup))
        on_worker = self.by_worker.get(worker)
        if on_worker is None:
            on_worker = self.by_worker[worker] = {}
        on_worker[jid] = on_worker.get(jid, 0) + 1
        self.count += 1
        return copies is not None

    def finish(self, jid: str, dup: int) -> None:
        copies = self.by_jid.get(jid)
        if copies:
            if len(copies) == 1:                # the usual case: the only copy ends
                self._drop_only(jid, copies[0][0])
                return
            pick = copies[0]
            for copy in copies:
                if copy[1] == dup:
                    pick = copy
                    break
            self._drop(jid, copies, pick)

    def requeue(self, jid: str, worker: str) -> None:
        copies = self.by_jid.get(jid, [])
        for copy in copies:
            if copy[0] == worker:
                self._drop(jid, copies, copy)
                return

    def stop_worker(self, worker: str) -> None:
        for jid in self.by_worker.pop(worker, {}):
            copies = self.by_jid.pop(jid, [])
            kept = [c for c in copies if c[0] != worker]
            self.count -= len(copies) - len(kept)
            if kept:
                self.by_jid[jid] = kept

    def _drop_only(self, jid: str, worker: str) -> None:
        """``_drop`` of a jid's only running copy."""
        del self.by_jid[jid]
        on_worker = self.by_worker[worker]
        if on_worker[jid] == 1:
            del on_worker[jid]
        else:
            on_worker[jid] -= 1
        self.count -= 1

    def _drop(self, jid: str, copies: list[tuple[str, int]], pick: tuple[str, int]) -> None:
        if len(copies) == 1:
            del self.by_jid[jid]
        else:
            copies.remove(pick)
        on_worker = self.by_worker[pick[0]]
        if on_worker[jid] == 1:
            del on_worker[jid]
        else:
            on_worker[jid] -= 1
        self.count -= 1


class _Job:
    __slots__ = ("acked", "entered", "held", "known", "ran", "seen", "start_idx", "state", "t",
                 "worker")

    def __init__(self) -> None:
        # One chained store per value: one of these is built per job of the history.
        # entered: had an enqueue/schedule/defer; known: entered or released (a start is
        # expected); seen: an event after its entry (the system accepted it).
        self.state: str | None = None
        self.worker: str | None = None
        self.entered = self.known = self.acked = self.seen = self.ran = self.held = False
        self.t = 0.0
        self.start_idx = -1


class _Replay:
    """One pass over the events, replaying each jid; ``check`` judges the final states."""

    def __init__(self) -> None:
        self.jobs: dict[str, _Job] = {}
        self.flight = InFlight()
        self.stopped_at: dict[str, int] = {}  # worker -> index of its last crash/stop
        self.down: set[str] = set()           # workers crashed or stopped, not restarted
        self.restarted_at: dict[str, int] = {}  # worker -> index of its last restart
        self.recovered = 0                    # jobs taken back from a private list
        self.held_at: dict[str, list[str]] = {}  # jid -> where the final inventory found it
        self.horizon = False
        self.unexpected: dict[str, dict[str, Any]] = {}
        self.duplicated: set[str] = set()
        self.conflicts: list[dict[str, Any]] = []
        self.conflicting = 0

    def feed(self, events: Sequence[tuple[Any, ...]], start: int) -> None:
        """Replay ``events``, the history's events from index ``start`` on: a history
        fed in consecutive pieces replays as if fed whole."""
        handlers = {
            "start": self._start, "success": self._success, "failure": self._failure,
            "enqueue": self._entry, "schedule": self._entry, "defer": self._entry,
            "held": self._held, "crash": self._stop, "stop": self._stop,
            "restart": self._restart, "horizon": self._horizon,
        }
        for kind in STATE_OF:
            handlers.setdefault(kind, self._state)
        get = handlers.get
        for i, ev in enumerate(events, start):
            handler = get(ev[1])
            if handler is not None:
                handler(i, ev)

    def _job(self, jid: str) -> _Job:
        return self.jobs.get(jid) or self._new(jid)

    def _new(self, jid: str) -> _Job:
        job = self.jobs[jid] = _Job()
        return job

    # _success, _entry and _start run once per event of most histories: they inline the
    # usual cases of _known and _move (a known job, a move out of a non-terminal state).
    def _success(self, i: int, ev: tuple[Any, ...]) -> None:
        jid, dup = ev[2], ev[_SUCCESS_DUP]
        job = self.jobs.get(jid) or self._new(jid)
        if not job.known:
            self._known(jid, job, ev[0], "success")
        self.flight.finish(jid, dup)
        if dup:
            return
        if job.state in TERMINAL:
            self._move(jid, job, "succeeded", ev[0])
        else:
            job.state, job.t = "succeeded", ev[0]

    def _failure(self, i: int, ev: tuple[Any, ...]) -> None:
        self.flight.finish(ev[2], ev[_FAILURE_DUP])

    def _held(self, i: int, ev: tuple[Any, ...]) -> None:
        job = self._job(ev[2])
        job.held = job.seen = True
        self.held_at.setdefault(ev[2], []).append(ev[_HELD_WHERE])

    def _restart(self, i: int, ev: tuple[Any, ...]) -> None:
        self.down.discard(ev[_RESTART_WORKER])
        self.restarted_at[ev[_RESTART_WORKER]] = i

    def _state(self, i: int, ev: tuple[Any, ...]) -> None:
        kind, jid = ev[1], ev[2]
        job = self._job(jid)
        if kind == "requeue":
            self.flight.requeue(jid, ev[_REQUEUE_WORKER])
        elif kind == "recover":
            self.recovered += 1
        elif kind == "release":
            job.known = True
        job.seen = True
        self._move(jid, job, STATE_OF[kind], ev[0])

    def _stop(self, i: int, ev: tuple[Any, ...]) -> None:
        worker = ev[_CRASH_WORKER if ev[1] == "crash" else _STOP_WORKER]
        self.stopped_at[worker] = i
        self.down.add(worker)
        self.flight.stop_worker(worker)

    def _horizon(self, i: int, ev: tuple[Any, ...]) -> None:
        self.horizon = True

    def _entry(self, i: int, ev: tuple[Any, ...]) -> None:
        kind, jid = ev[1], ev[2]
        job = self.jobs.get(jid) or self._new(jid)
        if job.entered:
            job.seen = True  # a second push of the same jid: the system holds a copy
        job.entered = job.known = True
        if kind == "defer" or ev[_ENTRY_ACK[kind]]:
            job.acked = True
        if job.state in TERMINAL:
            self._move(jid, job, STATE_OF[kind], ev[0])
        else:
            job.state, job.t = STATE_OF[kind], ev[0]

    def _start(self, i: int, ev: tuple[Any, ...]) -> None:
        jid = ev[2]
        job = self.jobs.get(jid) or self._new(jid)
        if not job.known:
            self._known(jid, job, ev[0], "start")
        worker, dup = ev[_START_WORKER], ev[_START_DUP]
        if self.flight.start(jid, worker, dup) or dup:
            self.duplicated.add(jid)
        job.ran = job.seen = True
        if dup:
            return
        job.worker, job.start_idx = worker, i
        if job.state in TERMINAL:
            self._move(jid, job, "processing", ev[0])
        else:
            job.state, job.t = "processing", ev[0]

    def _known(self, jid: str, job: _Job, t: float, what: str) -> None:
        if not job.known and jid not in self.unexpected:
            self.unexpected[jid] = {"jid": jid, "t": t, "what": f"unexpected {what}"}

    def _move(self, jid: str, job: _Job, state: str, t: float) -> None:
        if job.state in TERMINAL:
            if state in TERMINAL and state != job.state:
                self.conflicting += 1
                if len(self.conflicts) < MAX_EXAMPLES:
                    self.conflicts.append({"jid": jid, "t": t, "what": "second terminal state",
                                           "first": job.state, "then": state})
            return
        job.state, job.t = state, t

    def stranded(self, jid: str, job: _Job) -> tuple[str, bool] | None:
        """(worker, previous life) when only the private list of a live process that is
        not running it holds this unfinished job; None otherwise."""
        if job.state in TERMINAL:
            return None
        places = self.held_at.get(jid, ())
        workers = {w[len(PRIVATE):] for w in places if w.startswith(PRIVATE)}
        if not workers or len(workers) != len(places):
            return None
        for worker in sorted(workers):
            if worker not in self.down and not self.flight.by_worker.get(worker, {}).get(jid):
                return worker, self.restarted_at.get(worker, -1) > job.start_idx
        return None

    def lost(self, job: _Job) -> bool:
        if job.state in TERMINAL or not (job.acked or job.seen):
            return False
        crashed = (job.state == "processing"
                   and self.stopped_at.get(job.worker or "", -1) > job.start_idx)
        if not self.horizon:
            return crashed
        return not job.held and (job.state != "processing" or crashed)


class Stream:
    """The check fed the history in pieces as it is recorded (``registry.stream``)."""

    def __init__(self) -> None:
        self.replay = _Replay()

    def feed(self, events: Sequence[tuple[Any, ...]], start: int) -> None:
        self.replay.feed(events, start)

    def finish(self) -> CheckResult:
        return _judge(self.replay)


def stream(config: Mapping[str, Any] | None = None) -> Stream:
    """The check as a ``Stream`` (no options)."""
    return Stream()


def check(history: History, config: Mapping[str, Any] | None = None) -> CheckResult:
    """Verdict on no loss (no options)."""
    replay = _Replay()
    replay.feed(history.events, 0)
    return _judge(replay)


def _judge(replay: _Replay) -> CheckResult:
    terminal = dict.fromkeys(sorted(TERMINAL), 0)
    lost: list[dict[str, Any]] = []
    n_lost = in_flight = enqueued = acked = maybe = recovered_maybe = n_stranded = 0
    abandoned = 0
    stranded: list[dict[str, Any]] = []
    for jid, job in replay.jobs.items():
        enqueued += job.entered
        acked += job.entered and job.acked
        if job.entered and not job.acked:
            maybe += 1
            recovered_maybe += job.ran
        if job.state in TERMINAL:
            terminal[job.state] += 1
        elif replay.lost(job):
            n_lost += 1
            if len(lost) < MAX_EXAMPLES:
                lost.append({"jid": jid, "t": job.t, "what": "lost", "state": job.state,
                             "worker": job.worker})
        elif (where := replay.stranded(jid, job)) is not None and where[1]:
            n_stranded += 1
            if len(stranded) < MAX_EXAMPLES:
                stranded.append({"jid": jid, "t": job.t, "what": "stranded in a private list",
                                 "state": job.state, "worker": where[0]})
        elif where is not None:
            abandoned += 1
            in_flight += 1
        elif job.state is not None and (job.acked or job.seen):
            in_flight += 1
    unexpected = list(replay.unexpected.values())
    examples = lost + stranded + unexpected[:MAX_EXAMPLES] + replay.conflicts
    return verdict(
        "no_loss", examples, n_lost + n_stranded + len(unexpected) + replay.conflicting,
        enqueued=enqueued, acknowledged=acked, maybe=maybe, recovered_maybe=recovered_maybe,
        terminal=terminal, in_flight=in_flight, lost=n_lost, stranded=n_stranded,
        abandoned=abandoned, recovered=replay.recovered,
        unexpected=len(unexpected),
        duplicated=len(replay.duplicated), conflicting_terminal=replay.conflicting,
        horizon=replay.horizon,
    )
