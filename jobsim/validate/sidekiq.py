"""The Sidekiq retry schedule (docs/semantics.md, Retries): per-retry delay bounds and the
~20.4 days from first failure to the 25th retry, both from ``jobsim.backoff`` directly and from the
``retry`` events of jobs that always fail, run through the job system for ~21 days.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from jobsim import backoff
from jobsim.validate import theory
from jobsim.validate.case import Task
from jobsim.validate.measure import (
    execution_counts,
    first_failure_to_last_start,
    retry_delays,
)
from jobsim.validate.rows import Row, analytic, bound
from jobsim.validate.runs import replications, seed_for, simulate

RETRIES = 25
DAY = theory.DAY
POLL_AVG = 5.0          # the default poller average with one process
REF_RANGE_DAYS = (20.41, 20.45)   # docs/semantics.md, Retries: delays only


def sample_delays(samples: int, rep: int) -> dict[str, Any]:
    """``samples`` full 25-retry schedules from the policy itself: per-count min/max and
    each schedule's total."""
    rng = random.Random(seed_for("sidekiq.math", rep))
    policy = backoff.Sidekiq()
    lows = [float("inf")] * RETRIES
    highs = [0.0] * RETRIES
    totals = []
    for _ in range(samples):
        total = 0.0
        for count in range(RETRIES):
            d = policy.delay(count, rng)
            lows[count] = min(lows[count], d)
            highs[count] = max(highs[count], d)
            total += d
        totals.append(total)
    return {"lows": lows, "highs": highs, "totals": totals}


def always_failing(jobs: int, rep: int) -> dict[str, Any]:
    """Jobs that fail every time with the default ``retry: 25``, run to the dead set."""
    doc = {
        "name": "sidekiq_schedule", "description": "validation: the retry schedule",
        "duration": 60.0, "drain": 22 * DAY,
        "system": {"processes": 1, "concurrency": 1},
        "workload": [{"job": "SyntheticJob", "count": jobs, "spread": "50s", "retry": RETRIES,
                      "args": {"dist": "fixed", "value": 0, "p_fail": 1.0}}],
    }
    history = simulate(doc, seed_for("sidekiq.system", rep))
    runs, succeeded = execution_counts(history)
    delays = retry_delays(history)
    return {
        "executions": sorted(set(runs.values())), "succeeded": len(succeeded),
        "jobs": len(runs), "delays": [d for per_job in delays.values() for d in per_job],
        "totals": [sum(d for _, d in per_job) for per_job in delays.values()],
        "elapsed": list(first_failure_to_last_start(history).values()),
    }


def _bounds_ok(pairs: list[tuple[int, float]]) -> tuple[bool, bool]:
    """(every delay inside its count's bounds, each bound reached by some sample)."""
    policy = backoff.Sidekiq()
    lows = [float("inf")] * RETRIES
    highs = [0.0] * RETRIES
    for count, d in pairs:
        lows[count] = min(lows[count], d)
        highs[count] = max(highs[count], d)
    exact = [policy.bounds(c) for c in range(RETRIES)]
    inside = all(lo <= lows[c] and highs[c] <= hi for c, (lo, hi) in enumerate(exact))
    reached = all(lows[c] == lo and highs[c] == hi for c, (lo, hi) in enumerate(exact))
    return inside, reached


@dataclass
class SidekiqSchedule:
    name: str = "sidekiq"
    samples: int = 4_000
    jobs: int = 300

    def sizes(self) -> str:
        return (f"Sidekiq: {self.samples:,} schedules drawn from the policy; {self.jobs} "
                "always-failing jobs through the job system (about 21 simulated days).")

    def tasks(self, quick: bool, seed_set: int = 0) -> list[Task]:
        samples, jobs = (200, 20) if quick else (self.samples, self.jobs)
        rep = replications(1, seed_set)[0]
        return [Task(sample_delays, (samples, rep), cost=samples * 5),
                Task(always_failing, (jobs, rep), cost=150_000)]

    def judge(self, results: list[Any]) -> list[Row]:
        math_part, system = results
        low, mean, high = theory.sidekiq_schedule(RETRIES)
        ref = f"{REF_RANGE_DAYS[0]}-{REF_RANGE_DAYS[1]} d"
        rows = [self._bound_row("policy", [(c, d) for c in range(RETRIES)
                                           for d in (math_part["lows"][c], math_part["highs"][c])],
                                len(math_part["totals"]))]
        rows.append(analytic(f"sidekiq 25 retries, policy: mean total delay (d) [ref {ref}]",
                             mean / DAY, [t / DAY for t in math_part["totals"]]))
        rows.append(self._bound_row("job system", system["delays"], system["jobs"]))
        rows.append(analytic(f"sidekiq 25 retries, job system: mean total delay (d) [ref {ref}]",
                             mean / DAY, [t / DAY for t in system["totals"]]))
        rows.append(self._elapsed_row(system, low, high))
        return rows

    @staticmethod
    def _bound_row(source: str, pairs: list[tuple[int, float]], n: int) -> Row:
        inside, reached = _bounds_ok(pairs)
        return bound(f"sidekiq per-retry delay bounds, {source} ({n:,} schedules)",
                     "count^4+15 + [0, 10(count+1)-1]",
                     "all inside" if inside else "OUT OF BOUNDS",
                     "extremes reached" if reached else "extremes not all reached",
                     inside, "every delay within its exact bounds")

    @staticmethod
    def _elapsed_row(system: dict[str, Any], low: float, high: float) -> Row:
        """Wall-to-wall in simulated time: delays plus at most 1.5 poll intervals each."""
        elapsed = system["elapsed"]
        top = high + RETRIES * 1.5 * POLL_AVG
        all_dead = system["executions"] == [RETRIES + 1] and system["succeeded"] == 0
        ok = all_dead and bool(elapsed) and all(low <= e <= top for e in elapsed)
        return bound(
            "sidekiq first failure -> 26th execution (d), job system",
            f"{low / DAY:.3f}-{top / DAY:.3f} (delays + poller)",
            f"{min(elapsed) / DAY:.3f}-{max(elapsed) / DAY:.3f}" if elapsed else "none",
            f"executions/job {system['executions']}", ok,
            "inside bounds; 26 executions, then dead")
