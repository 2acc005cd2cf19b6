"""Metastable failure (Bronson et al. 2021): a short trigger leaves a system overloaded
after the trigger ends, unless retries back off and are budgeted.

The model: AnalyticsJob calls one service of ``CAPACITY`` = 20 slots, lognormal latency
of mean ``LATENCY`` = 250 ms (so it serves 80 calls/s), with a client ``TIMEOUT`` of 1 s
that includes waiting for a slot; 4 processes x 30 threads; jobs arrive at ``RATE`` =
50/s (load 0.625, about 13 threads busy), each with 3 retries. A 1 s latency fault for
30 s makes every call time out, and every failure becomes a retry.

Why this is bistable: with immediate retries a failing job costs 4 executions, 200/s,
more than the 120 threads can start, so a backlog builds in the queue. Once it exists
every thread is always calling: 120 callers for 20 slots, each giving up after 1 s, so a
call that gets a slot has on average 20 x 1 s / 120 = 0.17 s left, less than the 0.25 s
it needs; it holds the slot until its deadline and fails. Goodput stays near 0 after the
latency is back to normal, and the backlog never drains. With backoff, jitter and a
10 % retry budget the attempt rate stays <= 1.11 x 50/s: no backlog, and it recovers.
(A fixed latency would let callers fall into lock-step and some get through; real
latencies vary, hence the lognormal with a 50 ms sd.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobsim.validate.case import Task
from jobsim.validate.measure import rate_between, success_times
from jobsim.validate.rows import Row, bound
from jobsim.validate.runs import per_second, replications, seed_for, simulate

RATE = 50.0
CAPACITY, LATENCY, LATENCY_SD, TIMEOUT = 20, 0.25, 0.05, 1.0
THREADS = 30              # per process
TRIGGER = (120.0, 150.0)          # latency fault window
DURATION = 400.0
WINDOWS = {"before": (30.0, TRIGGER[0]), "during": TRIGGER,
           "after": (TRIGGER[1] + 60.0, DURATION)}
VARIANTS: dict[str, dict[str, Any]] = {
    "no backoff": {"backoff": "fixed:intervals=0", "safeguards": {}},
    "backoff+jitter+budget": {"backoff": "exponential:base=1,cap=60,jitter=full",
                              "safeguards": {"retry_budget": {"ratio": 0.1}}},
}


def document(variant: str, rate: float, duration: float) -> dict[str, Any]:
    spec = VARIANTS[variant]
    return {
        "name": "metastable", "description": "validation: metastable failure",
        "duration": duration,
        "system": {"processes": 4, "concurrency": THREADS, "poll_interval": "1s",
                   "safeguards": spec["safeguards"]},
        "plugins": ["jobsim.shop"],
        "world": {"services": {"analytics": {
            "latency": {"dist": "lognormal", "mean": f"{LATENCY * 1000:g}ms",
                        "sd": f"{LATENCY_SD * 1000:g}ms"},
            "capacity": CAPACITY,
            "timeout": f"{TIMEOUT:g}s"}}},
        "workload": [{"job": "AnalyticsJob", "rate": per_second(rate), "queue": "default",
                      "retry": 3, "backoff": spec["backoff"]}],
        "faults": [{"type": "latency", "target": "analytics", "extra": "1s",
                    "start": f"{TRIGGER[0]:g}s", "duration": f"{TRIGGER[1] - TRIGGER[0]:g}s"}],
    }


def goodput(variant: str, scale: float, rep: int) -> dict[str, float]:
    """Successful jobs per second before, during and after the trigger."""
    doc = document(variant, RATE * scale, DURATION)
    times = success_times(simulate(doc, seed_for(f"metastable.{variant}", rep)))
    return {name: rate_between(times, *window) for name, window in WINDOWS.items()}


@dataclass
class Metastable:
    name: str = "metastable"

    def sizes(self) -> str:
        return (f"Metastable: one run per variant, {DURATION:g} s at {RATE:g} jobs/s, "
                f"trigger {TRIGGER[0]:g}-{TRIGGER[1]:g} s; windows " + ", ".join(
                    f"{k} {a:g}-{b:g} s" for k, (a, b) in WINDOWS.items()) + ".")

    def tasks(self, quick: bool, seed_set: int = 0) -> list[Task]:
        # quick keeps the full model: the collapse needs the full rate to happen at all
        rep = replications(1, seed_set)[0]
        return [Task(goodput, (variant, 1.0, rep), cost=200_000) for variant in VARIANTS]

    def judge(self, results: list[Any]) -> list[Row]:
        rows = []
        for variant, g in zip(VARIANTS, results, strict=True):
            rows.append(bound(
                f"metastable goodput/s before/during/after: {variant}",
                f"{RATE:g} before", f"{g['before']:.1f} / {g['during']:.1f} / {g['after']:.1f}",
                f"after/before {g['after'] / g['before']:.2f}",
                g["before"] >= 0.9 * RATE, "healthy before the trigger (>= 90 % of rate)"))
        stuck, healed = results
        ok = stuck["after"] < 0.5 * stuck["before"] and healed["after"] >= 0.9 * healed["before"]
        rows.append(bound(
            "metastable ordering after the trigger",
            "no backoff stays low; backoff recovers",
            f"{stuck['after']:.1f} vs {healed['after']:.1f} /s", "", ok,
            "no backoff < 50 % of before; backoff >= 90 %"))
        return rows
