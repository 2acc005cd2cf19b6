"""Priority: queues are served in the configured order, share and latency.

Why: the seed's Black Friday put payment jobs behind 80,000 analytics jobs. Queue
selection (docs/semantics.md, Queue selection) is the safeguard; this checks it did its job:

(a) strict mode: a fetch from queue q while a queue ranked above q had a visible job is a
    violation. A job made visible at the very instant of the fetch does not count: the
    fetch and the push are concurrent at that instant and either order is legal.
(b) weighted mode: over fetches made while *every* configured queue had a visible job,
    queue i must come first with probability w_i / sum(w) (random mode: equal shares).
    A chi-square goodness-of-fit test judges the counts; a violation is p < alpha with at
    least ``MIN_FETCHES`` such fetches (fewer cannot tell a bias from noise).
(c) latency bounds (option, else config ``latency_bounds``): a job's wait, from becoming
    visible in its queue (enqueue, promote, requeue, recover, release) to its start, must
    not exceed its queue's bound. A job still in its queue at the horizon (``held``) has
    waited at least that long, and is judged by the same bound.

With Sidekiq 7 capsules (config ``capsules``) rules (a) and (b) apply per capsule, as
far as the history can tell which capsule fetched (``_Capsules``).

Visibility is tracked per jid from the event that made it visible, so waits are exact
even though a requeue jumps the FIFO. Every start consumes one visible copy (dup=1 too: a
duplicate copy was a separate queue entry). A start is assumed to be recorded at its fetch
instant. Enqueues with ack False count as visible (the push usually landed). Percentiles
are nearest-rank: the smallest wait with at least p % of the waits at or below it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jobsim.checks.options import Option
from jobsim.checks.result import MAX_EXAMPLES, CheckResult, verdict
from jobsim.history.events import index
from jobsim.history.history import History

MIN_FETCHES = 50
_PUSHES = {k: index(k, "queue") for k in ("enqueue", "promote", "requeue", "recover", "release")}
_START_QUEUE = index("start", "queue")
_HELD_WHERE = index("held", "where")
_FAILURE_DUP = index("failure", "dup")
_IGNORED = frozenset({"success", "effect", "sample"})  # kinds QueueTracker.feed ignores
_EPS = 1e-15
_MAX_ITER = 10_000


# ---- chi-square survival function (no scipy) -----------------------------------------

def chi2_sf(x: float, dof: int) -> float:
    """P(X >= x) for X ~ chi-square(dof): the regularized upper incomplete gamma Q(k/2, x/2)."""
    if x <= 0:
        return 1.0
    a, y = dof / 2.0, x / 2.0
    if y < a + 1:
        return max(0.0, 1.0 - _gamma_p_series(a, y))
    return _gamma_q_fraction(a, y)


def _prefactor(a: float, x: float) -> float:
    return math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_p_series(a: float, x: float) -> float:
    """Lower regularized gamma P(a, x) by its power series (converges fast for x < a+1)."""
    term = total = 1.0 / a
    ap = a
    for _ in range(_MAX_ITER):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * _prefactor(a, x)


def _gamma_q_fraction(a: float, x: float) -> float:
    """Upper regularized gamma Q(a, x) by its continued fraction (modified Lentz)."""
    tiny = 1e-300
    b = x + 1.0 - a
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return _prefactor(a, x) * h


def percentile(ordered: list[float], p: int) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not ordered:
        return 0.0
    rank = max(1, -(-p * len(ordered) // 100))
    return ordered[rank - 1]


# ---- queue visibility ------------------------------------------------------------------

class QueueTracker:
    """Visible jobs per queue, when each became visible, and every fetched job's wait.

    Plain dicts rather than Counters, and a fast path for the usual case (a jid with one
    visible copy, in the queue it is fetched from): this runs once per event of a
    half-million-event history.
    """

    def __init__(self) -> None:
        self.depth: dict[str, int] = {}
        self.max_depth: dict[str, int] = {}
        self.fetched: dict[str, int] = {}
        self.waits: dict[str, list[float]] = {}
        self.fresh: dict[str, tuple[float, int]] = {}  # queue -> (instant, pushes then)
        self.visible: dict[str, list[tuple[str, float]]] = {}  # jid -> [(queue, since)]
        self.failed: set[str] = set()  # non-dup failure seen, outcome event pending

    def feed(self, ev: tuple[Any, ...]) -> float | None:
        """Apply one event; for a start return the job's wait (None when unknown)."""
        kind = ev[1]
        if kind == "start":
            return self.fetch(ev[_START_QUEUE], ev[2], ev[0])
        if kind in _PUSHES:
            self.push(ev[_PUSHES[kind]], ev[2], ev[0])
        elif kind == "failure" and not ev[_FAILURE_DUP]:
            self.failed.add(ev[2])
        elif kind in ("retry", "dead", "discard"):
            if ev[2] in self.failed:
                self.failed.discard(ev[2])  # the outcome of a failed execution
            elif kind != "retry":
                self._take(ev[2], None)  # replaced or rejected while waiting in a queue
        return None

    def push(self, queue: str, jid: str, t: float) -> None:
        fresh = self.fresh.get(queue)
        self.fresh[queue] = (t, fresh[1] + 1) if fresh is not None and fresh[0] == t else (t, 1)
        depth = self.depth[queue] = self.depth.get(queue, 0) + 1
        if depth > self.max_depth.get(queue, 0):
            self.max_depth[queue] = depth
        copies = self.visible.get(jid)
        if copies is None:
            self.visible[jid] = [(queue, t)]
        else:
            copies.append((queue, t))

    def fetch(self, queue: str, jid: str, t: float) -> float | None:
        self.fetched[queue] = self.fetched.get(queue, 0) + 1
        since = self._take(jid, queue)
        if since is None:
            return None
        wait = t - since
        waits = self.waits.get(queue)
        if waits is None:
            self.waits[queue] = [wait]
        else:
            waits.append(wait)
        return wait

    def waiting_before(self, queue: str, t: float) -> int:
        """Jobs visible in ``queue`` that became visible strictly before instant ``t``."""
        fresh = self.fresh.get(queue)
        depth = self.depth.get(queue, 0)
        return depth - fresh[1] if fresh is not None and fresh[0] == t else depth

    def _take(self, jid: str, queue: str | None) -> float | None:
        """Consume the oldest visible copy of ``jid`` in ``queue`` (any queue: None)."""
        copies = self.visible.get(jid)
        if not copies:
            return None
        pick = copies[0]
        if queue is None or pick[0] == queue:
            del copies[0]
        else:
            pick = next((c for c in copies if c[0] == queue), None)
            if pick is None:
                return None  # no push of this jid to this queue: nothing visible to take
            copies.remove(pick)
        if not copies:
            del self.visible[jid]
        q, since = pick
        self.depth[q] -= 1
        fresh = self.fresh.get(q)
        if fresh is not None and fresh[0] == since and fresh[1] > 0:
            self.fresh[q] = (fresh[0], fresh[1] - 1)
        return since

    def stats(self, queues: list[str]) -> dict[str, dict[str, Any]]:
        names = list(dict.fromkeys([*queues, *sorted(set(self.fetched) | set(self.max_depth))]))
        return {q: self._stats(q) for q in names}

    def _stats(self, queue: str) -> dict[str, Any]:
        waits = sorted(self.waits.get(queue, []))
        # A queue that started nothing has no latency: None (null), never a 0 that reads
        # as "instant".
        return {
            "latency_mean_s": sum(waits) / len(waits) if waits else None,
            "latency_p50_s": percentile(waits, 50) if waits else None,
            "latency_p95_s": percentile(waits, 95) if waits else None,
            "latency_p99_s": percentile(waits, 99) if waits else None,
            "latency_max_s": waits[-1] if waits else None,
            "max_depth": self.max_depth.get(queue, 0),
            "fetched": self.fetched.get(queue, 0),
        }


def queue_latency_stats(history: History) -> dict[str, dict[str, Any]]:
    """Per queue: latency mean/p50/p95/p99/max (seconds), max depth, fetched count."""
    latency = QueueLatency()
    latency.feed(history.events)
    return latency.result(_config(history))


class QueueLatency:
    """``queue_latency_stats`` fed the events in consecutive pieces."""

    def __init__(self) -> None:
        self.tracker = QueueTracker()

    def feed(self, events: Iterable[tuple[Any, ...]]) -> None:
        tracker = self.tracker
        push, fetch, feed = tracker.push, tracker.fetch, tracker.feed
        enqueue_queue = _PUSHES["enqueue"]
        for ev in events:        # the commonest kinds without the call to feed
            kind = ev[1]
            if kind == "start":
                fetch(ev[_START_QUEUE], ev[2], ev[0])
            elif kind == "enqueue":
                push(ev[enqueue_queue], ev[2], ev[0])
            elif kind not in _IGNORED:
                feed(ev)

    def result(self, config: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The statistics, configured queues first (``config``: the run's config)."""
        return self.tracker.stats(_queues(config)[0])


# ---- the check ---------------------------------------------------------------------------

def _config(history: History) -> dict[str, Any]:
    return next((ev[3] for ev in history.events if ev[1] == "config"), None) or {}


def _queues(cfg: dict[str, Any]) -> tuple[list[str], list[float]]:
    """Configured queue names in order, and their weights (1 when not given)."""
    names, weights = [], []
    for item in cfg.get("queues") or []:
        if isinstance(item, str):
            item = [item]
        names.append(item[0])
        weights.append(float(item[1]) if len(item) > 1 else 1.0)
    return names, weights


class _Judge:
    """Applies rules (a), (b) and (c) at every start, before the fetch consumes its copy."""

    def __init__(self, cfg: dict[str, Any], bounds: dict[str, float]) -> None:
        self.mode = cfg.get("mode", "strict")
        self.strict_mode = self.mode == "strict"
        self.order, weights = _queues(cfg)
        if self.mode == "random":
            weights = [1.0] * len(self.order)
        self.weights = weights
        self.bounds = bounds
        self.rank = {q: i for i, q in enumerate(self.order)}
        self.counts: Counter[str] = Counter()
        self.strict: list[dict[str, Any]] = []
        self.late: list[dict[str, Any]] = []
        self.n_strict = self.n_late = 0

    def before_fetch(self, tracker: QueueTracker, queue: str, jid: str, t: float) -> None:
        rank = self.rank.get(queue)
        if rank is None:
            return
        if self.strict_mode:
            passed = self.passed_over(tracker, rank, t)
            if passed is not None:
                self.n_strict += 1
                _keep(self.strict, _passed_over(jid, t, queue, passed))
        else:
            self.count_share(tracker, queue, t)

    def passed_over(self, tracker: QueueTracker, rank: int, t: float
                    ) -> tuple[str, int] | None:
        """Strict mode: the first queue ranked above ``rank`` with work visible before
        ``t``, and how much."""
        waiting_before = tracker.waiting_before
        for higher in self.order[:rank]:
            waiting = waiting_before(higher, t)
            if waiting > 0:
                return higher, waiting
        return None

    def count_share(self, tracker: QueueTracker, queue: str, t: float) -> None:
        """Weighted mode: count the fetch when every queue had work visible before ``t``."""
        if len(self.order) > 1:
            waiting_before = tracker.waiting_before
            for q in self.order:
                if waiting_before(q, t) <= 0:
                    return
            self.counts[queue] += 1

    def after_fetch(self, queue: str, jid: str, t: float, wait: float | None,
                    what: str = "latency bound exceeded") -> None:
        bound = self.bounds.get(queue)
        if wait is not None and bound is not None and wait > bound:
            self.n_late += 1
            _keep(self.late, {"jid": jid, "t": t, "what": what,
                              "queue": queue, "wait": wait, "bound": bound})

    def weighted(self, alpha: float) -> dict[str, Any] | None:
        if self.mode == "strict" or len(self.order) < 2 or sum(self.weights) <= 0:
            return None
        n = sum(self.counts.values())
        total = sum(self.weights)
        expected = {q: w / total for q, w in zip(self.order, self.weights, strict=True)}
        chi2 = sum((self.counts[q] - n * e) ** 2 / (n * e) for q, e in expected.items()
                   if e > 0) if n else 0.0
        dof = len(self.order) - 1
        p_value = chi2_sf(chi2, dof)
        return {"shares": {q: self.counts[q] / n if n else 0.0 for q in self.order},
                "expected": expected, "chi2": chi2, "dof": dof, "p_value": p_value,
                "alpha": alpha, "n": n, "violated": n >= MIN_FETCHES and p_value < alpha}

    def weighted_all(self, alpha: float) -> list[tuple[str | None, dict[str, Any] | None]]:
        """Rule (b)'s result per capsule (one here: the process's only queue list)."""
        return [(None, self.weighted(alpha))]


class _Capsules:
    """Rules (a) and (b) for a Sidekiq 7 process with capsules: each capsule's threads
    keep their own queue order. A start names the process, not the thread, so a fetch
    from a queue several capsules list is judged only as far as the history settles it:
    it breaks strict order only if every capsule listing the queue would have had to
    pass it over, and a capsule's shares are tested only when no other capsule lists any
    of its queues (else another capsule's fetches would bias them). Rule (c) is per queue
    and unchanged."""

    def __init__(self, cfg: dict[str, Any], bounds: dict[str, float]) -> None:
        default = _Judge(cfg, bounds)
        self.parts: list[tuple[str, _Judge]] = [("default", default)] + [
            (str(c.get("name")), _Judge(c, bounds)) for c in cfg.get("capsules") or []]
        self.listing: dict[str, list[tuple[str, _Judge]]] = {}
        for name, part in self.parts:
            for queue in part.order:
                self.listing.setdefault(queue, []).append((name, part))
        self.shared = {q for q, parts in self.listing.items() if len(parts) > 1}
        self.default = default
        self.mode, self.late = default.mode, default.late
        self.order = list(self.listing)
        self.strict: list[dict[str, Any]] = []
        self.n_strict = 0

    @property
    def n_late(self) -> int:
        return self.default.n_late

    def before_fetch(self, tracker: QueueTracker, queue: str, jid: str, t: float) -> None:
        parts = self.listing.get(queue)
        if not parts:
            return
        passed = [part.passed_over(tracker, part.rank[queue], t) if part.strict_mode else None
                  for _, part in parts]
        if all(p is not None for p in passed):
            self.n_strict += 1
            _keep(self.strict, {**_passed_over(jid, t, queue, passed[0]),  # type: ignore[arg-type]
                                "capsule": ", ".join(name for name, _ in parts)})
        if len(parts) == 1 and not parts[0][1].strict_mode and self._alone(parts[0][1]):
            parts[0][1].count_share(tracker, queue, t)

    def _alone(self, part: _Judge) -> bool:
        return not self.shared.intersection(part.order)

    def after_fetch(self, queue: str, jid: str, t: float, wait: float | None,
                    what: str = "latency bound exceeded") -> None:
        self.default.after_fetch(queue, jid, t, wait, what)

    def weighted_all(self, alpha: float) -> list[tuple[str | None, dict[str, Any] | None]]:
        """Rule (b) per capsule; a capsule sharing a queue is reported as not judged."""
        out: list[tuple[str | None, dict[str, Any] | None]] = []
        for name, part in self.parts:
            result = part.weighted(alpha)
            if result is not None and not self._alone(part):
                result = {"judged": False, "why": "a queue of this capsule is fetched by "
                          "another capsule too", "violated": False}
            out.append((name, result))
        return out

    def capsules(self) -> dict[str, dict[str, Any]]:
        return {name: {"mode": part.mode, "queues": part.order} for name, part in self.parts}


def _passed_over(jid: str, t: float, queue: str, passed: tuple[str, int]) -> dict[str, Any]:
    return {"jid": jid, "t": t, "what": "fetched below waiting work", "queue": queue,
            "waiting_in": passed[0], "waiting": passed[1]}


def _keep(examples: list[dict[str, Any]], example: dict[str, Any]) -> None:
    if len(examples) < MAX_EXAMPLES:
        examples.append(example)


OPTIONS = {
    "latency_bounds": Option("bounds", "per-queue bound on a job's wait, seconds (default: "
                             "the run's latency_bounds)"),
    "alpha": Option("fraction", "significance level of the weighted-shares chi-square test"),
}


def check(history: History, config: Mapping[str, Any] | None = None,
          latency_bounds: Mapping[str, float] | None = None, alpha: float = 0.001
          ) -> CheckResult:
    """Verdict on strict order, weighted shares and per-queue latency bounds."""
    judged = Stream(_config(history) if config is None else config, latency_bounds, alpha)
    judged.feed(history.events, 0)
    return judged.finish()


def stream(config: Mapping[str, Any], latency_bounds: Mapping[str, float] | None = None,
           alpha: float = 0.001) -> Stream:
    """The check fed the history in pieces (``registry.stream``)."""
    return Stream(config, latency_bounds, alpha)


class Stream:
    """``check``'s pass, fed the events in consecutive pieces."""

    def __init__(self, config: Mapping[str, Any],
                 latency_bounds: Mapping[str, float] | None, alpha: float) -> None:
        cfg = dict(config)
        self.bounds = dict(latency_bounds if latency_bounds is not None
                           else cfg.get("latency_bounds") or {})
        self.alpha = alpha
        self.judge: _Judge | _Capsules = (_Capsules(cfg, self.bounds) if cfg.get("capsules")
                                           else _Judge(cfg, self.bounds))
        self.tracker = QueueTracker()
        self.t_end = 0.0

    def feed(self, events: Sequence[tuple[Any, ...]], start: int) -> None:
        judge, tracker, t_end = self.judge, self.tracker, self.t_end
        before, after, fetch = judge.before_fetch, judge.after_fetch, tracker.fetch
        push, feed, enqueue_queue = tracker.push, tracker.feed, _PUSHES["enqueue"]
        for ev in events:
            kind = ev[1]
            if kind == "start":
                queue, jid, t_end = ev[_START_QUEUE], ev[2], ev[0]
                before(tracker, queue, jid, t_end)
                after(queue, jid, t_end, fetch(queue, jid, t_end))
            elif kind == "enqueue":
                push(ev[enqueue_queue], ev[2], ev[0])
            elif kind == "held":
                self._still_waiting(ev)
            elif kind not in _IGNORED:
                feed(ev)
        self.t_end = t_end

    def _still_waiting(self, ev: tuple[Any, ...]) -> None:
        """A job still in a queue at the horizon has waited at least until then: past
        its queue's bound, that is a wait the bound was meant to forbid (a queue nobody
        serves must not pass for one whose waits all kept the bound)."""
        where = ev[_HELD_WHERE]
        if not (isinstance(where, str) and where.startswith("queue:")):
            return
        queue, jid, t = where[len("queue:"):], ev[2], ev[0]
        since = min((s for q, s in self.tracker.visible.get(jid, ()) if q == queue),
                    default=None)
        if since is not None:
            self.judge.after_fetch(queue, jid, t, t - since,
                                   "still waiting past its latency bound")

    def finish(self) -> CheckResult:
        judge, tracker = self.judge, self.tracker
        results = judge.weighted_all(self.alpha)
        examples = judge.strict + judge.late
        n_weighted = 0
        for name, result in reversed(results):
            if result and result["violated"]:
                n_weighted += 1
                examples.insert(0, {"jid": None, "t": self.t_end, "what": "weighted shares off",
                                    "shares": result["shares"], "expected": result["expected"],
                                    "p_value": result["p_value"],
                                    **({"capsule": name} if name is not None else {})})
        extra: dict[str, Any] = {}
        if isinstance(judge, _Capsules):
            extra["capsules"] = {name: {**about, "weighted": result} for (name, about), (_, result)
                                 in zip(judge.capsules().items(), results, strict=True)}
        return verdict(
            "priority", examples, judge.n_strict + judge.n_late + n_weighted,
            mode=judge.mode, queues=tracker.stats(judge.order),
            strict_violations=judge.n_strict, latency_violations=judge.n_late,
            latency_bounds=dict(self.bounds), weighted=results[0][1], **extra,
        )
