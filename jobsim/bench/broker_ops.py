"""What a broker operation costs, in operations per second and in simpy timeouts.

simpy's raw timeout rate is measured in the same run, so the ratios hold on any machine:
a job's push + fetch + ack should cost at most ~3 timeouts on the memory broker, or
storage, not the simulated system, would dominate a large run (docs/design.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import simpy

from jobsim.broker.base import SCHEDULE, Broker, Payload
from jobsim.broker.memory import MemoryBroker
from jobsim.broker.redis import RedisBroker

OPS = ("push", "fetch", "ack", "schedule", "pop_due")
JOB_OPS = ("push", "fetch", "ack")
TARGET_JOB_COST = 3.0
_QUEUE, _WORKER, _CONCURRENCY = "default", "p0", 10


def _payloads(n: int) -> list[Payload]:
    return [
        {"jid": f"{i:016x}", "class": "BenchJob", "queue": _QUEUE, "args": [i, "x"],
         "retry": True, "created_at": float(i)}
        for i in range(n)
    ]


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _fetch_and_ack(broker: Broker, n: int) -> tuple[float, float]:
    """Fetch a worker's worth (10 jobs), ack them oldest first, repeat: the private list
    stays as short as a real processor keeps it."""
    fetch_s = ack_s = 0.0
    for start in range(0, n, _CONCURRENCY):
        count = min(_CONCURRENCY, n - start)
        t0 = time.perf_counter()
        held = [broker.pop_to_private(_QUEUE, _WORKER) for _ in range(count)]
        t1 = time.perf_counter()
        for payload in held:
            broker.ack(_WORKER, payload)  # type: ignore[arg-type]
        fetch_s += t1 - t0
        ack_s += time.perf_counter() - t1
    return fetch_s, ack_s


def _drain_due(broker: Broker, now: float) -> None:
    while broker.pop_due(SCHEDULE, now, 1000):
        pass


def measure_broker(broker: Broker, n: int) -> dict[str, float]:
    """Operations per second of each of OPS on ``broker``, n operations each."""
    payloads = _payloads(n)
    seconds: dict[str, float] = {}
    seconds["push"] = _timed(lambda: [broker.push(_QUEUE, p) for p in payloads])
    seconds["fetch"], seconds["ack"] = _fetch_and_ack(broker, n)
    # Scores in a scrambled order, as retries land: the set is not filled in due order.
    scores = [float((i * 7919) % n) for i in range(n)]
    seconds["schedule"] = _timed(
        lambda: [broker.zadd(SCHEDULE, s, p) for s, p in zip(scores, payloads, strict=True)]
    )
    seconds["pop_due"] = _timed(lambda: _drain_due(broker, float(n)))
    assert broker.zsize(SCHEDULE) == 0 and broker.queue_size(_QUEUE) == 0
    return {op: n / max(seconds[op], 1e-9) for op in OPS}


def simpy_timeouts_per_s(n: int, processes: int = 10) -> float:
    """Raw simpy speed: ``processes`` processes each yielding ``env.timeout(1)``."""
    env = simpy.Environment()
    per = max(1, n // processes)

    def proc() -> Any:
        for _ in range(per):
            yield env.timeout(1)

    for _ in range(processes):
        env.process(proc())
    return per * processes / max(_timed(env.run), 1e-9)


def run(n: int = 100_000, fakeredis_n: int | None = None) -> dict[str, Any]:
    """Measure memory (n ops) and fakeredis (n // 20 ops by default) against simpy."""
    sizes = {"memory": n, "fakeredis": fakeredis_n or max(1, n // 20)}
    simpy_rate = simpy_timeouts_per_s(max(n, 10_000))
    brokers: dict[str, Any] = {}
    job_cost: dict[str, float] = {}
    for name, broker in (("memory", MemoryBroker()), ("fakeredis", RedisBroker())):
        rates = measure_broker(broker, sizes[name])
        brokers[name] = {
            op: {"ops_per_s": rate, "vs_simpy": rate / simpy_rate} for op, rate in rates.items()
        }
        job_cost[name] = sum(simpy_rate / rates[op] for op in JOB_OPS)
    return {
        "n": sizes,
        "simpy_timeouts_per_s": simpy_rate,
        "brokers": brokers,
        "job_cost_in_timeouts": job_cost,
        "target_job_cost_in_timeouts": TARGET_JOB_COST,
    }


def render(result: dict[str, Any]) -> str:
    """A plain-text table of ``run()``'s result."""
    simpy_rate = result["simpy_timeouts_per_s"]
    lines = [
        f"simpy timeouts/s: {simpy_rate:,.0f}",
        "",
        f"{'broker':<10} {'op':<9} {'n':>8} {'ops/s':>12} {'x simpy':>9}",
    ]
    for name, ops in result["brokers"].items():
        for op, row in ops.items():
            lines.append(
                f"{name:<10} {op:<9} {result['n'][name]:>8,} {row['ops_per_s']:>12,.0f}"
                f" {row['vs_simpy']:>9.2f}"
            )
    lines.append("")
    target = result["target_job_cost_in_timeouts"]
    for name, cost in result["job_cost_in_timeouts"].items():
        line = f"{name}: push+fetch+ack = {cost:.2f} simpy timeouts per job"
        if name == "memory":
            line += f" (target <= {target:g}: {'ok' if cost <= target else 'OVER'})"
        lines.append(line)
    return "\n".join(lines)
