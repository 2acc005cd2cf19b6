"""export_leak: long exports that fail half way leak connections, temp files and memory
unless their resources are scoped (the seed's 48 GB, docs/semantics.md).

The figures come from ``metrics.checks.resources.stats`` (pool, temp-file and memory
gauges) and ``metrics.failures`` (failed executions by error class). Growth with the
job count is shown by running each variant at two scales.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from jobsim.scenario.runner import Result, run_scenario

SCALES = (0.5, 1.0)
POOL = 30                     # world.pools.db in the scenario


@cache
def run(variant: str | None, scale: float) -> Result:
    return run_scenario("export_leak", variant=variant, scale=scale)


def resources(variant: str | None, scale: float) -> dict[str, Any]:
    return run(variant, scale).metrics["checks"]["resources"]


def peak_memory(variant: str | None, scale: float) -> float:
    """Sum over worker processes of each one's peak bytes."""
    memory = resources(variant, scale)["stats"]["memory"]
    return sum(m["peak"] or 0 for m in memory.values())


@pytest.mark.parametrize("scale", SCALES)
def test_scoped_exports_give_everything_back(scale: float) -> None:
    result = run(None, scale)
    check = resources(None, scale)
    stats = check["stats"]
    assert check["ok"] and stats["final_idle"]
    assert stats["pools"]["db"]["last"] == 0 and stats["tempfiles"]["last_count"] == 0
    assert all(m["end"] == 0 for m in stats["memory"].values())
    assert result.metrics["failures"].get("ExportError", 0) > 0      # failures did happen
    assert "PoolTimeout" not in result.metrics["failures"]
    assert result.ok


def test_unscoped_exports_leak_more_the_more_jobs_run() -> None:
    small, large = (resources("unscoped", s)["stats"] for s in SCALES)
    assert not resources("unscoped", 0.5)["ok"] and not resources("unscoped", 1.0)["ok"]
    assert small["tempfiles"]["last_count"] > 0
    assert large["tempfiles"]["peak_count"] > small["tempfiles"]["peak_count"]
    assert large["pools"]["db"]["peak"] > small["pools"]["db"]["peak"]
    assert peak_memory("unscoped", 1.0) > peak_memory("unscoped", 0.5)
    for scale in SCALES:      # scoped peaks stay far below the leaks
        assert peak_memory(None, scale) < peak_memory("unscoped", scale)


def test_a_drained_pool_makes_later_exports_time_out() -> None:
    large = run("unscoped", 1.0).metrics
    assert resources("unscoped", 1.0)["stats"]["pools"]["db"]["peak"] == POOL
    assert large["failures"]["PoolTimeout"] > large["failures"]["ExportError"]
    assert large["jobs"]["succeeded"] < run(None, 1.0).metrics["jobs"]["succeeded"]
    assert large["jobs"]["lost"] == 0
