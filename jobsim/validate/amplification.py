"""Retry amplification (Google SRE book; docs/semantics.md): N retries with independent failure
probability p cost ``sum p^k`` executions per request and succeed with ``1 - p^(N+1)``;
a 10 % per-client retry ratio (``retry_budget: {ratio: 0.1}``) caps the load at
``1 / (1 - 0.1) = 1.11x`` because retries may be at most 10 % of all requests.

Measured through the job system: SyntheticJob with ``p_fail``, ``retry: N`` and a fixed
1 s backoff, load = executions / jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobsim.validate import theory
from jobsim.validate.case import Task
from jobsim.validate.measure import execution_counts
from jobsim.validate.rows import Row, analytic
from jobsim.validate.runs import per_second, replications, seed_for, simulate

RATE = 20.0             # jobs per second: ~1,200 requests in the budget's 60 s window


def amplification_replication(p: float, retries: int, ratio: float | None, jobs: int,
                              rep: int) -> dict[str, float]:
    """Executions per job and the share of jobs that succeeded, in one run."""
    system: dict[str, Any] = {"processes": 1, "concurrency": 10, "poll_interval": "1s"}
    if ratio is not None:
        # cost 0: the token bucket never binds, so the SRE ratio alone is measured
        system["safeguards"] = {"retry_budget": {"ratio": ratio, "cost": 0, "timeout_cost": 0}}
    doc = {
        "name": f"amplification_{p}_{retries}_{ratio}",
        "description": "validation: retry amplification",
        "duration": jobs / RATE, "drain": 600.0, "system": system,
        "workload": [{"job": "SyntheticJob", "rate": per_second(RATE), "retry": retries,
                      "backoff": "fixed:intervals=1",
                      "args": {"dist": "fixed", "value": 0.01, "p_fail": p}}],
    }
    runs, succeeded = execution_counts(simulate(doc, seed_for(doc["name"], rep)))
    return {"load": sum(runs.values()) / len(runs), "success": len(succeeded) / len(runs)}


@dataclass
class Amplification:
    name: str = "amplification"
    plain: tuple[tuple[float, int], ...] = ((0.2, 3), (0.5, 3), (0.9, 2))
    budget: tuple[float, int, float] = (0.9, 2, 0.1)
    # 10 replications rather than fewer, longer ones: the family-wide interval multiplies
    # the standard error by a Student t factor that grows steeply below 10 (dof 3: ~12).
    reps: int = 10
    jobs: int = 4_000

    def sizes(self) -> str:
        return (f"Amplification: {self.reps} replications x {self.jobs:,} jobs per "
                f"configuration, Poisson at {RATE:g}/s.")

    def configs(self) -> list[tuple[float, int, float | None]]:
        return [*((p, n, None) for p, n in self.plain), self.budget]

    def tasks(self, quick: bool, seed_set: int = 0) -> list[Task]:
        jobs, reps = (1_000, 3) if quick else (self.jobs, self.reps)
        return [Task(amplification_replication, (p, n, r, jobs, rep), cost=jobs * 2)
                for p, n, r in self.configs() for rep in replications(reps, seed_set)]

    def judge(self, results: list[Any]) -> list[Row]:
        reps = len(results) // len(self.configs())
        rows = []
        for i, (p, n, ratio) in enumerate(self.configs()):
            chunk = results[i * reps:(i + 1) * reps]
            load = [r["load"] for r in chunk]
            if ratio is None:
                label = f"retry amplification p={p:g} N={n}"
                rows.append(analytic(f"{label}: load (x)", theory.retry_load(p, n), load))
                rows.append(analytic(f"{label}: success", theory.retry_success(p, n),
                                     [r["success"] for r in chunk]))
            else:
                label = (f"retry budget {ratio:.0%} p={p:g} N={n}: load (x) "
                         f"[no budget {theory.retry_load(p, n):.2f}]")
                rows.append(analytic(label, 1.0 / (1.0 - ratio), load))
        return rows
