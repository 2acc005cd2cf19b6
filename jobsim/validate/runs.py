"""Run a validation model through the real job system, exactly as a scenario file would.

Each case builds the YAML-equivalent mapping of a scenario (so the model is readable and
could be pasted into ``scenarios/``), validates it with the scenario loader and runs it
with ``run_scenario``: no shortcut around the client, fetch, processors or retries.
"""

from __future__ import annotations

import zlib
from typing import Any

from jobsim.history.history import History


def scenario(doc: dict[str, Any]) -> Any:
    """Validate a scenario mapping (raises ScenarioError naming the bad field)."""
    from jobsim.checks.registry import NAMES
    from jobsim.scenario import build, load_document
    from jobsim.scenario.jobs import base_library

    return load_document(doc, known_jobs=base_library(), known_faults=build.FAULT_NAMES,
                         known_checks=NAMES, stem=str(doc.get("name", "validate")))


def simulate(doc: dict[str, Any], seed: int) -> History:
    """The history of one replication."""
    from jobsim.scenario.runner import run_scenario

    return run_scenario(scenario(doc), seed=seed).history


def seed_for(key: str, rep: int) -> int:
    """A stable seed per (model, replication): rows never share random streams."""
    return zlib.crc32(f"{key}#{rep}".encode())


SEED_SET_STRIDE = 1_000_000


def replications(count: int, seed_set: int = 0) -> range:
    """Replication numbers of one seed set. Set 0 is 0..count-1, the published table;
    set k starts at k * 1,000,000, so its seeds are independent of every other set's:
    a second opinion for anyone who suspects the table's seeds were picked."""
    if seed_set < 0:
        raise ValueError(f"seed set must be >= 0, got {seed_set}")
    start = seed_set * SEED_SET_STRIDE
    return range(start, start + count)


def per_second(rate: float) -> str:
    """A rate as scenario files write it (they accept no exponent notation)."""
    return f"{rate:.9f}".rstrip("0").rstrip(".") + "/s"


def queue_model(name: str, *, rate: float, jobs: int, concurrency: int,
                service: dict[str, Any], queues: list[Any] | None = None,
                entries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Poisson arrivals of SyntheticJob at ``rate``/s for about ``jobs`` jobs, one worker
    process with ``concurrency`` threads, no failures, drained at the end."""
    duration = jobs / rate
    workload = entries or [{"job": "SyntheticJob", "rate": per_second(rate), "args": service}]
    return {
        "name": name,
        "description": f"validation model {name}",
        "duration": duration,
        "drain": duration,
        "system": {"processes": 1, "concurrency": concurrency,
                   "queues": queues or ["default"]},
        "workload": workload,
    }
