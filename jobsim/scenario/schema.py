"""The validated form of a scenario file: frozen dataclasses, all times in seconds.

Plain dataclasses (not pydantic) because the loader's messages must name exact paths and
the dependency list is curated. Tables here (KNOWN_SAFEGUARDS) are the
extension points: add a key to a table and the loader validates and documents it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jobsim.scenario.durations import format_duration
from jobsim.scenario.errors import ScenarioError, unknown
from jobsim.scenario.scaling import Scaling, thread_split
from jobsim.system.flavors.options import FlavorConfig
from jobsim.system.library import JobLibrary
from jobsim.world.plugin import Plugin

FETCH_MODES = ("basic", "reliable")
QUEUE_MODES = ("strict", "weighted", "random")
ARRIVALS = ("count", "rate", "burst", "fanout")
# Timing keys each arrival kind accepts (burst's instant is "at", stored as start).
ARRIVAL_TIMING: dict[str, tuple[str, ...]] = {
    "count": ("start", "spread"),
    "rate": ("start", "end"),
    "burst": ("at",),
    "fanout": ("start", "spread"),
}
UNIQUE_LOCKS = (
    "none",
    "until_executing",
    "until_executed",
    "until_expired",
    "while_executing",
    "until_and_while_executing",
)
ON_CONFLICT = ("drop", "log", "raise", "reject", "replace", "reschedule")
IDEMPOTENCY_GUARDS = ("none", "primary", "replica", "constraint")
POOL_CHECKOUT_TIMEOUT_S = 5.0  # ActiveRecord's checkout_timeout default

# safeguard -> key -> (kind, default). Kinds are read by the validator's KIND_READERS.
KNOWN_SAFEGUARDS: dict[str, dict[str, tuple[str, Any]]] = {
    "unique": {
        "lock": ("lock", "until_executed"),
        "ttl": ("positive_duration", None),
        "on_conflict": ("on_conflict", "drop"),
        "args": ("names", None),
    },
    "idempotency": {"guard": ("guard", "primary"), "payment_keys": ("bool", False)},
    # on_failure None: the flavour's own rule, filled in by the parser (cancel; RQ holds)
    "dependencies": {"enabled": ("bool", True), "on_failure": ("dependency_failure", None)},
    "resources": {"scoped": ("bool", True)},
    "retry_budget": {
        "tokens": ("positive_int", 500),
        "cost": ("count", 5),
        "timeout_cost": ("count", 10),
        "refund": ("count", 1),
        "ratio": ("fraction", None),
    },
    "circuit_breaker": {
        "threshold": ("positive_int", 5),
        "cooldown": ("positive_duration", 30.0),
    },
}

@dataclass(frozen=True)
class Distribution:
    """A latency distribution, e.g. Distribution("exponential", {"mean": 0.05})."""

    dist: str
    params: Mapping[str, float]


@dataclass(frozen=True)
class ServiceConfig:
    latency: Distribution | None = None
    capacity: int | None = None  # concurrent calls served; None = unlimited
    on_full: str = "queue"  # queue | reject, when capacity is reached
    timeout: float | None = None  # client-side timeout, seconds
    error_rate: float = 0.0  # baseline probability that a call fails
    idempotency_window: float | None = None  # replays idempotency keys this long; None: ignored


@dataclass(frozen=True)
class PoolConfig:
    """A database.yml ``pool:`` and its ``checkout_timeout`` (ActiveRecord's default 5 s),
    so an exhausted pool raises PoolTimeout instead of blocking forever."""

    size: int
    checkout_timeout: float = POOL_CHECKOUT_TIMEOUT_S


@dataclass(frozen=True)
class DatabaseConfig:
    replicas: int = 0
    lag: float = 0.0  # replication lag, seconds


@dataclass(frozen=True)
class WorldConfig:
    services: Mapping[str, ServiceConfig] = field(default_factory=dict)
    database: DatabaseConfig = DatabaseConfig()
    pools: Mapping[str, PoolConfig] = field(default_factory=dict)
    tables: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # name -> unique columns
    extra: Mapping[str, Any] = field(default_factory=dict)  # plug-ins' own sections, read


@dataclass(frozen=True)
class CapsuleConfig:
    """A Sidekiq 7 capsule: more threads in every process, with a queue list of their own
    (``lib/sidekiq/capsule.rb``). The top-level concurrency and queues are the default
    capsule's."""

    name: str
    concurrency: int
    queues: tuple[tuple[str, int], ...]
    queue_mode: str


@dataclass(frozen=True)
class SystemConfig:
    processes: int = 1
    concurrency: int = 5
    fetch: str = "basic"
    queues: tuple[tuple[str, int], ...] = (("default", 1),)
    queue_mode: str = "strict"  # names only: strict; all weights 1: random; else weighted
    poll_interval: float | None = None  # average scheduler poll; None = 5 s x processes
    shutdown_timeout: float = 25.0
    dead_max_jobs: int = 10_000
    dead_timeout: float = 180 * 86400.0
    death_handlers: tuple[str, ...] = ()
    max_retries: int = 25  # what retry: true allows (sidekiq.yml :max_retries:)
    safeguards: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    flavor: FlavorConfig = field(default_factory=FlavorConfig)
    capsules: tuple[CapsuleConfig, ...] = ()

    @property
    def threads(self) -> int:
        """Threads per process: the default capsule's and every other capsule's."""
        return self.concurrency + sum(capsule.concurrency for capsule in self.capsules)

    @property
    def queue_names(self) -> tuple[str, ...]:
        """Every queue some thread fetches from: the default capsule's, then the other
        capsules' in their order."""
        names = [queue for queue, _ in self.queues]
        for capsule in self.capsules:
            names += [queue for queue, _ in capsule.queues if queue not in names]
        return tuple(names)


@dataclass(frozen=True)
class WorkloadEntry:
    """One source of jobs. ``count`` holds the count, burst or fanout size."""

    job: str
    arrival: str  # one of ARRIVALS
    count: int | None = None  # count | burst | fanout
    rate: float | None = None  # rate: jobs per second (Poisson)
    start: float = 0.0  # burst: the instant ("at")
    end: float | None = None  # rate only; defaults to the scenario's duration
    spread: float = 0.0  # count | fanout: arrivals spread evenly over [start, start+spread]
    args: Mapping[str, Any] = field(default_factory=dict)
    queue: str | None = None  # None = the job's own queue
    retry: bool | int | None = None  # None = the job's own option
    backoff: str | None = None  # a jobsim.backoff policy spec, checked by the runner
    jitter: float | None = None
    effect: str | None = None  # the effect key each job owes exactly once ({0}: its first arg)
    scales: bool = True  # False (``scale: false``): --scale leaves this entry as declared

    def scaled(self, factor: float) -> WorkloadEntry:
        if not self.scales:
            return self
        if self.rate is not None:
            return dataclasses.replace(self, rate=self.rate * factor)
        assert self.count is not None
        return dataclasses.replace(self, count=max(1, int(self.count * factor + 0.5)))


@dataclass(frozen=True)
class Fault:
    type: str
    start: float
    duration: float | None = None  # None = instantaneous, or until the horizon
    target: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)  # the other keys, JSON values

    def describe(self) -> str:
        """One line for people: "latency on payment from 30m for 15m (extra: 2s)"."""
        text = self.type + (f" on {self.target}" if self.target else "")
        text += f" from {format_duration(self.start)}"
        text += " to the end" if self.duration is None else f" for {format_duration(self.duration)}"
        if self.params:
            text += " (" + ", ".join(f"{k}: {v}" for k, v in self.params.items()) + ")"
        return text


@dataclass(frozen=True)
class Expectation:
    """A bound on one metrics.json value, addressed by a dotted path."""

    metric: str
    min: float | None = None
    max: float | None = None
    equals: Any = None

    def bounds(self) -> list[tuple[str, Any]]:
        """(op, value) pairs as metrics.json's "expectations" rows spell them."""
        if self.equals is not None:
            return [("==", self.equals)]
        pairs = [(">=", self.min), ("<=", self.max)]
        return [(op, value) for op, value in pairs if value is not None]


@dataclass(frozen=True)
class Story:
    """The question a scenario answers and the metrics.json path that answers it; the
    terminal and compare.html lead with that metric across variants."""

    question: str
    metric: str
    label: str | None = None  # short name of the metric on screen, e.g. "payments p99 wait"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    duration: float
    workload: tuple[WorkloadEntry, ...]
    seed: int = 0
    drain: float = 0.0
    system: SystemConfig = SystemConfig()
    world: WorldConfig = WorldConfig()
    faults: tuple[Fault, ...] = ()
    checks: tuple[str, ...] = ()
    check_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    order: tuple[Mapping[str, str], ...] = ()  # happens-before rules: {before, after} patterns
    expect: tuple[Expectation, ...] = ()
    latency_bounds: Mapping[str, float] = field(default_factory=dict)
    story: Story | None = None
    reproduces: bool = False  # this run reproduces a known failure: verdict REPRODUCED
    route_all_to: str | None = None  # applied to workload entries and, by the runner, to every push
    variant: str | None = None  # the variant this scenario is, None for the base
    variants: Mapping[str, Scenario] = field(default_factory=dict, repr=False)  # base only
    file: str = ""
    scale: float = 1.0
    scaling: Scaling = field(default_factory=Scaling)  # scale: what --scale also multiplies
    plugins: tuple[Plugin, ...] = ()
    library: JobLibrary = field(default_factory=JobLibrary, repr=False, compare=False)
    jobs: Mapping[str, Any] = field(default_factory=dict, repr=False)  # its own jobs: section

    @property
    def horizon(self) -> float:
        """When the run stops: arrivals end at ``duration``, the system runs on to here."""
        return self.duration + self.drain

    def with_variant(self, name: str | None) -> Scenario:
        if name is None or name == self.variant:
            return self
        if name not in self.variants:
            raise ScenarioError(self.file, "", unknown("variant", name, self.variants))
        return self.variants[name]

    def scaled(self, factor: float) -> Scenario:
        """Counts (rounded, at least 1) and rates multiplied by ``factor``; with
        ``scale: {threads: true}`` the worker threads too (``scaling.thread_split``);
        variants too, each by its own ``scale:``."""
        if not factor > 0:
            raise ScenarioError(self.file, "", f"scale must be positive, got {factor}")
        system, scaling = self.system, self.scaling
        if scaling.threads:      # from the declared threads: scaling twice does not round twice
            declared = scaling.unscaled or (system.processes, system.concurrency)
            processes, concurrency = thread_split(*declared, self.scale * factor)
            system = dataclasses.replace(system, processes=processes, concurrency=concurrency)
            scaling = dataclasses.replace(scaling, unscaled=declared)
        return dataclasses.replace(
            self,
            workload=tuple(entry.scaled(factor) for entry in self.workload),
            variants={name: v.scaled(factor) for name, v in self.variants.items()},
            scale=self.scale * factor,
            system=system,
            scaling=scaling,
        )

    def expected_effects(self) -> list[dict[str, str]]:
        """Each workload entry's ``effect`` template with its job class, once each: what
        the ``exactly_once`` check expects every accepted job of that class to do."""
        pairs = dict.fromkeys((e.job, e.effect) for e in self.workload if e.effect)
        return [{"job": job, "key": key} for job, key in pairs]

    def config(self, seed: int | None = None) -> dict[str, Any]:
        """The run-level half of the first history event ("config", None, cfg); the job
        system adds its own half (queues, fetch, processes, ...) from SystemConfig."""
        return {
            "latency_bounds": dict(self.latency_bounds),
            "horizon": self.horizon,
            "scenario": self.name,
            "variant": self.variant,
            "seed": self.seed if seed is None else seed,
            "checks": list(self.checks),
            "order": [dict(r) for r in self.order],
            "effects": self.expected_effects(),
            "safeguards": {n: {k: list(v) if isinstance(v, tuple) else v for k, v in o.items()}
                           for n, o in self.system.safeguards.items()},
        }
