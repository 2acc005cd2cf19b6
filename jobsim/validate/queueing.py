"""Queueing cases: M/M/c (Erlang C), M/G/1 (Pollaczek-Khinchine) and two strict-priority
queues on one thread (Cobham), all run through the real job system.

Why the job system should match these models exactly: SyntheticJob's sleep is the only
service time (fetch is instantaneous), an idle thread is woken by the push itself, and a
strict fetch takes the higher queue whenever it holds work, which is non-preemptive
priority. The measured wait is the queue latency every report shows: start - enqueue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from jobsim.validate import theory
from jobsim.validate.case import Task
from jobsim.validate.measure import queue_mechanics, queue_waits
from jobsim.validate.rows import Row, analytic, bound, statistical
from jobsim.validate.runs import per_second, queue_model, replications, seed_for, simulate
from jobsim.validate.stats import ks_exponential

WARMUP = 0.1            # share of the arrival window whose jobs are discarded
MU = 1.0                # service rate: exponential service of mean 1 s
EXPONENTIAL = {"dist": "exponential", "mean": 1.0 / MU}


def _warm(jobs: int, rate: float) -> float:
    return WARMUP * jobs / rate


# Sizing. Every queueing row is judged with a simultaneous interval (rows.settle), whose
# half width is a Student t factor (about 3.7 for 20 replications and some thirty rows)
# times the standard error. The replications are sized so that every row's relative
# standard error comes out near TARGET_SE, which puts the simultaneous half width near
# 4.6 % and the 3 % tolerance at 2.4 standard errors.
#
# VARIANCE_PER_JOB is (relative standard error)^2 x replications x jobs per replication,
# measured on every row in the previous full run (10 replications; 20 for c=10), taking
# the larger of the pair (Wq, tail) per model. Jobs per replication follow from
# VARIANCE_PER_JOB / (REPS x TARGET_SE^2), rounded up to 5,000. The cost is uneven because
# the variance is: at c=10, rho=0.5 only 3.6 % of jobs wait at all; at c=1, rho=0.9 the
# queue length is correlated over thousands of jobs.
REPS = 20
TARGET_SE = 0.0125
VARIANCE_PER_JOB: dict[tuple[int, float] | str, float] = {
    (1, 0.5): 32, (1, 0.8): 74, (1, 0.9): 860,
    (3, 0.5): 68, (3, 0.8): 295, (3, 0.9): 300,
    (10, 0.5): 990, (10, 0.8): 355, (10, 0.9): 700,
    "mg1": 104, "priority": 190}
QUICK_JOBS, QUICK_REPS = 2_000, 3


def jobs_per_rep(model: tuple[int, float] | str) -> int:
    """Jobs per replication for TARGET_SE (see VARIANCE_PER_JOB)."""
    jobs = VARIANCE_PER_JOB[model] / (REPS * TARGET_SE**2)
    return 5_000 * math.ceil(jobs / 5_000)


# ---- M/M/c -------------------------------------------------------------------------
def mmc_replication(c: int, rho: float, jobs: int, rep: int, samples: bool = False
                    ) -> dict[str, Any]:
    """Mean wait and P(wait > 1/(c mu - lambda)) of one M/M/c run, and the mechanics
    (every job, warm-up included) that Erlang C assumes."""
    lam = rho * c * MU
    doc = queue_model(f"mm{c}_{rho}", rate=lam, jobs=jobs, concurrency=c, service=EXPONENTIAL)
    history = simulate(doc, seed_for(doc["name"], rep))
    waits = queue_waits(history, _warm(jobs, lam)).all()
    t = 1.0 / (c * MU - lam)
    mech = queue_mechanics(history, c, samples)
    return {"c": c, "rho": rho, "wq": sum(waits) / len(waits),
            "tail": sum(w > t for w in waits) / len(waits), "n": len(waits),
            "jobs": mech.jobs, "late": mech.late, "skipped": mech.skipped,
            "out_of_order": mech.out_of_order, "services": mech.services,
            "gaps": None if mech.gaps is None else [g * lam for g in mech.gaps]}


@dataclass
class MMc:
    """Erlang C at loads 0.5, 0.8, 0.9 for c = 1, 3, 10, and the mechanics behind it."""

    name: str = "mmc"
    servers: tuple[int, ...] = (1, 3, 10)
    loads: tuple[float, ...] = (0.5, 0.8, 0.9)

    def configs(self) -> list[tuple[int, float]]:
        return [(c, rho) for c in self.servers for rho in self.loads]

    def sizes(self) -> str:
        each = ", ".join(f"c={c} rho={rho:g}: {jobs_per_rep((c, rho)):,}"
                         for c, rho in self.configs())
        return f"M/M/c: {REPS} replications x jobs per replication ({each})."

    def tasks(self, quick: bool, seed_set: int = 0) -> list[Task]:
        """The first replication of each model also returns its raw service times and
        interarrival gaps, for the distribution tests."""
        tasks = []
        for c, rho in self.configs():
            jobs, reps = (QUICK_JOBS, QUICK_REPS) if quick else (jobs_per_rep((c, rho)), REPS)
            for k, rep in enumerate(replications(reps, seed_set)):
                tasks.append(Task(mmc_replication, (c, rho, jobs, rep, k == 0), cost=jobs))
        return tasks

    def judge(self, results: list[Any]) -> list[Row]:
        rows = []
        for c, rho in self.configs():
            chunk = [r for r in results if (r["c"], r["rho"]) == (c, rho)]
            lam = rho * c * MU
            t = 1.0 / (c * MU - lam)
            label = f"M/M/{c} rho={rho:g}"
            rows.append(analytic(f"{label} Wq (s)", theory.mmc_wq(lam, MU, c),
                                 [r["wq"] for r in chunk]))
            rows.append(analytic(f"{label} P(Wq>{t:.3g}s)", theory.mmc_wait_tail(lam, MU, c, t),
                                 [r["tail"] for r in chunk]))
        return [*rows, mechanics_row(results), *distribution_rows(results)]


def mechanics_row(results: list[dict[str, Any]]) -> Row:
    """Erlang C's premises, exactly: a job waits if and only if every thread was busy
    when it arrived, and jobs start in arrival order (Sidekiq's LPUSH + BRPOP)."""
    jobs = sum(r["jobs"] for r in results)
    late, skipped, order = (sum(r[k] for r in results)
                            for k in ("late", "skipped", "out_of_order"))
    ok = late == skipped == order == 0
    return bound(f"M/M/c mechanics, every job of {len(results)} runs",
                 "wait iff all c busy; FIFO",
                 f"{jobs:,} jobs: {late} waited with a free thread, {skipped} skipped the "
                 f"queue, {order} out of order", "", ok, "no violation")


def distribution_rows(results: list[dict[str, Any]]) -> list[Row]:
    """Kolmogorov-Smirnov: service times (start to success) against exponential(1 s),
    and interarrival gaps scaled by lambda against exponential(1), pooled over the first
    replication of every model."""
    rows = []
    for key, what in (("services", "service times (s)"), ("gaps", "interarrival x lambda")):
        pooled = [x for r in results if r[key] is not None for x in r[key]]
        d, p = ks_exponential(pooled, 1.0)
        rows.append(statistical(f"M/M/c {what} ~ exponential(1)", "Exp(1)",
                                f"mean {sum(pooled) / len(pooled):.4f} (n={len(pooled):,})",
                                f"D={d:.2g}", p, "KS"))
    return rows


# ---- M/G/1 -------------------------------------------------------------------------
def mg1_replication(rho: float, sigma: float, jobs: int, rep: int) -> dict[str, float]:
    sd = math.sqrt(math.exp(sigma * sigma) - 1.0)    # the dialect takes the sd, mean 1 s
    service = {"dist": "lognormal", "mean": 1.0, "sd": sd}
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

    def sizes(self) -> str:
        return f"M/G/1: {REPS} replications x {jobs_per_rep('mg1'):,} jobs."

    def tasks(self, quick: bool, seed_set: int = 0) -> list[Task]:
        jobs, reps = (QUICK_JOBS, QUICK_REPS) if quick else (jobs_per_rep("mg1"), REPS)
        return [Task(mg1_replication, (self.rho, self.sigma, jobs, rep), cost=jobs)
                for rep in replications(reps, seed_set)]

    def judge(self, results: list[Any]) -> list[Row]:
        es2 = theory.lognormal_second_moment(1.0, self.sigma)
        wq = theory.pk_wq(self.rho, 1.0, es2)
        label = f"M/G/1 lognormal sigma={self.sigma:g} rho={self.rho:g} Wq (s)"
        return [analytic(label, wq, [r["wq"] for r in results])]


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

    def sizes(self) -> str:
        return f"Priority: {REPS} replications x {jobs_per_rep('priority'):,} jobs (both classes)."

    def tasks(self, quick: bool, seed_set: int = 0) -> list[Task]:
        jobs, reps = (QUICK_JOBS, QUICK_REPS) if quick else (jobs_per_rep("priority"), REPS)
        return [Task(priority_replication, (self.rates, jobs, rep), cost=jobs)
                for rep in replications(reps, seed_set)]

    def judge(self, results: list[Any]) -> list[Row]:
        expected = theory.cobham_wq(self.rates, 1.0 / MU, 2.0 / MU**2)
        lams = ", ".join(f"{r:g}" for r in self.rates)
        return [analytic(f"priority lambda=({lams}) class {k + 1} Wq (s)", wq,
                         [r[f"q{k}"] for r in results])
                for k, wq in enumerate(expected)]
