"""The world jobs act on, built from a scenario's ``world:`` section.

Config keys (all optional; unknown keys raise ``ValueError`` naming ``world.<path>``)::

    db:        {replicas: 1, lag: 0.0}           # or lags: [0.5, 3.0], one per replica
    pools:     {db: {size: 10, wait_timeout: null}}
    services:                                     # merged over DEFAULT_SERVICES
      payment: {latency: {dist: lognormal, mean: 0.3, sigma: 0.5}, capacity: 50,
                on_full: queue, timeout: 10, effect_on_timeout: false,
                dedupe_window_s: 86400, track_load: false}
      email | inventory | fraud | analytics | <any new name>: same keys
    guard: none              # NotificationDeliveryJob: none|primary|replica|constraint
    idempotency_keys: false  # PaymentCaptureJob sends an idempotency key
    order_flow: inline       # PaymentProcessingJob: inline|chain|race|deps (jobs.py)
    scoped_resources: true   # DataExportJob releases on every path
    tables:    {deliveries: [event_id]}          # table -> its unique columns (may be [])
    export: {row_s: 0.001, row_bytes: 512, mem_per_row: 2048, fail_p: 0.0}
    sample_interval: 10      # seconds between gauge samples; 0 or null: no sampler
    circuit_breaker: null    # or {threshold: 5, cooldown: 30}: one breaker per service

At ``finish`` every service that was called records its load once, as
``sample("service.NAME.STAT", value)`` for STAT in ``LOAD_STATS`` (see services.py):
a few events per run, so metrics can report the load without per-call records.

Services are found by name; ``payment_api`` is accepted for ``payment`` (fault targets
often name the API).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobsim.sim.simulation import Simulation
from jobsim.world.circuit import CircuitBreaker
from jobsim.world.database import Database
from jobsim.world.resources import ConnectionPool, Memory, Sampler, TempFiles
from jobsim.world.services import PaymentService, Service
from jobsim.world.traffic import Traffic

GUARDS = ("none", "primary", "replica", "constraint")
ORDER_FLOWS = ("inline", "chain", "race", "deps")

# Latencies are typical public-API figures: a card capture ~300 ms, an email API
# ~150 ms, internal services tens of ms, an analytics sink a few ms.
DEFAULT_SERVICES: dict[str, dict[str, Any]] = {
    "payment": {"latency": {"dist": "lognormal", "mean": 0.3, "sigma": 0.5},
                "capacity": 50, "timeout": 10.0},
    "email": {"latency": {"dist": "lognormal", "mean": 0.15, "sigma": 0.4},
              "capacity": 100, "timeout": 5.0},
    "inventory": {"latency": {"dist": "exponential", "mean": 0.05}, "capacity": 50,
                  "timeout": 5.0},
    "fraud": {"latency": {"dist": "lognormal", "mean": 0.2, "sigma": 0.5}, "capacity": 20,
              "timeout": 5.0},
    "analytics": {"latency": {"dist": "exponential", "mean": 0.005}, "capacity": None},
}
SERVICE_KEYS = {"latency", "capacity", "on_full", "timeout", "effect_on_timeout",
                "dedupe_window_s", "track_load"}
EXPORT_DEFAULTS = {"row_s": 0.001, "row_bytes": 512, "mem_per_row": 2048, "fail_p": 0.0}
TOP_KEYS = {"db", "pools", "services", "guard", "idempotency_keys", "order_flow",
            "scoped_resources", "export", "sample_interval", "circuit_breaker", "tables"}
BREAKER_KEYS = {"threshold", "cooldown"}
LOAD_STATS = ("calls", "peak_calls_per_s", "recovered_calls", "recovered_peak_calls_per_s",
              "errors", "timeouts", "rejected", "rejected_by_breaker")


def _check_keys(section: Mapping[str, Any], allowed: set[str], path: str) -> None:
    if not isinstance(section, Mapping):
        raise ValueError(f"{path}: expected a mapping, got {type(section).__name__}")
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _choice(value: Any, allowed: tuple[str, ...], path: str) -> str:
    if value not in allowed:
        raise ValueError(f"{path}: {value!r} is not one of {list(allowed)}")
    return str(value)


class World:
    """Database, services, pools, temp files, memory and the gauge sampler of one run."""

    def __init__(self, sim: Simulation, config: Mapping[str, Any] | None = None) -> None:
        config = dict(config or {})
        _check_keys(config, TOP_KEYS, "world")
        self.sim = sim
        self.guard = _choice(config.get("guard", "none"), GUARDS, "world.guard")
        self.order_flow = _choice(config.get("order_flow", "inline"), ORDER_FLOWS,
                                  "world.order_flow")
        self.idempotency_keys = bool(config.get("idempotency_keys", False))
        self.scoped_resources = bool(config.get("scoped_resources", True))
        export = config.get("export", {})
        _check_keys(export, set(EXPORT_DEFAULTS), "world.export")
        self.export = {**EXPORT_DEFAULTS, **{k: float(v) for k, v in export.items()}}
        self.db = self._build_db(config.get("db", {}))
        for name, unique in (config.get("tables") or {}).items():
            self.db.create_table(name, unique=tuple(unique) or None)
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
    def _build_db(self, cfg: Mapping[str, Any]) -> Database:
        _check_keys(cfg, {"replicas", "lag", "lags"}, "world.db")
        replicas = int(cfg.get("replicas", 1))
        lags = cfg.get("lags", cfg.get("lag", 0.0))
        try:
            db = Database(self.sim, replicas, lags)
        except ValueError as exc:
            raise ValueError(f"world.db: {exc}") from None
        unique = ("user_id", "campaign_id") if self.guard == "constraint" else None
        db.create_table("notifications", unique=unique)
        return db

    def _build_services(self, cfg: Mapping[str, Any]) -> dict[str, Service]:
        _check_keys(cfg, set(cfg), "world.services")
        services: dict[str, Service] = {}
        for name in [*DEFAULT_SERVICES, *(n for n in cfg if n not in DEFAULT_SERVICES)]:
            override = cfg.get(name, {}) or {}
            _check_keys(override, SERVICE_KEYS, f"world.services.{name}")
            opts = {**DEFAULT_SERVICES.get(name, {}), **override}
            cls = PaymentService if name == "payment" else Service
            try:
                services[name] = cls(self.sim, name=name, **opts)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"world.services.{name}: {exc}") from None
        return services

    def _add_breakers(self, cfg: Mapping[str, Any] | None) -> None:
        if cfg is None:
            return
        _check_keys(cfg, BREAKER_KEYS, "world.circuit_breaker")
        for name, service in self.services.items():
            try:
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
        """The service called ``name`` (``payment_api`` finds ``payment``)."""
        found = self.services.get(name)
        if found is None and name.endswith("_api"):
            found = self.services.get(name[: -len("_api")])
        if found is None:
            raise KeyError(f"unknown service {name!r}; known: {sorted(self.services)}")
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
