"""Retry budgets: a process stops retrying when its retries stop paying off.

Why: during an outage every failure schedules a retry, and every retry is one more call
on a service that is already down; when it recovers, the backlog of retries lands on it
at once. A budget caps the extra load retries may add (docs/semantics.md, Retries):

* Token bucket, as the AWS SDKs' "standard" retry mode: each process starts with
  ``tokens`` (500); a retry costs ``cost`` (5), or ``timeout_cost`` (10) after a timeout
  (an exception whose class name contains "Timeout": ``ServiceTimeout``,
  ``PoolTimeout``); every successful execution refunds ``refund`` (1), up to the
  capacity. botocore also hands back a successful retry's own cost; we do not, so the
  bucket drains a little faster than the SDK's.
* Retry ratio, as the Google SRE book's per-client budget (optional ``ratio``, e.g.
  0.1): a retry is allowed while retries / requests over the last ``WINDOW_S`` seconds
  stay at most ``ratio``. Requests are executions started on the process.

Both are per process, keyed by the worker id that ran the failed execution: a real
client library keeps its bucket in process memory. When a budget is configured both
apply; a refused retry charges nothing.

A refused retry does not drop the job: it goes to the dead set with reason
``retry_budget`` (``dead: false`` jobs are discarded instead, as for exhausted
retries). The budget exists to shed retry load while a dependency is down; the dead set
keeps every shed job recoverable (retry it from the dead set once the service is back),
and the death handlers tell the operators.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from jobsim.broker.base import Payload

if TYPE_CHECKING:
    from jobsim.sim.simulation import Simulation
    from jobsim.system.system import JobSystem

WINDOW_S = 60.0   # the SRE ratio's sliding window; the book does not fix one
OPTIONS = ("tokens", "cost", "timeout_cost", "refund", "ratio")


def is_timeout(exc: BaseException) -> bool:
    return "Timeout" in type(exc).__name__


class TokenBucket:
    """AWS standard retry mode's quota: pay per retry, earn per success."""

    __slots__ = ("capacity", "cost", "refund", "timeout_cost", "tokens")

    def __init__(self, capacity: int = 500, cost: int = 5, timeout_cost: int = 10,
                 refund: int = 1) -> None:
        self.capacity = capacity
        self.cost = cost
        self.timeout_cost = timeout_cost
        self.refund = refund
        self.tokens = capacity

    def price(self, timeout: bool) -> int:
        return self.timeout_cost if timeout else self.cost

    def can_pay(self, timeout: bool) -> bool:
        return self.tokens >= self.price(timeout)

    def pay(self, timeout: bool) -> None:
        self.tokens -= self.price(timeout)

    def earn(self) -> None:
        self.tokens = min(self.capacity, self.tokens + self.refund)


class RetryRatio:
    """Google SRE per-client budget: retries / requests in a sliding window <= ratio."""

    __slots__ = ("_requests", "_retries", "ratio", "window")

    def __init__(self, ratio: float, window: float = WINDOW_S) -> None:
        self.ratio = ratio
        self.window = window
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()

    def request(self, now: float) -> None:
        self._requests.append(now)

    def allows(self, now: float) -> bool:
        """Would one more retry now keep the ratio? (Nothing is recorded.)"""
        cutoff = now - self.window
        for times in (self._requests, self._retries):
            while times and times[0] <= cutoff:
                times.popleft()
        return len(self._retries) + 1 <= self.ratio * len(self._requests)

    def retry(self, now: float) -> None:
        self._retries.append(now)


class RetryBudget:
    """Every process's bucket (and ratio), created on the process's first execution."""

    def __init__(self, sim: Simulation, tokens: int = 500, cost: int = 5,
                 timeout_cost: int = 10, refund: int = 1, ratio: float | None = None,
                 window: float = WINDOW_S) -> None:
        if tokens < 1 or min(cost, timeout_cost, refund) < 0:
            raise ValueError("retry_budget: need tokens >= 1 and cost, timeout_cost, "
                             "refund >= 0")
        if ratio is not None and not 0.0 <= ratio <= 1.0:
            raise ValueError(f"retry_budget: ratio must be in [0, 1], got {ratio}")
        self.sim = sim
        self._bucket_args = (tokens, cost, timeout_cost, refund)
        self.ratio = ratio
        self.window = window
        self.buckets: dict[str | None, TokenBucket] = {}
        self.ratios: dict[str | None, RetryRatio] = {}
        self.allowed = 0
        self.refused: dict[str | None, int] = {}
        self._running: dict[int, str] = {}   # id(payload) -> worker, while it executes

    def bucket(self, worker: str | None) -> TokenBucket:
        found = self.buckets.get(worker)
        if found is None:
            found = self.buckets[worker] = TokenBucket(*self._bucket_args)
        return found

    def _ratio(self, worker: str | None) -> RetryRatio | None:
        if self.ratio is None:
            return None
        found = self.ratios.get(worker)
        if found is None:
            found = self.ratios[worker] = RetryRatio(self.ratio, self.window)
        return found

    # ---- the retry decision (RetryHandler) --------------------------------------------
    def allow_retry(self, worker: str | None, exc: BaseException) -> bool:
        """Pay for one retry by ``worker``'s process, or refuse it (charging nothing)."""
        now = self.sim.now
        timeout = is_timeout(exc)
        bucket, ratio = self.bucket(worker), self._ratio(worker)
        if not bucket.can_pay(timeout) or (ratio is not None and not ratio.allows(now)):
            self.refused[worker] = self.refused.get(worker, 0) + 1
            return False
        bucket.pay(timeout)
        if ratio is not None:
            ratio.retry(now)
        self.allowed += 1
        return True

    # ---- server hooks: requests and successes per process ------------------------------
    def before_perform(self, payload: Payload, worker: str) -> bool:
        self._running[id(payload)] = worker
        ratio = self._ratio(worker)
        if ratio is not None:
            ratio.request(self.sim.now)
        return True

    def after_perform(self, payload: Payload, ok: bool) -> None:
        worker = self._running.pop(id(payload), None)
        if ok and worker is not None:
            self.bucket(worker).earn()

    def stats(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "refused": sum(self.refused.values()),
                "tokens": {w: b.tokens for w, b in sorted(self.buckets.items(),
                                                          key=lambda kv: str(kv[0]))}}


def install(system: JobSystem, options: dict[str, Any]) -> RetryBudget:
    """Attach a budget to the system's retry handler; hooks count requests and successes."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"retry_budget: unknown option(s) {unknown}; valid: {list(OPTIONS)}")
    budget = RetryBudget(system.sim, **options)
    system.retry.budget = budget
    system.hooks.before_perform.append(budget.before_perform)
    system.hooks.after_perform.append(budget.after_perform)
    return budget
