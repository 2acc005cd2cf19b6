"""Weighted queue selection under saturation: fetch shares = w_i / sum(w)
(docs/semantics.md, Queue selection).

Every queue gets a large burst at t=0 and one thread drains them; only fetches made
while *every* queue still held work count, since an empty queue drops out of the draw.
The counts are tested with a chi-square goodness-of-fit test at level ``rows.ALPHA``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobsim.checks.priority import chi2_sf
from jobsim.history.history import History
from jobsim.validate.case import Task
from jobsim.validate.rows import Row, statistical
from jobsim.validate.runs import replications, seed_for, simulate


def saturated_fetches(history: History, queues: list[str]) -> dict[str, int]:
    """Fetches per queue made while every queue was non-empty."""
    depth = dict.fromkeys(queues, 0)
    counts = dict.fromkeys(queues, 0)
    for event in history.events:
        kind = event[1]
        if kind == "enqueue":
            depth[event[3]] += 1
        elif kind == "start" and not event[6]:
            if all(depth.values()):
                counts[event[3]] += 1
            depth[event[3]] -= 1
    return counts


def weighted_replication(weights: tuple[int, ...], burst: int, rep: int) -> dict[str, int]:
    names = [f"w{k}" for k in range(len(weights))]
    doc = {
        "name": "weighted", "description": "validation: weighted fetch", "duration": 1.0,
        "drain": 60.0,
        "system": {"processes": 1, "concurrency": 1,
                   "queues": [[n, w] for n, w in zip(names, weights, strict=True)]},
        "workload": [{"job": "NoopJob", "burst": burst, "at": "0s", "queue": n}
                     for n in names],
    }
    return saturated_fetches(simulate(doc, seed_for("weighted", rep)), names)


@dataclass
class Weighted:
    name: str = "weighted"
    weights: tuple[int, ...] = (6, 3, 1)
    burst: int = 10_000
    reps: int = 4

    def sizes(self) -> str:
        return (f"Weighted: {self.reps} runs, each a burst of {self.burst:,} jobs per queue "
                "drained by one thread.")

    def tasks(self, quick: bool, seed_set: int = 0) -> list[Task]:
        burst, reps = (1_000, 2) if quick else (self.burst, self.reps)
        return [Task(weighted_replication, (self.weights, burst, rep), cost=3 * burst)
                for rep in replications(reps, seed_set)]

    def judge(self, results: list[Any]) -> list[Row]:
        names = [f"w{k}" for k in range(len(self.weights))]
        counts = [sum(r[n] for r in results) for n in names]
        n, total_w = sum(counts), sum(self.weights)
        expected = [n * w / total_w for w in self.weights]
        x2 = sum((o - e) ** 2 / e for o, e in zip(counts, expected, strict=True))
        p = chi2_sf(x2, len(counts) - 1)
        shares = [c / n for c in counts]
        gap = max(abs(s - w / total_w) for s, w in zip(shares, self.weights, strict=True))
        label = ":".join(str(w) for w in self.weights)
        return [statistical(
            f"weighted fetch shares {label} (saturated)",
            "/".join(f"{w / total_w:.3f}" for w in self.weights),
            "/".join(f"{s:.3f}" for s in shares) + f" (fetches={n:,})",
            f"max {gap:.3f}", p, f"chi2={x2:.2f} dof={len(counts) - 1}")]
