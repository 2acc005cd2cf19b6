"""Closed-form results the simulator is validated against (docs/semantics.md, Queueing results).

Pure math, no simulation: these are the "theory" column of ``jobsim validate``. Each
formula is the textbook one, written so it stays numerically stable for the sizes we use
(Erlang C by an iterative sum of terms instead of factorials).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from jobsim import backoff

DAY = 86400.0


def erlang_c(c: int, a: float) -> float:
    """P(an arrival waits) in M/M/c with offered load ``a = lambda/mu`` (needs a < c)."""
    if not 0 <= a < c:
        raise ValueError(f"erlang_c needs 0 <= a < c, got a={a}, c={c}")
    term = 1.0              # a^k / k!, k = 0
    below = 0.0             # sum_{k<c} a^k / k!
    for k in range(c):
        below += term
        term *= a / (k + 1)
    top = term * c / (c - a)  # a^c / c! * c / (c - a)
    return top / (below + top)


def mmc_wq(lam: float, mu: float, c: int) -> float:
    """Mean wait in queue of M/M/c: ``C / (c mu - lambda)``."""
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_wait_tail(lam: float, mu: float, c: int, t: float) -> float:
    """P(Wq > t) in M/M/c: ``C exp(-(c mu - lambda) t)``."""
    return erlang_c(c, lam / mu) * math.exp(-(c * mu - lam) * t)


def pk_wq(lam: float, mean_s: float, second_moment_s: float) -> float:
    """Pollaczek-Khinchine mean wait of M/G/1: ``lambda E[S^2] / (2 (1 - rho))``."""
    rho = lam * mean_s
    if not 0 <= rho < 1:
        raise ValueError(f"pk_wq needs rho < 1, got {rho}")
    return lam * second_moment_s / (2.0 * (1.0 - rho))


def lognormal_second_moment(mean: float, sigma: float) -> float:
    """E[S^2] of a lognormal with the given mean and log-sd: ``mean^2 exp(sigma^2)``."""
    return mean * mean * math.exp(sigma * sigma)


def cobham_wq(lams: Sequence[float], mean_s: float, second_moment_s: float) -> list[float]:
    """Non-preemptive priority M/G/1 (Cobham 1954), classes in priority order, common
    service distribution: ``Wq_k = W0 / ((1 - sigma_{k-1})(1 - sigma_k))`` with
    ``W0 = sum(lambda_i) E[S^2] / 2`` (= rho/mu for exponential service)."""
    w0 = sum(lams) * second_moment_s / 2.0
    out, sigma = [], 0.0
    for lam in lams:
        before, sigma = sigma, sigma + lam * mean_s
        if sigma >= 1:
            raise ValueError("cobham_wq needs total load < 1")
        out.append(w0 / ((1.0 - before) * (1.0 - sigma)))
    return out


def retry_load(p: float, retries: int) -> float:
    """Executions per request with up to ``retries`` retries, failure probability p:
    ``sum_{k=0..N} p^k``."""
    return sum(p**k for k in range(retries + 1))


def retry_success(p: float, retries: int) -> float:
    """P(a request eventually succeeds): ``1 - p^(N+1)``."""
    return 1.0 - p ** (retries + 1)


def sidekiq_schedule(retries: int = 25) -> tuple[float, float, float]:
    """(min, mean, max) seconds from the first failure to the last of ``retries``
    default Sidekiq retries, delays only."""
    policy = backoff.Sidekiq()
    lows, highs = zip(*(policy.bounds(c) for c in range(retries)), strict=True)
    return sum(lows), backoff.sidekiq_schedule_mean(retries), sum(highs)
