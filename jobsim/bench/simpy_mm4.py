"""The denominator of the M/M/4 figure: the same queue written in raw, idiomatic simpy.

As simpy's own examples (the bank and carwash tutorials) write a queue: a source process
draws exponential gaps and starts one process per customer; each customer requests a
``simpy.Resource`` of ``servers`` slots, holds it for an exponential service time and
releases it. No job system, no history, no checks: what the queue itself costs.

Run as a script in a fresh interpreter (``python .../simpy_mm4.py JOBS``) so its whole
process time (interpreter start, ``import simpy``, the run) compares like for like with a
whole ``jobsim simulate`` command. It imports nothing from jobsim.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Generator
from typing import Any

import simpy

RATE = 100.0          # arrivals per simulated second
SERVICE_MEAN = 0.032  # seconds: utilisation 100 * 0.032 / 4 = 0.8
SERVERS = 4


def customer(env: simpy.Environment, servers: simpy.Resource, service: float,
             done: list[int]) -> Generator[Any, Any, None]:
    with servers.request() as slot:
        yield slot
        yield env.timeout(service)
    done[0] += 1


def source(env: simpy.Environment, servers: simpy.Resource, jobs: int, rng: random.Random,
           done: list[int]) -> Generator[Any, Any, None]:
    for _ in range(jobs):
        yield env.timeout(rng.expovariate(RATE))
        env.process(customer(env, servers, rng.expovariate(1.0 / SERVICE_MEAN), done))


def run(jobs: int, seed: int = 1) -> int:
    """Simulate ``jobs`` customers to completion; returns how many were served."""
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=SERVERS)
    done = [0]
    env.process(source(env, servers, jobs, random.Random(seed), done))
    env.run()
    return done[0]


if __name__ == "__main__":  # pragma: no cover - run as a child process by the bench
    served = run(int(sys.argv[1]))
    print(served)
