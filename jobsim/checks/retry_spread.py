"""Retry spread: each retry delay is one its policy can produce, no job exceeds its retry
budget, and jobs that failed together do not all come back together.

Why: retries are what turn a short outage into a long one. A delay outside the policy's
bounds means the system is not running the policy it claims; attempts beyond
``max_retries + 1`` hammer a failing dependency forever; and a herd of jobs that failed
at the same moment and retries at the same moment re-creates the overload that made it
fail (the thundering herd that jitter exists to break, AWS "Exponential Backoff And
Jitter", 2015).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from jobsim.backoff import parse
from jobsim.checks.options import Option
from jobsim.checks.result import MAX_EXAMPLES, CheckResult, verdict
from jobsim.history.events import index
from jobsim.history.history import History

NAME = "retry_spread"
DEFAULT_RETRIES = 25  # Sidekiq's `retry: true`
_DECLARES = ("enqueue", "schedule", "defer")  # events carrying the job's `retry` option
_RETRY_AT = {kind: index(kind, "retry") for kind in _DECLARES}
_START_ATTEMPT, _START_DUP = index("start", "attempt"), index("start", "dup")
_FAIL_ATTEMPT, _FAIL_DUP = index("failure", "attempt"), index("failure", "dup")
_IGNORED = frozenset({"success", "effect"})  # the commonest kinds this check skips


OPTIONS = {
    "window_s": Option("positive", "the width of the window a herd falls due in, seconds"),
    "require_spread": Option("bool", "a synchronised group is a violation (else only stats)"),
    "min_group": Option("count", "groups smaller than this are not judged for spread"),
    "alpha": Option("fraction", "the chance below which a synchronised group is no accident"),
}


def check(history: History, config: Mapping[str, Any] | None = None, window_s: float = 60.0,
          require_spread: bool = True, min_group: int = 10, alpha: float = 1e-6) -> CheckResult:
    """(a) Bounds: every ``retry`` delay lies in ``parse(policy).bounds(count)`` (policy
    "custom" is skipped: a retry_in hook chose it) and ``due == t + delay`` (1e-6 s).

    (b) Budget: a job's highest attempt (``attempt`` of its non-dup starts and failures;
    a crash-recovered re-run keeps its attempt number, so it is no new attempt) is at
    most ``max_retries + 1``, and no retry has ``count >= max_retries``. The budget is
    the ``max_retries`` of the job's retry events, else its enqueue ``retry`` option
    (True or None -> 25, False -> 0, N -> N). One violation per job.

    (c) Spread. Retries are grouped by (policy, count, failure time // window_s): jobs
    that failed together at the same stage. For each group of k jobs we measure the peak
    number of retries due in any window_s window and the expected peak if the delays
    were spread uniformly over the policy's width w (plus the group's failure-time
    span s): ``k * window / (w + s)``, clamped to [1, k]. ``peak_ratio`` (sum of peaks
    over sum of expected peaks) and ``max_ratio`` cover groups of at least ``min_group``;
    ``peak_per_window`` is the busiest window over all retries.

    A group of k >= min_group whose retries all fall due within one window is
    *synchronised*. With ``require_spread`` it is a violation ("herd") when either
      - the policy has no jitter at that count (w == 0): the herd is deterministic; or
      - the policy promised spread: the chance that k independent uniform draws over w
        all land within window + s is below ``alpha`` (range of k uniforms:
        ``k r**(k-1) - (k-1) r**k`` with ``r = (window + s) / w``).
    Jitter narrower than the window (e.g. Sidekiq's early counts, 10*(count+1) s) thus
    passes: it spreads at a finer grain than this check measures. Decorrelated jitter's
    pile-up at its cap is flagged: its loose bounds promise a spread it does not give.
    "custom" groups count as synchronised but are never violations (no known width).
    """
    spread = Stream(window_s, require_spread, min_group, alpha)
    spread.feed(history.events, 0)
    return spread.finish()


def stream(config: Mapping[str, Any] | None = None, window_s: float = 60.0,
           require_spread: bool = True, min_group: int = 10, alpha: float = 1e-6) -> Stream:
    """The check fed the history in pieces (``registry.stream``)."""
    return Stream(window_s, require_spread, min_group, alpha)


class Stream:
    """``check``'s pass, fed the events in consecutive pieces."""

    def __init__(self, window_s: float, require_spread: bool, min_group: int,
                 alpha: float) -> None:
        self.window_s, self.require_spread = window_s, require_spread
        self.min_group, self.alpha = min_group, alpha
        self.budgets: dict[Any, int] = {}
        self.declared: dict[Any, int] = {}
        self.attempts: dict[Any, tuple[int, float]] = {}
        self.groups: dict[tuple[str, int, int], list[Any]] = {}
        self.examples: list[dict[str, Any]] = []
        self.over: dict[Any, dict[str, Any]] = {}
        self.bad = self.retries = 0

    def feed(self, events: Sequence[tuple[Any, ...]], start: int) -> None:
        budgets, declared, attempts = self.budgets, self.declared, self.attempts
        groups, examples, over, window_s = self.groups, self.examples, self.over, self.window_s
        bad, retries = self.bad, self.retries
        for event in events:
            kind = event[1]
            if kind == "retry":
                retries += 1
                t, _, jid, count, delay, due, spec, max_retries = event
                max_retries = _budget(max_retries)
                if max_retries is not None:
                    budgets[jid] = max_retries
                if max_retries is not None and count >= max_retries and jid not in over:
                    over[jid] = {"what": "over_budget", "jid": jid, "t": t, "count": count,
                                 "max_retries": max_retries}
                problem = _bounds_problem(t, count, delay, due, spec)
                if problem is not None:
                    bad += 1
                    if len(examples) < MAX_EXAMPLES:
                        examples.append({"jid": jid, "t": t, "count": count, "delay": delay,
                                         "due": due, "policy": spec, **problem})
                key = (spec, count, math.floor(t / window_s))
                group = groups.get(key)
                if group is None:
                    groups[key] = [[due], t, t, jid]
                else:
                    group[0].append(due)
                    group[2] = t
            elif kind == "start":
                if not event[_START_DUP]:
                    _attempt(attempts, event[2], event[_START_ATTEMPT], event[0])
            elif kind in _IGNORED:
                continue
            elif kind == "failure":
                if not event[_FAIL_DUP]:
                    _attempt(attempts, event[2], event[_FAIL_ATTEMPT], event[0])
            elif kind in _RETRY_AT:
                budget = _budget(event[_RETRY_AT[kind]])
                if budget is not None:
                    declared[event[2]] = budget
        self.bad, self.retries = bad, retries

    def finish(self) -> CheckResult:
        budgets, declared, attempts, over = self.budgets, self.declared, self.attempts, self.over
        for jid, (attempt, t) in attempts.items():
            budget = budgets.get(jid, declared.get(jid))
            if budget is not None and attempt > budget + 1 and jid not in over:
                over[jid] = {"what": "over_budget", "jid": jid, "t": t, "attempts": attempt,
                             "max_retries": budget}
        spread = _spread(self.groups, self.window_s, self.min_group, self.alpha,
                         self.require_spread)
        examples = _mix(self.examples, list(over.values())[:MAX_EXAMPLES],
                        spread.pop("herds"))
        herds = spread["herd_groups"]
        return verdict(NAME, examples, self.bad + len(over) + herds, retries=self.retries,
                       out_of_bounds=self.bad, over_budget=len(over),
                       max_attempt=max((a for a, _ in attempts.values()), default=0),
                       window_s=self.window_s, **spread)


def _mix(*kinds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Round-robin over the example lists, so every kind of violation gets shown."""
    out: list[dict[str, Any]] = []
    for row in range(MAX_EXAMPLES):
        out.extend(examples[row] for examples in kinds if row < len(examples))
    return out


def _attempt(attempts: dict[Any, tuple[int, float]], jid: Any, attempt: int, t: float) -> None:
    seen = attempts.get(jid)
    if seen is None or attempt > seen[0]:
        attempts[jid] = (attempt, t)


def _budget(option: Any) -> int | None:
    """Sidekiq's `retry` option as a number of retries (nil means the default, 25)."""
    if option is True or option is None:
        return DEFAULT_RETRIES
    if option is False:
        return 0
    return option if isinstance(option, int) else None


@cache
def _limits(spec: str, count: int) -> tuple[float, float] | None:
    """``parse(spec).bounds(count)``, memoised (a few specs, thousands of retries each);
    None when the spec does not parse."""
    try:
        return parse(spec).bounds(count)
    except ValueError:
        return None


def _bounds_problem(t: float, count: int, delay: float, due: float,
                    spec: str) -> dict[str, Any] | None:
    if abs(due - (t + delay)) > 1e-6:
        return {"what": "due_mismatch", "expected_due": t + delay}
    if spec == "custom":
        return None
    limits = _limits(spec, count)
    if limits is None:
        return {"what": "bad_policy"}
    lo, hi = limits
    slack = 1e-6 + 1e-9 * abs(hi)
    if lo - slack <= delay <= hi + slack:
        return None
    return {"what": "delay_out_of_bounds", "bounds": [lo, hi]}


def peak_in_window(times: Sequence[float], window_s: float) -> int:
    """Most of ``times`` inside any closed interval of length window_s (sorts a copy)."""
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        best = max(best, bisect_right(ordered, start + window_s, lo=i) - i)
    return best


def chance_synchronised(k: int, ratio: float) -> float:
    """P(k iid uniform draws span at most ``ratio`` of their interval's width)."""
    if ratio >= 1.0:
        return 1.0
    return k * ratio ** (k - 1) - (k - 1) * ratio**k


def _spread(groups: dict[tuple[str, int, int], list[Any]], window_s: float, min_group: int,
            alpha: float, require_spread: bool) -> dict[str, Any]:
    peaks = expected = 0.0
    max_ratio: float | None = None
    synchronised = herd_count = 0
    herds: list[dict[str, Any]] = []
    all_dues: list[float] = []
    for (spec, count, _), (dues, t_first, t_last, jid) in groups.items():
        all_dues.extend(dues)
        k = len(dues)
        if k < min_group:
            continue
        peak = peak_in_window(dues, window_s)
        width = _width(spec, count)
        span = t_last - t_first
        if peak == k:
            synchronised += 1
        if width is None:
            continue
        effective = width + span
        exp_peak = k if effective <= window_s else min(k, max(1.0, k * window_s / effective))
        peaks += peak
        expected += exp_peak
        max_ratio = max(max_ratio or 0.0, peak / exp_peak)
        herd = peak == k and (
            width == 0 or chance_synchronised(k, (window_s + span) / width) < alpha)
        if require_spread and herd:
            herd_count += 1
            if len(herds) < MAX_EXAMPLES:
                herds.append({"what": "herd", "jid": jid, "t": t_first, "count": count,
                              "policy": spec, "jobs": k, "due_from": min(dues),
                              "due_to": max(dues), "width": width})
    return {"groups": len(groups), "synchronised_groups": synchronised,
            "herd_groups": herd_count, "herds": herds,
            "peak_per_window": peak_in_window(all_dues, window_s),
            "peak_ratio": peaks / expected if expected else None, "max_ratio": max_ratio}


def _width(spec: str, count: int) -> float | None:
    limits = None if spec == "custom" else _limits(spec, count)
    return None if limits is None else limits[1] - limits[0]
