"""jobsim's ``celery`` and ``rq`` backoff policies against the installed packages' code.

Celery: ``celery.utils.time.get_exponential_backoff_interval`` draws from the ``random``
module; seeding it and a ``random.Random`` alike must give the very same delays, draw for
draw. RQ: a real ``rq.job.Job`` given ``Retry(max, interval)`` resolves each retry's
interval with ``get_retry_interval`` while ``retries_left`` counts down; jobsim's
``rq:max=..,interval=..`` must give the same sequence. Each test has a negative control.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from needs import need

from jobsim import backoff


def _celery() -> Any:
    try:
        from celery.utils.time import get_exponential_backoff_interval
    except ImportError:
        need(False, "celery is not installed: make install (its dev extras) installs it")
    return get_exponential_backoff_interval


def _rq() -> tuple[Any, Any, Any]:
    try:
        import fakeredis
        from rq import Retry
        from rq.job import Job
    except ImportError:
        need(False, "rq is not installed: make install (its dev extras) installs it")
    return Retry, Job, fakeredis


CELERY_CASES = [
    (1, 600, True), (1, 600, False), (2, 300, True), (3, 50, False), (5, 10_000, True)]


def celery_sequence(function: Any, factor: int, maximum: int, jitter: bool,
                    seed: int) -> list[int]:
    random.seed(seed)
    return [function(factor=factor, retries=count, maximum=maximum, full_jitter=jitter)
            for count in range(20) for _ in range(50)]


def jobsim_sequence(spec: str, seed: int) -> list[float]:
    policy, rng = backoff.parse(spec), random.Random(seed)
    return [policy.delay(count, rng) for count in range(20) for _ in range(50)]


def celery_spec(factor: int, maximum: int, jitter: bool) -> str:
    return (f"celery:retry_backoff={factor},retry_backoff_max={maximum},"
            f"retry_jitter={str(jitter).lower()}")


@pytest.mark.parametrize(("factor", "maximum", "jitter"), CELERY_CASES)
def test_celery_policy_is_celerys_function_draw_for_draw(
        factor: int, maximum: int, jitter: bool) -> None:
    function = _celery()
    for seed in (0, 1, 99):
        ours = jobsim_sequence(celery_spec(factor, maximum, jitter), seed)
        assert ours == celery_sequence(function, factor, maximum, jitter, seed)
    policy = backoff.parse(celery_spec(factor, maximum, jitter))
    for count in range(20):
        top = min(maximum, factor * 2**count)
        assert policy.bounds(count) == ((0 if jitter else top), top)


def test_negative_control_the_old_unnamed_spelling_is_not_celerys() -> None:
    """``exponential:jitter=full,base=1,cap=600`` was what docs offered a Celery user; it
    doubles one step earlier (base * 2**(count+1)) and draws real numbers."""
    function = _celery()
    ours = jobsim_sequence("exponential:jitter=full,base=1,cap=600", 0)
    assert ours != celery_sequence(function, 1, 600, True, 0)


RQ_CASES = [(3, [1, 2, 3]), (5, [10, 20]), (2, [5, 10, 60]), (4, 30), (3, [0])]


def rq_sequence(max_retries: int, interval: Any) -> list[float]:
    """The intervals a real RQ job waits before each of its retries."""
    retry_cls, job_cls, fakeredis = _rq()
    retry = retry_cls(max=max_retries, interval=interval)
    job = job_cls.create(print, connection=fakeredis.FakeStrictRedis())
    job.retries_left, job.retry_intervals = retry.max, retry.intervals
    out = []
    while job.retries_left:
        out.append(float(job.get_retry_interval()))
        job.retries_left -= 1
    return out


def rq_spec(max_retries: int, interval: Any) -> str:
    values = interval if isinstance(interval, list) else [interval]
    return f"rq:max={max_retries},interval={'|'.join(str(v) for v in values)}"


@pytest.mark.parametrize(("max_retries", "interval"), RQ_CASES)
def test_rq_policy_resolves_intervals_as_rq_does(max_retries: int, interval: Any) -> None:
    policy = backoff.parse(rq_spec(max_retries, interval))
    ours = [policy.bounds(count)[0] for count in range(max_retries)]
    assert ours == rq_sequence(max_retries, interval)


def test_negative_control_last_value_repeating_is_told_apart() -> None:
    """Repeating the LAST interval (``fixed`` without ``retries``) is not RQ's rule."""
    wrong = backoff.parse("fixed:intervals=10|20")
    assert [wrong.bounds(c)[0] for c in range(5)] != rq_sequence(5, [10, 20])
