"""Turn a validated Scenario into the objects a run is made of.

The scenario file speaks the user's language (durations, a service's baseline error
rate, plug-ins and their sections); the layers below speak their own. This module is the
one translation between them. It names no application: services and tables come from
the scenario and its plug-ins.
"""

from __future__ import annotations

from typing import Any

from jobsim.chaos.faults import FAULTS, Fault, FaultParamError, build_fault
from jobsim.scenario.durations import parse_duration
from jobsim.scenario.errors import ScenarioError
from jobsim.scenario.schema import Distribution, Scenario
from jobsim.system.config import Capsule, SystemConfig
from jobsim.world.handlers import death_handler
from jobsim.world.workload import Arrivals

FAULT_NAMES = frozenset(FAULTS) | {"service_latency", "outage"}


def _queues(queues: tuple[tuple[str, int], ...], mode: str) -> list[Any]:
    """Validated queues back in sidekiq.yml syntax, which the job system reads."""
    if mode == "strict":
        return [name for name, _ in queues]
    return [[name, weight] for name, weight in queues]


def system_config(scenario: Scenario) -> SystemConfig:
    s = scenario.system
    return SystemConfig(
        processes=s.processes, concurrency=s.concurrency, fetch=s.fetch,
        queues=_queues(s.queues, s.queue_mode),
        capsules=[Capsule(c.name, c.concurrency, _queues(c.queues, c.queue_mode))
                  for c in s.capsules],
        poll_interval_avg=s.poll_interval, shutdown_timeout=s.shutdown_timeout,
        dead_max_jobs=s.dead_max_jobs, dead_timeout_s=s.dead_timeout,
        death_handlers=[death_handler(name) for name in s.death_handlers],
        max_retries=s.max_retries,
        latency_bounds=dict(scenario.latency_bounds), flavor=s.flavor,
    )


def latency_spec(d: Distribution) -> dict[str, Any]:
    """A scenario distribution as the world's config spells it (the same dialect)."""
    return {"dist": d.dist, **d.params}


def world_config(scenario: Scenario) -> tuple[dict[str, Any], dict[str, float]]:
    """The World's config, and baseline error rates per service (applied after build).
    Plug-ins' services and tables come first; the scenario's keys override theirs."""
    w = scenario.world
    services: dict[str, Any] = {}
    for plugin in scenario.plugins:
        for name, spec in plugin.services.items():
            services[name] = dict(spec)
    error_rates: dict[str, float] = {}
    for name, svc in w.services.items():
        spec: dict[str, Any] = {"capacity": svc.capacity, "on_full": svc.on_full,
                                "timeout": svc.timeout, "dedupe_window_s": svc.idempotency_window}
        if svc.latency is not None:
            spec["latency"] = latency_spec(svc.latency)
        services[name] = {**services.get(name, {}),
                          **{k: v for k, v in spec.items() if v is not None}}
        if svc.error_rate:
            error_rates[name] = svc.error_rate
    tables = {name: list(unique) for p in scenario.plugins for name, unique in p.tables.items()}
    tables.update({name: list(unique) for name, unique in w.tables.items()})
    guards = scenario.system.safeguards
    config = {
        "db": {"replicas": w.database.replicas, "lag": w.database.lag},
        "pools": {name: {"size": pool.size, "wait_timeout": pool.checkout_timeout}
                  for name, pool in w.pools.items()},
        "services": services,
        "tables": tables,
    }
    if guards.get("circuit_breaker") is not None:
        config["circuit_breaker"] = dict(guards["circuit_breaker"])
    return config, error_rates


def arrivals(scenario: Scenario) -> list[Arrivals]:
    """Workload entries for the driver (their args and queues were resolved at load,
    by ``references``)."""
    out = []
    for e in scenario.workload:
        options = {"queue": e.queue, "retry": e.retry, "backoff": e.backoff, "jitter": e.jitter}
        out.append(Arrivals(
            job=e.job, kind=e.arrival, count=e.count or 0, rate=e.rate or 0.0,
            start=e.start, end=e.end, spread=e.spread, args=dict(e.args),
            options={k: v for k, v in options.items() if v is not None},
        ))
    return out


def faults(scenario: Scenario) -> list[Fault]:
    """Validated faults; a bad parameter is a ScenarioError naming faults[i].param."""
    built = []
    horizon = scenario.horizon
    for i, f in enumerate(scenario.faults):
        where = f"faults[{i}]"
        duration = f.duration if f.duration is not None else max(0.0, horizon - f.start)
        try:
            built.append(build_fault(f.type, f.start, duration, f.target, dict(f.params),
                                     parse_duration, where))
        except FaultParamError as exc:
            raise ScenarioError(scenario.file, exc.path, exc.reason) from None
        except ScenarioError as exc:
            raise ScenarioError(scenario.file, exc.path, exc.reason) from None
    return built
