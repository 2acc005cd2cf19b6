"""Celery's and RQ's retry delays, from the policy and through the job system.

Celery (``celery`` policy, docs/semantics.md, Retries): with full jitter a retry waits a
whole number of seconds drawn uniformly from 0..min(600, 2**count), so its mean is half
the countdown and ten retries total 1023/2 s on average. RQ (``rq`` policy): the waits
are exactly the interval rule, with no randomness at all. Each is checked on delays
drawn from ``jobsim.backoff`` and on the ``retry`` events of always-failing jobs run
through the job system, so a system that recorded one policy and applied another fails.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from jobsim import backoff
from jobsim.validate.case import Task
from jobsim.validate.measure import retry_delays
from jobsim.validate.rows import Row, analytic, bound
from jobsim.validate.runs import replications, seed_for, simulate

CELERY = "celery:retry_backoff=1,retry_backoff_max=600,retry_jitter=true"
CELERY_RETRIES = 10
RQ = "rq:max=5,interval=10|20|40"
RQ_RETRIES = 5


def _failing(spec: str, retries: int, jobs: int, rep: int, drain: float) -> list[Any]:
    """Per job, its (count, delay) retries when every execution fails."""
    doc = {
        "name": "backoff_schedule", "description": "validation: a retry schedule",
        "duration": 60.0, "drain": drain,
        "system": {"processes": 1, "concurrency": 4, "poll_interval": "1s"},
        "workload": [{"job": "SyntheticJob", "count": jobs, "spread": "50s",
                      "retry": retries, "backoff": spec,
                      "args": {"dist": "fixed", "value": 0, "p_fail": 1.0}}],
    }
    history = simulate(doc, seed_for(f"backoffs.{spec}", rep))
    return [pairs for pairs in retry_delays(history).values()]


def celery_policy(samples: int, rep: int) -> list[list[tuple[int, float]]]:
    policy, rng = backoff.parse(CELERY), random.Random(seed_for("backoffs.celery", rep))
    return [[(c, policy.delay(c, rng)) for c in range(CELERY_RETRIES)] for _ in range(samples)]


def celery_system(jobs: int, rep: int) -> list[Any]:
    return _failing(CELERY, CELERY_RETRIES, jobs, rep, drain=3 * 3600.0)


def rq_system(jobs: int, rep: int) -> list[Any]:
    return _failing(RQ, RQ_RETRIES, jobs, rep, drain=3600.0)


def _celery_inside(schedules: list[list[tuple[int, float]]]) -> bool:
    policy = backoff.parse(CELERY)
    return all(d == int(d) and policy.bounds(c)[0] <= d <= policy.bounds(c)[1]
               for schedule in schedules for c, d in schedule)


@dataclass
class OtherBackoffs:
    name: str = "backoffs"
    samples: int = 4_000
    jobs: int = 400

    def sizes(self) -> str:
        return (f"Celery and RQ backoff: {self.samples:,} Celery schedules drawn from the "
                f"policy; {self.jobs} always-failing jobs per policy through the job system.")

    def tasks(self, quick: bool, seed_set: int = 0) -> list[Task]:
        samples, jobs = (300, 40) if quick else (self.samples, self.jobs)
        rep = replications(1, seed_set)[0]
        return [Task(celery_policy, (samples, rep), cost=samples),
                Task(celery_system, (jobs, rep), cost=jobs * 30),
                Task(rq_system, (jobs, rep), cost=jobs * 15)]

    def judge(self, results: list[Any]) -> list[Row]:
        drawn, system, rq = results
        mean = sum(min(600, 2**c) / 2 for c in range(CELERY_RETRIES))
        rows = []
        for source, schedules in (("policy", drawn), ("job system", system)):
            complete = [s for s in schedules if len(s) == CELERY_RETRIES]
            rows.append(bound(
                f"celery per-retry delays, {source} ({len(schedules):,} schedules)",
                "whole seconds in [0, min(600, 2^count)]",
                "all inside" if _celery_inside(schedules) else "OUT OF BOUNDS",
                f"{len(complete):,} complete", _celery_inside(schedules)
                and len(complete) == len(schedules), "every delay a whole number in bounds"))
            rows.append(analytic(
                f"celery {CELERY_RETRIES} retries, {source}: mean total delay (s)", mean,
                [sum(d for _, d in s) for s in complete]))
        want = backoff.parse(RQ)
        exact = [[want.bounds(c)[0] for c in range(RQ_RETRIES)]]
        got = sorted({tuple(d for _, d in s) for s in rq})
        ok = bool(rq) and [list(g) for g in got] == exact
        rows.append(bound(f"rq Retry(max=5, interval=[10, 20, 40]), job system ({len(rq)} jobs)",
                          str(exact[0]), "; ".join(str(list(g)) for g in got) or "none",
                          "exact" if ok else "differs", ok, "every job's waits equal RQ's rule"))
        return rows
