"""``jobsim bench``: every benchmark suite, all figures from one run, with targets.

Benchmarks are wall-clock measurements of the simulator's costs (not model code). Each
suite is a pair ``(run(quick) -> dict, render(dict) -> str)``; every result dict carries
a ``pass`` mapping (figure -> bool). Suite modules are imported only when their suite
runs: a suite module missing from a checkout is reported as skipped, and a suite that
raises is reported as an error, without hiding the other suites' figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import import_module
from typing import Any

Runner = Callable[[bool], dict[str, Any]]
Renderer = Callable[[dict[str, Any]], str]


def _core(quick: bool) -> dict[str, Any]:
    from jobsim.bench import core

    if quick:
        return core.run(jobs=2_000, processes=2, concurrency=3, redis_jobs=100,
                        timeouts=50_000, memory_jobs=1_000, redis_memory_jobs=50)
    return core.run()


def _brokers(quick: bool) -> dict[str, Any]:
    """broker_ops measures storage operations; its memory job cost has a target."""
    module = import_module("jobsim.bench.broker_ops")
    result: dict[str, Any] = module.run(n=5_000) if quick else module.run()
    cost = result.get("job_cost_in_timeouts", {}).get("memory")
    target = result.get("target_job_cost_in_timeouts")
    if "pass" not in result and cost is not None and target is not None:
        result["pass"] = {"memory_job_cost_in_timeouts": cost <= target}
    return result


def _scenarios(name: str) -> Runner:
    def run(quick: bool) -> dict[str, Any]:
        return getattr(import_module("jobsim.bench.scenarios"), name)(quick)
    return run


def _properties(quick: bool) -> dict[str, Any]:
    from jobsim.bench import properties

    return properties.run(quick)


def _targets(quick: bool) -> dict[str, Any]:
    from jobsim.bench import targets

    return targets.run(quick)


def _sweep(quick: bool) -> dict[str, Any]:
    from jobsim.bench import sweep

    return sweep.run(quick)


def _render_with(module: str) -> Renderer:
    def render(result: dict[str, Any]) -> str:
        return import_module(module).render(result)
    return render


def _render_figures(title: str) -> Renderer:
    def render(result: dict[str, Any]) -> str:
        from jobsim.bench.render import figures

        return figures(title, result)
    return render


SUITES: dict[str, tuple[Runner, Renderer]] = {
    "targets": (_targets, _render_with("jobsim.bench.targets")),
    "core": (_core, _render_with("jobsim.bench.core")),
    "brokers": (_brokers, _render_with("jobsim.bench.broker_ops")),
    "black_friday": (_scenarios("black_friday"), _render_figures("black_friday")),
    "million": (_scenarios("million"), _render_figures("million")),
    "properties": (_properties, _render_figures("properties")),
    "fakeredis": (_scenarios("fakeredis_vs_memory"), _render_figures("fakeredis")),
    "sweep": (_sweep, _render_with("jobsim.bench.sweep")),
}

# What a bare ``jobsim bench`` (and ``make bench``) runs: the round-two target table, then
# the per-job and per-operation costs and the sweep. black_friday, million, properties
# and fakeredis measure looser, older targets that the table supersedes; they still run
# by name.
DEFAULT = ["targets", "core", "brokers", "sweep"]


def run_suites(names: list[str], quick: bool = False) -> tuple[dict[str, Any], str]:
    """Run the named suites in order: (results by suite, the printable text)."""
    from jobsim.bench.machine import describe, one_line

    results: dict[str, Any] = {"machine": describe(), "quick": quick}
    parts = [f"jobsim bench on {one_line()}" + (" (quick: smoke-test sizes)" if quick else "")]
    for name in names:
        runner, render = SUITES[name]
        started = time.perf_counter()
        try:
            result = runner(quick)
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("jobsim.bench."):
                raise
            results[name] = {"skipped": f"module {exc.name} is not available"}
            parts.append(f"\n== {name}: skipped ({results[name]['skipped']})")
            continue
        except Exception as exc:   # one broken suite must not hide the others' figures
            results[name] = {"error": f"{type(exc).__name__}: {exc}", "pass": {"ran": False}}
            parts.append(f"\n== {name}: ERROR {results[name]['error']}")
            continue
        result["suite_wall_s"] = time.perf_counter() - started
        results[name] = result
        parts.append(f"\n== {name} ({result['suite_wall_s']:.1f} s)\n{render(result)}")
    verdicts = [ok for name in names for ok in _passes(results[name])]
    results["all_pass"] = all(verdicts)
    parts.append(f"\noverall: {'PASS' if all(verdicts) else 'FAIL'} "
                 f"({sum(verdicts)}/{len(verdicts)} figures meet their targets)")
    return results, "\n".join(parts)


def _passes(result: dict[str, Any]) -> list[bool]:
    flags = result.get("pass", {})
    return [bool(v) for k, v in flags.items() if k != "all"]
