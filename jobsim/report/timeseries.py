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
    acc = _Accumulator(bins, end_time(history) / bins)
    acc.feed_all(history.events)
    return acc.result()


class _Accumulator:
    """The state of the single pass; ``feed_all`` is the hot loop."""

    def __init__(self, bins: int, width: float) -> None:
        self.bins, self.width = bins, width
        self.config: dict[str, Any] = {}
        self.state_delta = {s: [0] * bins for s in STATES}
        self.depth_delta: dict[str, list[int]] = {}
        self.depth_peak: dict[str, list[int]] = {}
        self.depth_now: dict[str, int] = {}
        self.waits: dict[str, list[list[float]]] = {}
        self.counts = {name: [0] * bins for name in COUNTERS}
        self.open_faults: dict[tuple[str, str], list[float]] = {}
        self.faults: list[tuple[float, float, str]] = []
        self.crashes: list[float] = []
        self.job_cls: dict[str, str] = {}
        self.class_waits: dict[str, list[list[float]]] = {}
        self.traffic: dict[str, list[tuple[float, float]]] = {}

    def _queue(self, name: str) -> tuple[list[int], list[list[float]]]:
        depth = self.depth_delta.get(name)
        if depth is None:
            depth = self.depth_delta[name] = [0] * self.bins
            self.depth_peak[name] = [0] * self.bins
            self.depth_now[name] = 0
            self.waits[name] = [[] for _ in range(self.bins)]
        return depth, self.waits[name]

    def feed_all(self, events: list[tuple[Any, ...]]) -> None:
        """The hot loop: one if-chain per event, most frequent kinds first."""
        inv, last = 1.0 / self.width, self.bins - 1
        state_of, state_delta, counts = STATE_OF, self.state_delta, self.counts
        executions, failures, retries = counts["executions"], counts["failures"], counts["retries"]
        retried, dead, effects = counts["retried"], counts["dead"], counts["effects"]
        dup_effects, dup_runs = counts["dup_effects"], counts["dup_runs"]
        job_state: dict[str, str] = {}
        job_queue: dict[str, str] = {}
        since: dict[str, float] = {}
        copies: dict[str, list[float]] = {}
        once_keys: set[Any] = set()
        queue, now, peak = self._queue, self.depth_now, self.depth_peak
        job_cls, class_waits, bins = self.job_cls, self.class_waits, self.bins
        depth_delta, all_waits = self.depth_delta, self.waits   # _queue's dicts, read inline
        for ev in events:
            t, kind, jid = ev[0], ev[1], ev[2]
            b = int(t * inv)
            if b > last:
                b = last
            if kind == "start":
                executions[b] += 1
                q = ev[3]
                depth = depth_delta.get(q)
                if depth is None:
                    depth, waits = queue(q)
                else:
                    waits = all_waits[q]
                depth[b] -= 1
                now[q] -= 1
                if ev[6]:
                    dup_runs[b] += 1
                    stack = copies.get(jid)
                    if stack:
                        waits[b].append(t - stack.pop())
                    continue
                if ev[5] > 1:
                    retried[b] += 1
                seen = since.pop(jid, None)
                if seen is not None:
                    waits[b].append(t - seen)
                    cls = job_cls.get(jid, "(unknown)")
                    per_class = class_waits.get(cls)
                    if per_class is None:
                        per_class = class_waits[cls] = [[] for _ in range(bins)]
                    per_class[b].append(t - seen)
            elif kind == "success":
                if ev[3]:
                    continue
            elif kind in _PUSH:
                q = ev[3]
                depth = depth_delta.get(q)
                if depth is None:
                    depth = queue(q)[0]
                depth[b] += 1
                level = now[q] = now[q] + 1
                if level > peak[q][b]:
                    peak[q][b] = level
                since[jid] = t
                job_queue[jid] = q
                if kind == "enqueue" and jid not in job_cls:
                    job_cls[jid] = ev[4]
            elif kind == "effect":
                effects[b] += 1
                if ev[5]:
                    key = ev[3]
                    if key in once_keys:
                        dup_effects[b] += 1
                    else:
                        once_keys.add(key)
                continue
            elif kind == "failure":
                failures[b] += 1
                continue
            elif kind == "retry":
                retries[b] += 1
            elif kind in ("dead", "discard"):
                if kind == "dead":
                    dead[b] += 1
                if job_state.get(jid) == "enqueued" and jid in job_queue:
                    q = job_queue[jid]
                    queue(q)[0][b] -= 1
                    now[q] -= 1
                    since.pop(jid, None)
            elif kind == "copy":
                q = ev[3]
                queue(q)[0][b] += 1
                level = now[q] = now[q] + 1
                if level > peak[q][b]:
                    peak[q][b] = level
                copies.setdefault(jid, []).append(t)
                continue
            elif kind not in state_of:      # schedule, defer, cancel fall through
                self._system_event(t, kind, ev)
                continue
            target = state_of.get(kind)
            if target is not None:
                old = job_state.get(jid)
                if old != target:
                    if old is not None:
                        state_delta[old][b] -= 1
                    state_delta[target][b] += 1
                    job_state[jid] = target

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
        elif kind in _BORN and ev[2] not in self.job_cls:
            self.job_cls[ev[2]] = ev[_BORN[kind]]

    def result(self) -> RunSeries:
        end = self.bins * self.width
        for (fault, target), starts in self.open_faults.items():
            self.faults.extend((s, end, _fault_label(fault, target)) for s in starts)
        configured = [q[0] if isinstance(q, list | tuple) else q
                      for q in self.config.get("queues", [])]
        queues = list(dict.fromkeys([*configured, *sorted(self.depth_delta)]))
        for name in queues:
            self._queue(name)
        return RunSeries(
            bins=self.bins, width=self.width, queues=queues,
            depth={q: _peaks(self.depth_delta[q], self.depth_peak[q]) for q in queues},
            states={s: _cumsum(d) for s, d in self.state_delta.items()},
            latency={q: _percentiles(self.waits[q]) for q in queues},
            counts=self.counts, faults=sorted(self.faults), crashes=self.crashes,
            class_latency={c: _percentiles(w) for c, w in sorted(self.class_waits.items())},
            services=_services(self.traffic, self.bins, self.width),
        )


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
