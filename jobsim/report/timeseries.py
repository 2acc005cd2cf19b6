"""A run's history reduced to binned time series, in ONE pass over the events.

Why bins: a black_friday run holds half a million events; a chart with one mark per job
is unreadable and slow to draw. Every series here has ``bins`` points (the run split into
equal intervals), so figure cost does not grow with the run. Integer bin indices are
computed once per event; running totals (queue depth, jobs per state) are kept as
per-bin deltas and summed at the end, which keeps the loop to a few dict operations.

Conventions (shared with metrics.json):
- a job's lifecycle state follows ``events.STATE_OF``; duplicate executions (dup=1)
  change no state;
- queue depth counts visible entries: +1 on enqueue, promote, requeue, recover, release
  and copy; -1 on every start (dup copies too) and on a dead/discard of a job that was
  waiting in a queue. Each bin reports the PEAK depth within it, so a burst shorter
  than a bin still shows;
- a job's wait is from the event that made it visible to its start; waits are also
  kept per job class (the ``cls`` of its enqueue, schedule or defer event);
- a service's traffic comes from the world's ``traffic.NAME.*`` gauges (running totals,
  see ``world/traffic.py``): the calls in a bin are the difference of the totals at its
  two ends, and its mean call duration the difference of total durations over the
  difference of calls ended.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from jobsim.history.events import STATE_OF
from jobsim.history.history import History
from jobsim.history.states import STATES

DEFAULT_BINS = 300
PERCENTILES = (50, 95, 99)
COUNTERS = ("executions", "failures", "retries", "retried", "dead", "effects",
            "dup_effects", "dup_runs")
_PUSH = frozenset({"enqueue", "promote", "requeue", "recover", "release"})
_BORN = {"schedule": 4, "defer": 4}        # kind -> position of cls (enqueue: inline)
TRAFFIC = "traffic."
SERVICE_STATS = ("calls", "errors", "timeouts", "latency_mean_s", "latency_max_s")


@dataclass
class RunSeries:
    """Everything the run report draws, one value per bin (bin i covers
    ``[i * width, (i + 1) * width)``; levels are taken at the end of the bin)."""

    bins: int
    width: float
    queues: list[str]
    depth: dict[str, list[int]]     # peak visible entries within the bin
    states: dict[str, list[int]]
    latency: dict[str, dict[int, list[float | None]]]
    counts: dict[str, list[int]]
    faults: list[tuple[float, float, str]] = field(default_factory=list)
    crashes: list[float] = field(default_factory=list)
    # job class -> percentile -> per-bin wait (None: nothing of the class started)
    class_latency: dict[str, dict[int, list[float | None]]] = field(default_factory=dict)
    # service -> stat (SERVICE_STATS) -> per-bin value: counts per bin; durations in s
    services: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)

    @property
    def end(self) -> float:
        return self.bins * self.width

    def times(self) -> list[float]:
        """Bin mid-points, seconds."""
        return [(i + 0.5) * self.width for i in range(self.bins)]


def end_time(history: History) -> float:
    """The horizon event's time if recorded, else the last event's time (at least 1 s)."""
    events = history.events
    for event in reversed(events[-10_000:]):
        if event[1] == "horizon":
            return max(float(event[0]), 1.0)
    return max(float(events[-1][0]), 1.0) if events else 1.0


def build(history: History, bins: int = DEFAULT_BINS) -> RunSeries:
    """Every series of the run report, from one pass over ``history.events``."""
    recorder = Recorder()
    recorder.feed(history.events)
    return recorder.series(end_time(history), bins)


class Recorder:
    """The single pass, fed the events in consecutive pieces (scenario/judge.py feeds it
    while the run records them), then binned once the run's end is known.

    ``feed`` keeps what a bin needs with its time, not its bin: the width is the run's
    end over the number of bins, and the end comes with the last event. ``series`` puts
    each time in its bin in one vectorised step (``int(t / width)`` as numpy computes
    it: the same IEEE product and truncation, so the same bin)."""

    _WORKING = ("job_state", "job_queue", "since", "copies", "once_keys", "job_cls")

    def __init__(self, filing: bool = True) -> None:
        self.filing = filing    # False: no numpy until ``series`` (the chart helper's)
        self.config: dict[str, Any] = {}
        self.state_moves: dict[str, tuple[list[float], list[float]]] = {
            s: ([], []) for s in STATES}                   # (times in, times out)
        self.pushes: dict[str, tuple[list[float], list[int]]] = {}  # times, levels reached
        self.pulls: dict[str, list[float]] = {}            # times a queue lost one
        self.depth_now: dict[str, int] = {}
        self.waits: dict[str, tuple[list[float], list[float]]] = {}  # start times, waits
        self.counts: dict[str, list[float]] = {name: [] for name in COUNTERS}
        self.open_faults: dict[tuple[str, str], list[float]] = {}
        self.faults: list[tuple[float, float, str]] = []
        self.crashes: list[float] = []
        self.job_cls: dict[str, str] = {}
        self.class_waits: dict[str, tuple[list[float], list[float]]] = {}
        self.traffic: dict[str, list[tuple[float, float]]] = {}
        self.job_state: dict[str, str] = {}
        self.job_queue: dict[str, str] = {}
        self.since: dict[str, float] = {}
        self.copies: dict[str, list[float]] = {}
        self.once_keys: set[Any] = set()
        self.horizon: float | None = None
        self.last = 0.0
        self.filed: dict[int, list[Any]] = {}   # id of a column -> its numpy pieces

    def _columns(self) -> Iterator[list[Any]]:
        """Every list the hot loop appends times, levels or waits to."""
        for pairs in (self.state_moves, self.pushes, self.waits, self.class_waits):
            for pair in pairs.values():
                yield from pair
        yield from self.pulls.values()
        yield from self.counts.values()

    def __getstate__(self) -> dict[str, Any]:
        """What ``series`` reads: the per-job working state of ``feed`` stays behind
        (a recorder sent to the chart helper is binned there, not fed)."""
        return {k: v for k, v in self.__dict__.items() if k not in self._WORKING}

    def _file(self) -> None:
        """Move each column's new values into a numpy piece, so that ``series`` has
        little left to convert when the run ends (the judge files after each slice)."""
        if not self.filing:
            return
        import numpy as np

        for column in self._columns():
            if column:
                self.filed.setdefault(id(column), []).append(np.array(column))
                column.clear()

    def _array(self, column: list[Any], dtype: Any) -> Any:
        import numpy as np

        pieces = [*self.filed.get(id(column), ()), np.array(column)]
        return np.concatenate(pieces).astype(dtype, copy=False)

    def _queue(self, name: str) -> tuple[list[float], list[int]]:
        pushed = self.pushes.get(name)
        if pushed is None:
            pushed = self.pushes[name] = ([], [])
            self.pulls[name] = []
            self.depth_now[name] = 0
            self.waits[name] = ([], [])
        return pushed

    def feed(self, events: list[tuple[Any, ...]]) -> None:
        """The hot loop: one if-chain per event, most frequent kinds first."""
        state_of, moves, counts = STATE_OF, self.state_moves, self.counts
        executions, failures, retries = counts["executions"], counts["failures"], counts["retries"]
        retried, dead, effects = counts["retried"], counts["dead"], counts["effects"]
        dup_effects, dup_runs = counts["dup_effects"], counts["dup_runs"]
        job_state, job_queue, since = self.job_state, self.job_queue, self.since
        copies, once_keys = self.copies, self.once_keys
        queue, now, pulls, all_waits = self._queue, self.depth_now, self.pulls, self.waits
        pushes = self.pushes
        job_cls, class_waits = self.job_cls, self.class_waits
        t = self.last
        for ev in events:
            t, kind, jid = ev[0], ev[1], ev[2]
            if kind == "start":
                executions.append(t)
                q = ev[3]
                pulled = pulls.get(q)
                if pulled is None:
                    queue(q)
                    pulled = pulls[q]
                pulled.append(t)
                now[q] -= 1
                at, waits = all_waits[q]
                if ev[6]:
                    dup_runs.append(t)
                    stack = copies.get(jid)
                    if stack:
                        at.append(t)
                        waits.append(t - stack.pop())
                    continue
                if ev[5] > 1:
                    retried.append(t)
                seen = since.pop(jid, None)
                if seen is not None:
                    at.append(t)
                    waits.append(t - seen)
                    cls = job_cls.get(jid, "(unknown)")
                    per_class = class_waits.get(cls)
                    if per_class is None:
                        per_class = class_waits[cls] = ([], [])
                    per_class[0].append(t)
                    per_class[1].append(t - seen)
            elif kind == "success":
                if ev[3]:
                    continue
            elif kind in _PUSH:
                q = ev[3]
                times, levels = pushes.get(q) or queue(q)
                level = now[q] = now[q] + 1
                times.append(t)
                levels.append(level)
                since[jid] = t
                job_queue[jid] = q
                if kind == "enqueue" and jid not in job_cls:
                    job_cls[jid] = ev[4]
            elif kind == "effect":
                effects.append(t)
                if ev[5]:
                    key = ev[3]
                    if key in once_keys:
                        dup_effects.append(t)
                    else:
                        once_keys.add(key)
                continue
            elif kind == "failure":
                failures.append(t)
                continue
            elif kind == "retry":
                retries.append(t)
            elif kind in ("dead", "discard"):
                if kind == "dead":
                    dead.append(t)
                if job_state.get(jid) == "enqueued" and jid in job_queue:
                    q = job_queue[jid]
                    queue(q)
                    pulls[q].append(t)
                    now[q] -= 1
                    since.pop(jid, None)
            elif kind == "copy":
                q = ev[3]
                times, levels = queue(q)
                level = now[q] = now[q] + 1
                times.append(t)
                levels.append(level)
                copies.setdefault(jid, []).append(t)
                continue
            elif kind in _BORN:             # schedule, defer: a class, then a state
                if jid not in job_cls:
                    job_cls[jid] = ev[_BORN[kind]]
            elif kind not in state_of:      # cancel falls through
                self._system_event(t, kind, ev)
                continue
            target = state_of.get(kind)
            if target is not None:
                old = job_state.get(jid)
                if old != target:
                    if old is not None:
                        moves[old][1].append(t)
                    moves[target][0].append(t)
                    job_state[jid] = target
        self.last = t
        self._file()

    def _system_event(self, t: float, kind: str, ev: tuple[Any, ...]) -> None:
        if kind == "sample":
            if ev[3].startswith(TRAFFIC):
                self.traffic.setdefault(ev[3], []).append((t, ev[4]))
        elif kind == "fault_start":
            self.open_faults.setdefault((ev[3], str(ev[4])), []).append(t)
        elif kind == "fault_end":
            starts = self.open_faults.get((ev[3], str(ev[4])))
            if starts:
                self.faults.append((starts.pop(0), t, _fault_label(ev[3], ev[4])))
        elif kind == "crash":
            self.crashes.append(t)
        elif kind == "config":
            self.config = ev[3] or {}
        elif kind == "horizon":
            self.horizon = t

    def end(self) -> float:
        """``end_time`` of the events fed: the horizon's time, else the last event's."""
        return max(float(self.horizon if self.horizon is not None else self.last), 1.0)

    def series(self, end: float, bins: int = DEFAULT_BINS) -> RunSeries:
        """Every series, the run split into ``bins`` bins up to ``end``."""
        import numpy as np

        width = end / bins
        inv, last = 1.0 / width, bins - 1

        def bin_of(times: list[float]) -> Any:
            return np.minimum((self._array(times, np.float64) * inv).astype(np.int64), last)

        def count(times: list[float]) -> list[int]:
            return [int(n) for n in np.bincount(bin_of(times), minlength=bins)]

        faults = list(self.faults)
        for (fault, target), starts in self.open_faults.items():
            faults.extend((s, bins * width, _fault_label(fault, target)) for s in starts)
        configured = [q[0] if isinstance(q, list | tuple) else q
                      for q in self.config.get("queues", [])]
        queues = list(dict.fromkeys([*configured, *sorted(self.pushes)]))
        for name in queues:
            self._queue(name)
        depth = {}
        for q in queues:
            times, levels = self.pushes[q]
            deltas = [a - b for a, b in zip(count(times), count(self.pulls[q]), strict=True)]
            peaks = np.zeros(bins, dtype=np.int64)
            np.maximum.at(peaks, bin_of(times), self._array(levels, np.int64))
            depth[q] = _peaks(deltas, [int(p) for p in peaks])
        states = {}
        for state, (into, out_of) in self.state_moves.items():
            states[state] = _cumsum([a - b for a, b in zip(count(into), count(out_of),
                                                            strict=True)])
        return RunSeries(
            bins=bins, width=width, queues=queues, depth=depth, states=states,
            latency={q: _percentiles(_grouped(bin_of(self.waits[q][0]),
                                              self._array(self.waits[q][1], np.float64),
                                              bins)) for q in queues},
            counts={name: count(times) for name, times in self.counts.items()},
            faults=sorted(faults), crashes=list(self.crashes),
            class_latency={c: _percentiles(_grouped(bin_of(w[0]),
                                                    self._array(w[1], np.float64), bins))
                           for c, w in sorted(self.class_waits.items())},
            services=_services(self.traffic, bins, width),
        )


def _grouped(bin_of_each: Any, values: Any, bins: int) -> list[list[float]]:
    """``values`` (an array) split by bin, each bin's in recording order."""
    import numpy as np

    order = np.argsort(bin_of_each, kind="stable")
    ordered = values[order].tolist()
    ends = np.cumsum(np.bincount(bin_of_each, minlength=bins)).tolist()
    return [ordered[a:b] for a, b in zip([0, *ends], ends, strict=False)]


def _fault_label(fault: str, target: Any) -> str:
    return fault if target in (None, "None", "") else f"{fault} {target}"


def _cumsum(deltas: list[int]) -> list[int]:
    total, out = 0, []
    for d in deltas:
        total += d
        out.append(total)
    return out


def _peaks(deltas: list[int], pushed_peaks: list[int]) -> list[int]:
    """Peak depth per bin: the highest level a push reached in it, or the level it began
    or ended with (a bin with only fetches peaks at its start)."""
    out, before = [], 0
    for after, pushed in zip(_cumsum(deltas), pushed_peaks, strict=True):
        out.append(max(0, before, after, pushed))
        before = after
    return out


def _percentiles(per_bin: list[list[float]]) -> dict[int, list[float | None]]:
    """Nearest-rank percentiles of the waits of each bin (None for a bin with no start)."""
    out: dict[int, list[float | None]] = {p: [] for p in PERCENTILES}
    for waits in per_bin:
        if not waits:
            for p in PERCENTILES:
                out[p].append(None)
            continue
        waits.sort()
        n = len(waits)
        for p in PERCENTILES:
            out[p].append(waits[max(1, -(-p * n // 100)) - 1])
    return out


def _services(traffic: dict[str, list[tuple[float, float]]], bins: int,
              width: float) -> dict[str, dict[str, list[float | None]]]:
    """Per-bin service figures from the running-total gauges (see the module doc)."""
    names = sorted({n[len(TRAFFIC):].rpartition(".")[0] for n in traffic})
    interval = _sample_interval(traffic)
    if interval > width:        # a short run: several bins per sample
        return {name: _spread(traffic, name, bins, width, interval) for name in names}
    out = {}
    for name in names:
        def at_edges(stat: str, name: str = name) -> list[float]:
            return _held(traffic.get(f"{TRAFFIC}{name}.{stat}", []), bins, width)

        calls, errors, timeouts = at_edges("calls"), at_edges("errors"), at_edges("timeouts")
        ended, total = at_edges("ended"), at_edges("latency_total_s")
        longest = _bin_max(traffic.get(f"{TRAFFIC}{name}.latency_max_s", []), bins, width)
        series: dict[str, list[float | None]] = {
            "calls": _diff(calls), "errors": _diff(errors), "timeouts": _diff(timeouts)}
        done, spent = _diff(ended), _diff(total)
        series["latency_mean_s"] = [s / n if n else None for s, n in zip(spent, done,
                                                                         strict=True)]
        series["latency_max_s"] = [m if n else None for m, n in zip(longest, done, strict=True)]
        out[name] = series
    return out


def _sample_interval(traffic: dict[str, list[tuple[float, float]]]) -> float:
    """The sampler's interval, read off the sample times: the shortest gap between two
    of them, the last left out (the sampler's final read comes at the run's end, off
    its grid). 0 when there are too few samples to tell."""
    times = sorted({t for samples in traffic.values() for t, _ in samples})[:-1]
    return min((b - a for a, b in pairwise(times)), default=0.0)


def _spread(traffic: dict[str, list[tuple[float, float]]], name: str, bins: int,
            width: float, interval: float) -> dict[str, list[float | None]]:
    """One service's per-bin figures when a bin is shorter than the sampling interval
    (a run shorter than 300 samples): what a sample counts happened in the interval it
    closes, so it is spread over that interval's bins in proportion to their overlap.
    Binned at the sample's instant instead, most bins would show no call and no
    duration, and the duration lines would not be drawn at all."""
    edges = sorted({t for samples in traffic.values() for t, _ in samples})
    opened = dict(zip(edges[1:], edges, strict=False))

    def window(t: float) -> tuple[float, float]:
        return max(t - interval, opened.get(t, 0.0), 0.0), t

    def spread(stat: str) -> list[float]:
        out, before = [0.0] * bins, 0.0
        for t, total in traffic.get(f"{TRAFFIC}{name}.{stat}", []):
            delta, before = max(0.0, total - before), total
            start, end = window(t)
            if end <= start:
                out[min(bins - 1, max(0, int((t - 1e-9) / width)))] += delta
                continue
            for b in range(max(0, int(start / width)), min(bins, int(end / width) + 1)):
                overlap = min(end, (b + 1) * width) - max(start, b * width)
                if overlap > 0:
                    out[b] += delta * overlap / (end - start)
        return out

    longest: list[float] = [0.0] * bins
    for t, value in traffic.get(f"{TRAFFIC}{name}.latency_max_s", []):
        start, end = window(t)
        for b in range(max(0, int(start / width)), min(bins, int((end - 1e-9) / width) + 1)):
            longest[b] = max(longest[b], value)
    done, spent = spread("ended"), spread("latency_total_s")
    return {"calls": spread("calls"), "errors": spread("errors"),
            "timeouts": spread("timeouts"),
            "latency_mean_s": [x / n if n > 1e-9 else None for x, n in zip(spent, done,
                                                                            strict=True)],
            "latency_max_s": [m if n > 1e-9 else None for m, n in zip(longest, done,
                                                                      strict=True)]}


def _held(samples: list[tuple[float, float]], bins: int, width: float) -> list[float]:
    """A held gauge's value at each bin edge (bins + 1 values; 0 before its first sample).
    A sample at an edge's instant counts for that edge (it closes the interval before)."""
    out, i, value = [], 0, 0.0
    for edge in range(bins + 1):
        limit = edge * width + 1e-9
        while i < len(samples) and samples[i][0] <= limit:
            value = samples[i][1]
            i += 1
        out.append(value)
    if samples:
        out[-1] = samples[-1][1]        # the final read closes the last bin
    return out


def _diff(edges: list[float]) -> list[float]:
    return [max(0.0, b - a) for a, b in pairwise(edges)]


def _bin_max(samples: list[tuple[float, float]], bins: int, width: float) -> list[float]:
    """The largest value sampled in each bin (a sample closes the interval before it)."""
    out = [0.0] * bins
    for t, value in samples:
        b = min(bins - 1, max(0, int((t - 1e-9) / width)))
        out[b] = max(out[b], value)
    return out
