"""Queueing cases: M/M/c (Erlang C), M/G/1 (Pollaczek-Khinchine) and two strict-priority
queues on one thread (Cobham), all run through the real job system.

Why the job system should match these models exactly: SyntheticJob's sleep is the only
service time (fetch is instantaneous), an idle thread is woken by the push itself, and a
strict fetch takes the higher queue whenever it holds work, which is non-preemptive
priority. The measured wait is the queue latency every report shows: start - enqueue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobsim.validate import theory
from jobsim.validate.case import Task
from jobsim.validate.measure import queue_waits
from jobsim.validate.rows import Row, analytic
from jobsim.validate.runs import per_second, queue_model, seed_for, simulate
from jobsim.validate.stats import mean_ci

WARMUP = 0.1            # share of the arrival window whose jobs are discarded
MU = 1.0                # service rate: exponential service of mean 1 s
EXPONENTIAL = {"dist": "exponential", "mean": 1.0 / MU}


def _warm(jobs: int, rate: float) -> float:
    return WARMUP * jobs / rate


# Jobs per replication, sized from a first full run (10 replications each) so every
# row's CI comes out near +-5 %: the variance per job grows steeply with load, and at
# c=10, rho=0.5 only 3.6 % of jobs wait at all. About 5.4 M jobs in all.
JOBS_PER_REP = {(1, 0.5): 10_000, (1, 0.8): 40_000, (1, 0.9): 130_000,
                (3, 0.5): 30_000, (3, 0.8): 45_000, (3, 0.9): 65_000,
                (10, 0.5): 100_000, (10, 0.8): 40_000, (10, 0.9): 80_000}


# ---- M/M/c -------------------------------------------------------------------------
def mmc_replication(c: int, rho: float, jobs: int, rep: int) -> dict[str, float]:
    """Mean wait and P(wait > 1/(c mu - lambda)) of one M/M/c run."""
    lam = rho * c * MU
    doc = queue_model(f"mm{c}_{rho}", rate=lam, jobs=jobs, concurrency=c, service=EXPONENTIAL)
    waits = queue_waits(simulate(doc, seed_for(doc["name"], rep)), _warm(jobs, lam)).all()
    t = 1.0 / (c * MU - lam)
    return {"wq": sum(waits) / len(waits), "tail": sum(w > t for w in waits) / len(waits),
            "n": len(waits)}


@dataclass
class MMc:
    """Erlang C at loads 0.5, 0.8, 0.9 for c = 1, 3, 10."""

    name: str = "mmc"
    servers: tuple[int, ...] = (1, 3, 10)
    loads: tuple[float, ...] = (0.5, 0.8, 0.9)
    reps: int = 10

    def configs(self) -> list[tuple[int, float]]:
        return [(c, rho) for c in self.servers for rho in self.loads]

    def sizes(self) -> str:
        each = ", ".join(f"c={c} rho={rho:g}: {self.jobs(c, rho, False):,}"
                         for c, rho in self.configs())
        return (f"M/M/c: {self.reps} replications ({2 * self.reps} for c=10) x jobs per "
                f"replication ({each}).")

    def jobs(self, c: int, rho: float, quick: bool) -> int:
        """Jobs per replication (``JOBS_PER_REP``)."""
        if quick:
            return 2_000
        return JOBS_PER_REP.get((c, rho), 50_000)

    def replications(self, c: int, quick: bool) -> int:
        """c = 10 gets twice the replications: with ten servers few jobs wait at all, so
        its per-run estimates are the noisiest and 10 runs gave intervals wider than the
        3 % tolerance they are judged against."""
        if quick:
            return 3
        return 2 * self.reps if c >= 10 else self.reps

    def tasks(self, quick: bool) -> list[Task]:
        return [Task(mmc_replication, (c, rho, n, rep), cost=n)
                for c, rho in self.configs()
                for n in [self.jobs(c, rho, quick)]
                for rep in range(self.replications(c, quick))]

    def judge(self, results: list[Any]) -> list[Row]:
        quick = len(results) == 3 * len(self.configs())
        rows = []
        start = 0
        for c, rho in self.configs():
            reps = self.replications(c, quick)
            chunk = results[start:start + reps]
            start += reps
            lam = rho * c * MU
            t = 1.0 / (c * MU - lam)
            label = f"M/M/{c} rho={rho:g}"
            rows.append(analytic(f"{label} Wq (s)", theory.mmc_wq(lam, MU, c),
                                 mean_ci([r["wq"] for r in chunk])))
            rows.append(analytic(f"{label} P(Wq>{t:.3g}s)", theory.mmc_wait_tail(lam, MU, c, t),
                                 mean_ci([r["tail"] for r in chunk])))
        return rows


# ---- M/G/1 -------------------------------------------------------------------------
def mg1_replication(rho: float, sigma: float, jobs: int, rep: int) -> dict[str, float]:
    service = {"dist": "lognormal", "mean": 1.0, "sigma": sigma}
    doc = queue_model(f"mg1_{rho}_{sigma}", rate=rho, jobs=jobs, concurrency=1,
                      service=service)
    waits = queue_waits(simulate(doc, seed_for(doc["name"], rep)), _warm(jobs, rho)).all()
    return {"wq": sum(waits) / len(waits), "n": len(waits)}


@dataclass
class MG1:
    """Lognormal service (mean 1 s, log-sd ``sigma``) against Pollaczek-Khinchine."""

    name: str = "mg1"
    rho: float = 0.7
    sigma: float = 1.0
    reps: int = 10
    jobs: int = 50_000

    def sizes(self) -> str:
        return f"M/G/1: {self.reps} replications x {self.jobs:,} jobs."

    def tasks(self, quick: bool) -> list[Task]:
        jobs, reps = (2_000, 3) if quick else (self.jobs, self.reps)
        return [Task(mg1_replication, (self.rho, self.sigma, jobs, rep), cost=jobs)
                for rep in range(reps)]

    def judge(self, results: list[Any]) -> list[Row]:
        es2 = theory.lognormal_second_moment(1.0, self.sigma)
        wq = theory.pk_wq(self.rho, 1.0, es2)
        label = f"M/G/1 lognormal sigma={self.sigma:g} rho={self.rho:g} Wq (s)"
        return [analytic(label, wq, mean_ci([r["wq"] for r in results]))]


# ---- strict priority ---------------------------------------------------------------
def priority_replication(rates: tuple[float, ...], jobs: int, rep: int) -> dict[str, float]:
    total = sum(rates)
    names = [f"q{k}" for k in range(len(rates))]
    entries = [{"job": "SyntheticJob", "rate": per_second(r), "queue": q, "args": EXPONENTIAL}
               for q, r in zip(names, rates, strict=True)]
    doc = queue_model("cobham", rate=total, jobs=jobs, concurrency=1, service=EXPONENTIAL,
                      queues=names, entries=entries)
    waits = queue_waits(simulate(doc, seed_for(doc["name"], rep)), _warm(jobs, total))
    return {q: sum(w) / len(w) for q, w in waits.by_queue.items()}


@dataclass
class Priority:
    """Strict queues [q0, q1] on one thread against Cobham's non-preemptive formula."""

    name: str = "priority"
    rates: tuple[float, ...] = (0.3, 0.5)
    reps: int = 10
    jobs: int = 50_000

    def sizes(self) -> str:
        return f"Priority: {self.reps} replications x {self.jobs:,} jobs (both classes)."

    def tasks(self, quick: bool) -> list[Task]:
        jobs, reps = (2_000, 3) if quick else (self.jobs, self.reps)
        return [Task(priority_replication, (self.rates, jobs, rep), cost=jobs)
                for rep in range(reps)]

    def judge(self, results: list[Any]) -> list[Row]:
        expected = theory.cobham_wq(self.rates, 1.0 / MU, 2.0 / MU**2)
        lams = ", ".join(f"{r:g}" for r in self.rates)
        return [analytic(f"priority lambda=({lams}) class {k + 1} Wq (s)", wq,
                         mean_ci([r[f"q{k}"] for r in results]))
                for k, wq in enumerate(expected)]
