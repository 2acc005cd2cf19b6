"""The world jobs act on, built from a scenario's ``world:`` section.

Config keys (all optional; unknown keys raise ``ValueError`` naming ``world.<path>``)::

    db:        {replicas: 1, lag: 0.0}           # or lags: [0.5, 3.0], one per replica
    pools:     {db: {size: 10, wait_timeout: null}}
    services:                                     # any names; none is built in
      NAME: {latency: {dist: lognormal, mean: 0.3, sd: 0.15}, capacity: 50,
             on_full: queue, timeout: 10, effect_on_timeout: false,
             dedupe_window_s: 86400, track_load: false}
    tables:    {NAME: [FIELD, ...]}              # the only tables jobs may touch, with
                                                  # their unique columns (may be [])
    sample_interval: 10      # seconds between gauge samples; 0 or null: no sampler
    circuit_breaker: null    # or {threshold: 5, cooldown: 30}: one breaker per service

The world knows no application: a plug-in (``jobsim/world/plugin.py``) adds its
services and tables to the config and keeps its own settings in ``world.plugins``.

At ``finish`` every service that was called records its load once, as
``sample("service.NAME.STAT", value)`` for STAT in ``LOAD_STATS`` (see services.py):
a few events per run, so metrics can report the load without per-call records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobsim.sim.simulation import Simulation
from jobsim.world.circuit import CircuitBreaker
from jobsim.world.database import Database
from jobsim.world.resources import ConnectionPool, Memory, Sampler, TempFiles
from jobsim.world.services import Service, UndeclaredService
from jobsim.world.traffic import Traffic

SERVICE_KEYS = {"latency", "capacity", "on_full", "timeout", "effect_on_timeout",
                "dedupe_window_s", "track_load"}
TOP_KEYS = {"db", "pools", "services", "tables", "sample_interval", "circuit_breaker"}
BREAKER_KEYS = {"threshold", "cooldown"}
LOAD_STATS = ("calls", "peak_calls_per_s", "recovered_calls", "recovered_peak_calls_per_s",
              "errors", "timeouts", "rejected", "rejected_by_breaker")


def _check_keys(section: Mapping[str, Any], allowed: set[str], path: str) -> None:
    if not isinstance(section, Mapping):
        raise ValueError(f"{path}: expected a mapping, got {type(section).__name__}")
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


class World:
    """Database, services, pools, temp files, memory and the gauge sampler of one run."""

    def __init__(self, sim: Simulation, config: Mapping[str, Any] | None = None) -> None:
        config = dict(config or {})
        _check_keys(config, TOP_KEYS, "world")
        self.sim = sim
        self.plugins: dict[str, Any] = {}   # each plug-in's settings, by plug-in name
        self.db = self._build_db(config.get("db", {}), config.get("tables", {}))
        self.services = self._build_services(config.get("services", {}))
        self._add_breakers(config.get("circuit_breaker"))
        self.pools = self._build_pools(config.get("pools", {}))
        self.tempfiles = TempFiles(sim)
        self.memory = Memory(sim)
        interval = config.get("sample_interval", 10.0)
        sources = [p.gauges for p in self.pools.values()]
        sources += [self.tempfiles.gauges, self.memory.gauges,
                    Traffic(self.services.values()).gauges]
        self.sampler = Sampler(sim, sources, float(interval)) if interval else None

    # ---- construction ----------------------------------------------------------------
    def _build_db(self, cfg: Mapping[str, Any], tables: Mapping[str, Any]) -> Database:
        _check_keys(cfg, {"replicas", "lag", "lags"}, "world.db")
        replicas = int(cfg.get("replicas", 1))
        lags = cfg.get("lags", cfg.get("lag", 0.0))
        try:
            db = Database(self.sim, replicas, lags)
        except ValueError as exc:
            raise ValueError(f"world.db: {exc}") from None
        _check_keys(tables, set(tables), "world.tables")
        for name, unique in tables.items():
            db.create_table(name, unique=tuple(unique or ()) or None)
        return db

    def _build_services(self, cfg: Mapping[str, Any]) -> dict[str, Service]:
        _check_keys(cfg, set(cfg), "world.services")
        services: dict[str, Service] = {}
        for name, opts in cfg.items():
            opts = opts or {}
            _check_keys(opts, SERVICE_KEYS, f"world.services.{name}")
            try:
                services[name] = Service(self.sim, name=name, **opts)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"world.services.{name}: {exc}") from None
        return services

    def _add_breakers(self, cfg: Mapping[str, Any] | None) -> None:
        if cfg is None:
            return
        _check_keys(cfg, BREAKER_KEYS, "world.circuit_breaker")
        try:
            CircuitBreaker(self.sim, "settings", **cfg)   # bad settings fail without services
            for name, service in self.services.items():
                service.breaker = CircuitBreaker(self.sim, name, **cfg)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"world.circuit_breaker: {exc}") from None

    def _build_pools(self, cfg: Mapping[str, Any]) -> dict[str, ConnectionPool]:
        merged = {"db": {"size": 10}, **cfg}
        pools = {}
        for name, opts in merged.items():
            _check_keys(opts, {"size", "wait_timeout"}, f"world.pools.{name}")
            size = int(opts.get("size", 10))
            if size < 1:
                raise ValueError(f"world.pools.{name}.size: must be >= 1, got {size}")
            pools[name] = ConnectionPool(self.sim, name, size, opts.get("wait_timeout"))
        return pools

    # ---- access ----------------------------------------------------------------------
    def service(self, name: str) -> Service:
        """The service called ``name``; UndeclaredService (a KeyError) naming the
        declared ones if none."""
        found = self.services.get(name)
        if found is None:
            raise UndeclaredService(
                f"unknown service {name!r}; declared: {', '.join(sorted(self.services)) or 'none'}"
                " (declare it under world.services, and in the job's services = (...) to "
                "have the scenario refused at load)")
        return found

    def pool(self, name: str = "db") -> ConnectionPool:
        return self.pools[name]

    # ---- process lifecycle -----------------------------------------------------------
    def free_process(self, worker: str) -> None:
        """What the OS does when ``worker`` dies: connections and memory go back; temp
        files stay on disk."""
        for pool in self.pools.values():
            pool.free_process(worker)
        self.memory.free_process(worker)
        self.tempfiles.free_process(worker)

    def finish(self) -> None:
        """At the horizon: record every gauge once more, stop the sampler, and record each
        called service's load."""
        if self.sampler is not None:
            self.sampler.final()
        record = self.sim.record
        for name, service in self.services.items():
            stats = service.stats()
            if stats["calls"] or stats["rejected_by_breaker"]:
                for stat in LOAD_STATS:
                    record("sample", None, f"service.{name}.{stat}", stats[stat])
