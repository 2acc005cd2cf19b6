"""What a validation case reads back from a run's history: waits, executions, goodput.

Only the history is read (never the simulator's internals), so what is validated is what
every checker and report sees. Warm-up deletion drops jobs that *arrived* before the
cut-off: a run starts empty, and its first jobs wait less than in steady state.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from jobsim.history.history import History


@dataclass
class Waits:
    """Queue waits (first start minus enqueue) of the jobs that arrived after warm-up."""

    by_queue: dict[str, list[float]]
    dropped: int        # warm-up jobs left out

    def all(self) -> list[float]:
        return [w for waits in self.by_queue.values() for w in waits]


def queue_waits(history: History, warmup: float) -> Waits:
    """Wait in queue per job, grouped by the queue it was enqueued to."""
    arrived: dict[str, tuple[float, str]] = {}
    by_queue: dict[str, list[float]] = {}
    dropped = 0
    for event in history.events:
        kind = event[1]
        if kind == "enqueue":
            arrived[event[2]] = (event[0], event[3])
        elif kind == "start" and not event[6]:
            found = arrived.pop(event[2], None)
            if found is None:
                continue        # a retry's start: not a first wait
            t0, queue = found
            if t0 < warmup:
                dropped += 1
                continue
            by_queue.setdefault(queue, []).append(event[0] - t0)
    return Waits(by_queue, dropped)


def execution_counts(history: History) -> tuple[Counter[str], set[str]]:
    """Executions (non-duplicate starts) per jid, and the jids that succeeded."""
    runs: Counter[str] = Counter()
    succeeded: set[str] = set()
    for event in history.events:
        kind = event[1]
        if kind == "start" and not event[6]:
            runs[event[2]] += 1
        elif kind == "success" and not event[3]:
            succeeded.add(event[2])
    return runs, succeeded


def success_times(history: History) -> list[float]:
    """Instants of every non-duplicate success, in order."""
    return [e[0] for e in history.events if e[1] == "success" and not e[3]]


def rate_between(times: list[float], start: float, end: float) -> float:
    """Events per second in [start, end)."""
    return sum(1 for t in times if start <= t < end) / (end - start)


def retry_delays(history: History) -> dict[str, list[tuple[int, float]]]:
    """Per jid, its ``retry`` events as (count, delay), in order."""
    out: dict[str, list[tuple[int, float]]] = {}
    for event in history.events:
        if event[1] == "retry":
            out.setdefault(event[2], []).append((event[3], event[4]))
    return out


def first_failure_to_last_start(history: History) -> dict[str, float]:
    """Per jid, seconds from its first failure to its last execution's start: the real
    elapsed retry schedule (delays plus the poller's pick-up latency)."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for event in history.events:
        kind, jid = event[1], event[2]
        if kind == "failure" and not event[5]:
            first.setdefault(jid, event[0])
        elif kind == "start" and not event[6] and jid in first:
            last[jid] = event[0]
    return {jid: last[jid] - first[jid] for jid in last}


@dataclass
class Mechanics:
    """How one FIFO queue served by ``threads`` threads behaved, job by job: the
    assumptions Erlang C and Pollaczek-Khinchine rest on, checked exactly."""

    jobs: int = 0
    late: int = 0           # waited although a thread was free when it arrived
    skipped: int = 0        # started at once although every thread was busy
    out_of_order: int = 0   # started before a job that arrived earlier
    services: list[float] | None = None     # start -> success, per job
    gaps: list[float] | None = None         # enqueue -> next enqueue


def queue_mechanics(history: History, threads: int, samples: bool) -> Mechanics:
    """Count violations of "wait iff all threads busy" and of FIFO order; with
    ``samples``, also keep every service time and interarrival gap."""
    m = Mechanics(services=[] if samples else None, gaps=[] if samples else None)
    arrived: dict[str, tuple[int, float, bool]] = {}  # jid -> (number, time, all busy)
    started: dict[str, float] = {}
    busy, last_started = 0, -1
    last_arrival: float | None = None
    for event in history.events:
        kind = event[1]
        if kind == "enqueue":
            arrived[event[2]] = (m.jobs, event[0], busy >= threads)
            m.jobs += 1
            if m.gaps is not None and last_arrival is not None:
                m.gaps.append(event[0] - last_arrival)
            last_arrival = event[0]
        elif kind == "start" and not event[6]:
            busy += 1
            started[event[2]] = event[0]
            found = arrived.pop(event[2], None)
            if found is None:
                continue        # a retry's start: not a first arrival
            number, at, full = found
            waited = event[0] > at
            m.late += waited and not full
            m.skipped += full and not waited
            m.out_of_order += number < last_started
            last_started = max(last_started, number)
        elif (kind == "success" and not event[3]) or (kind == "failure" and not event[5]):
            busy -= 1
            began = started.pop(event[2])
            if m.services is not None:
                m.services.append(event[0] - began)
    return m
