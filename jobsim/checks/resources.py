"""Resources: connections and temp files are returned, memory does not grow with work.

Why: the seed's workers grew to 48 GB because long jobs kept connections and temp files;
nothing failed until the machine did. A leak shows only as a trend in gauges, so this
reads the ``sample(name, value)`` events: ``pool.NAME.in_use``, ``tempfiles.count``,
``tempfiles.bytes`` and ``memory.WORKER`` (bytes).

Rules:

- Released (only when a ``horizon`` exists): the last sample of every pool's ``in_use``
  and of ``tempfiles.count`` is 0. The rule applies only when no execution was in flight
  at that last sample (a running job legitimately holds a connection); otherwise the
  stats say ``final_idle: False`` and nothing is judged.
- Memory: per worker life (samples after a crash/restart start afresh: a new process),
  with at least 4 samples, the last sample taken while the worker ran nothing must not
  exceed the median of the first quarter of that life's samples by both a factor
  ``growth_tolerance`` (default 1.5) and ``growth_min_bytes`` (default 1 MiB). Samples
  taken mid-job hold the running jobs' memory, not a leak: a life cut short by a crash
  ends on such a sample, and judging it there would blame the crash on the code. A
  warm-up plateau passes; steady growth does not.
  The growth per 1000 succeeded jobs (least-squares slope of memory against the count of
  non-dup successes before each sample) is reported to show the trend.
"""

from __future__ import annotations

from collections.abc import Mapping
from statistics import median
from typing import Any

from jobsim.checks.no_loss import InFlight
from jobsim.checks.options import Option
from jobsim.checks.result import MAX_EXAMPLES, CheckResult, verdict
from jobsim.history.events import index
from jobsim.history.history import History

MIN_SAMPLES = 4
_NAME, _VALUE = index("sample", "name"), index("sample", "value")
_START_WORKER, _START_DUP = index("start", "worker"), index("start", "dup")
_SUCCESS_DUP, _FAILURE_DUP = index("success", "dup"), index("failure", "dup")
_REQUEUE_WORKER = index("requeue", "worker")
_WORKER = {k: index(k, "worker") for k in ("crash", "stop", "restart")}

Life = list[tuple[float, float, int, bool]]  # (t, bytes, successes so far, worker idle)


class _Gauge:
    __slots__ = ("idle", "last", "peak", "t")

    def __init__(self) -> None:
        self.last = self.peak = 0.0
        self.t = 0.0
        self.idle = True


class _Samples:
    """One pass: gauges, worker lives, executions in flight, successes so far."""

    def __init__(self) -> None:
        self.gauges: dict[str, _Gauge] = {}
        self.lives: dict[str, list[Life]] = {}
        self.flight = InFlight()
        self.successes = 0
        self.horizon = False

    def run(self, history: History) -> None:
        flight = self.flight
        for ev in history.events:
            kind = ev[1]
            if kind == "sample":
                self._sample(ev[0], ev[_NAME], ev[_VALUE])
            elif kind == "start":
                flight.start(ev[2], ev[_START_WORKER], ev[_START_DUP])
            elif kind == "success":
                flight.finish(ev[2], ev[_SUCCESS_DUP])
                self.successes += not ev[_SUCCESS_DUP]
            elif kind == "failure":
                flight.finish(ev[2], ev[_FAILURE_DUP])
            elif kind == "requeue":
                flight.requeue(ev[2], ev[_REQUEUE_WORKER])
            elif kind in _WORKER:
                self._worker(kind, ev[_WORKER[kind]])
            elif kind == "horizon":
                self.horizon = True

    def _worker(self, kind: str, worker: str) -> None:
        if kind != "restart":
            self.flight.stop_worker(worker)
        lives = self.lives.get(worker)
        if lives and lives[-1]:
            lives.append([])  # the next samples belong to a new process

    def _sample(self, t: float, name: str, value: float) -> None:
        if name.startswith("memory."):
            worker = name[len("memory."):]
            idle = not self.flight.by_worker.get(worker)
            self.lives.setdefault(worker, [[]])[-1].append((t, value, self.successes, idle))
            return
        gauge = self.gauges.get(name)
        if gauge is None:
            gauge = self.gauges[name] = _Gauge()
        gauge.last, gauge.t, gauge.idle = value, t, self.flight.count == 0
        gauge.peak = max(gauge.peak, value)


def _slope_per_1000(life: Life) -> float | None:
    """Least-squares bytes per 1000 succeeded jobs; None when no job finished meanwhile."""
    xs = [s for _, _, s, _ in life]
    ys = [v for _, v, _, _ in life]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return 1000 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def _memory(worker: str, lives: list[Life], ratio: float, min_bytes: float
            ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Stats of a worker's memory and its growth violations (one per process life)."""
    found = []
    for life in lives:
        if len(life) < MIN_SAMPLES:
            continue
        base = median(v for _, v, _, _ in life[: len(life) // 4])
        at_rest = [sample for sample in life if sample[3]]
        if not at_rest:
            continue
        t_end, end, _, _ = at_rest[-1]
        if end > ratio * base and end - base > min_bytes:
            found.append({"jid": None, "t": t_end, "what": "memory growth", "worker": worker,
                          "baseline": base, "end": end, "per_1000_jobs": _slope_per_1000(life)})
    last = next((life for life in reversed(lives) if life), [])
    stats = {
        "start": last[0][1] if last else None,
        "end": last[-1][1] if last else None,
        "peak": max((v for life in lives for _, v, _, _ in life), default=None),
        "lives": sum(1 for life in lives if life),
        "growth_per_1000_jobs": _slope_per_1000(last) if last else None,
    }
    return stats, found


def _must_be_zero(name: str) -> bool:
    return name == "tempfiles.count" or (name.startswith("pool.") and name.endswith(".in_use"))


OPTIONS = {
    "growth_tolerance": Option("positive", "a life's peak memory may reach this multiple of "
                               "its early peak before it counts as growth"),
    "growth_min_bytes": Option("number", "growth below this many bytes is never a leak"),
}


def check(history: History, config: Mapping[str, Any] | None = None,
          growth_tolerance: float = 1.5, growth_min_bytes: float = 1024 * 1024) -> CheckResult:
    """Verdict on pool and temp-file release at the horizon, and on memory growth."""
    samples = _Samples()
    samples.run(history)
    examples: list[dict[str, Any]] = []
    violations = 0
    memory = {}
    for worker, lives in sorted(samples.lives.items()):
        memory[worker], found = _memory(worker, lives, growth_tolerance, growth_min_bytes)
        violations += len(found)
        examples += found
    gauges = samples.gauges
    final_idle = all(g.idle for n, g in gauges.items() if _must_be_zero(n))
    for name, gauge in sorted(gauges.items()):
        if samples.horizon and _must_be_zero(name) and gauge.idle and gauge.last > 0:
            violations += 1
            examples.insert(0, {"jid": None, "t": gauge.t, "what": "not released at the end",
                                "name": name, "value": gauge.last})
    pools = {n[len("pool."):-len(".in_use")]: {"peak": g.peak, "last": g.last}
             for n, g in sorted(gauges.items()) if _must_be_zero(n) and n.startswith("pool.")}
    temp = {f"{stat}_{n.split('.')[1]}": getattr(g, stat)
            for n, g in gauges.items() if n.startswith("tempfiles.") for stat in ("peak", "last")}
    return verdict(
        "resources", examples[:MAX_EXAMPLES], violations, pools=pools,
        tempfiles=dict(sorted(temp.items())), memory=memory, final_idle=final_idle,
        horizon=samples.horizon,
    )
