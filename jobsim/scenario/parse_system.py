"""Validation of the ``system`` and ``world`` sections (the machine the story runs on)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from jobsim.scenario import fields as f
from jobsim.scenario import sidekiq_yml
from jobsim.scenario.errors import Where, show, unknown
from jobsim.scenario.parse_flavor import FLAVOR_KEYS, read_flavor
from jobsim.scenario.problems import attempt
from jobsim.scenario.schema import (
    FETCH_MODES,
    IDEMPOTENCY_GUARDS,
    KNOWN_SAFEGUARDS,
    ON_CONFLICT,
    POOL_CHECKOUT_TIMEOUT_S,
    UNIQUE_LOCKS,
    CapsuleConfig,
    DatabaseConfig,
    Distribution,
    PoolConfig,
    ServiceConfig,
    SystemConfig,
    WorldConfig,
)
from jobsim.system.dependencies import ON_FAILURE, on_failure_rule
from jobsim.world.distributions import DISTRIBUTIONS, did_you_mean

T = TypeVar("T")
SYSTEM_KEYS = (
    "processes",
    "concurrency",
    "fetch",
    "queues",
    "poll_interval",
    "shutdown_timeout",
    "dead_max_jobs",
    "dead_timeout",
    "death_handlers",
    "max_retries",
    "safeguards",
    "sidekiq_yml",
    "sidekiq_env",
    "capsules",
    *FLAVOR_KEYS,
)
CAPSULE_KEYS = ("concurrency", "queues")
DEFAULT_CAPSULE = "default"
WORLD_KEYS = ("services", "database", "pools", "tables")
TABLE_KEYS = ("unique",)
SERVICE_KEYS = ("latency", "capacity", "on_full", "timeout", "error_rate", "idempotency_window")
DATABASE_KEYS = ("replicas", "lag")
POOL_KEYS = ("size", "checkout_timeout")

KIND_READERS: dict[str, f.Reader[Any]] = {
    "bool": f.boolean,
    "count": f.integer(minimum=0),
    "positive_int": f.integer(minimum=1),
    "positive_duration": f.duration(positive=True),
    "fraction": f.number(minimum=0, maximum=1),
    "names": f.unique_list(f.name, "name"),
    "lock": f.choice(UNIQUE_LOCKS),
    "on_conflict": f.choice(ON_CONFLICT),
    "guard": f.choice(IDEMPOTENCY_GUARDS),
    "dependency_failure": f.choice(ON_FAILURE),
}


def read_system(value: Any, where: Where) -> SystemConfig:
    """The ``system`` section; ``sidekiq_yml`` supplies defaults the section overrides."""
    data = f.mapping(value, where, SYSTEM_KEYS)
    path = f.optional(data, "sidekiq_yml", where, f.string, None)
    environment = f.optional(data, "sidekiq_env", where, f.name, None)
    if environment is not None and path is None:
        raise where.key("sidekiq_env").error(
            "names the environment section of a sidekiq.yml to apply; give "
            "system.sidekiq_yml too")
    if path is not None:
        env = environment or sidekiq_yml.DEFAULT_ENVIRONMENT
        written = {k for k, v in data.items() if v is not None}   # these win over the file
        from_file = attempt(
            lambda: sidekiq_yml.load(path, where.key("sidekiq_yml"), env, written), {})
        data = {**from_file, **{k: v for k, v in data.items() if v is not None}}
    base = SystemConfig()
    queues, mode = read_queues(data.get("queues"), where.key("queues"))
    flavor, worker_concurrency = read_flavor(data, where)
    if worker_concurrency is not None and data.get("concurrency") is not None:
        raise where.key("celery").key("worker_concurrency").error(
            "give the concurrency once: system.concurrency or celery.worker_concurrency")
    concurrency = f.optional(data, "concurrency", where, f.integer(minimum=1), base.concurrency)
    return SystemConfig(
        processes=f.optional(data, "processes", where, f.integer(minimum=1), base.processes),
        concurrency=worker_concurrency or concurrency,
        flavor=flavor,
        fetch=f.optional(data, "fetch", where, f.choice(FETCH_MODES), base.fetch),
        queues=queues,
        queue_mode=mode,
        poll_interval=f.optional(data, "poll_interval", where, f.duration(positive=True), None),
        shutdown_timeout=f.optional(
            data, "shutdown_timeout", where, f.duration(), base.shutdown_timeout
        ),
        dead_max_jobs=f.optional(
            data, "dead_max_jobs", where, f.integer(minimum=1), base.dead_max_jobs
        ),
        dead_timeout=f.optional(
            data, "dead_timeout", where, f.duration(positive=True), base.dead_timeout
        ),
        death_handlers=f.optional(
            data, "death_handlers", where, f.unique_list(f.name, "death handler"), ()
        ),
        max_retries=f.optional(data, "max_retries", where, f.integer(minimum=0),
                               base.max_retries),
        safeguards=_flavor_defaults(
            f.optional(data, "safeguards", where, read_safeguards, {}), flavor.name),
        capsules=f.optional(data, "capsules", where,
                            lambda v, w: read_capsules(v, w, flavor.name), ()),
    )


def read_capsules(value: Any, where: Where, flavor: str) -> tuple[CapsuleConfig, ...]:
    """``{single: {concurrency: 1, queues: [single]}}``: Sidekiq 7 capsules, each more
    threads in every process fetching from its own queue list. Both keys are required:
    Sidekiq's CLI sets a YAML capsule's concurrency and queues from them and has no
    fallback."""
    data = f.mapping(value, where)
    if data and flavor != "sidekiq":
        raise where.error(
            f"capsules are Sidekiq 7's (threads of one process with queues of their own); "
            f"the {flavor} flavour has none: remove system.capsules")
    out: list[CapsuleConfig] = []
    for name, spec in data.items():
        attempt(lambda n=name: f.key_name(n, where.key(n)), None)   # recorded, not dropped
        attempt(lambda n=name, s=spec: out.append(_capsule(n, s, where.key(n))), None)
    return tuple(out)


def _capsule(name: str, spec: Any, where: Where) -> CapsuleConfig:
    if name == DEFAULT_CAPSULE:
        raise where.error("the default capsule is system.concurrency and system.queues; "
                          "give this capsule another name")
    data = f.mapping(spec, where, CAPSULE_KEYS)
    concurrency = f.required(data, "concurrency", where, f.integer(minimum=1))
    queues, mode = f.required(data, "queues", where, read_queues)
    return CapsuleConfig(name, concurrency, queues, mode)


def _flavor_defaults(safeguards: dict[str, dict[str, Any]], flavor: str
                     ) -> dict[str, dict[str, Any]]:
    """Fill the options whose default is the job system's own rule, so the run's recorded
    config (and the checkers reading it) carry the rule that was in force."""
    deps = safeguards.get("dependencies")
    if deps is not None and deps.get("on_failure") is None:
        safeguards["dependencies"] = {**deps, "on_failure": on_failure_rule(flavor)}
    return safeguards


def read_queues(value: Any, where: Where) -> tuple[tuple[tuple[str, int], ...], str]:
    """sidekiq.yml syntax: ``[a, b]`` (strict order) or ``[[a, 6], [b, 1]]`` (weighted)."""
    if value is None:
        return SystemConfig().queues, SystemConfig().queue_mode
    items = f.sequence(value, where, nonempty=True)
    weighted = isinstance(items[0], list)
    queues: list[tuple[str, int]] = []
    for index, item in enumerate(items):
        attempt(lambda item=item, index=index: _queue(item, where.index(index), weighted, queues),
                None)
    if not weighted:
        return tuple(queues), "strict"
    return tuple(queues), "random" if all(w == 1 for _, w in queues) else "weighted"


def _queue(item: Any, at: Where, weighted: bool, queues: list[tuple[str, int]]) -> None:
    """Append ITEM, a queue name or a [name, weight] pair, to QUEUES."""
    if isinstance(item, list) != weighted:
        raise at.error(
            "mixes plain queue names with [name, weight] pairs; use one form for every queue"
        )
    queue, weight = _weighted_queue(item, at) if weighted else (f.name(item, at), 1)
    if queue in (q for q, _ in queues):
        raise at.error(f"duplicate queue {queue!r}")
    queues.append((queue, weight))


def _weighted_queue(item: list[Any], where: Where) -> tuple[str, int]:
    if len(item) != 2:
        raise where.error(f"expected [name, weight], got a list of {len(item)} items")
    return f.name(item[0], where.index(0)), f.integer(minimum=1)(item[1], where.index(1))


def read_safeguards(value: Any, where: Where) -> dict[str, dict[str, Any]]:
    """Each safeguard's keys checked against KNOWN_SAFEGUARDS, defaults filled in."""
    data = f.mapping(value, where)
    out: dict[str, dict[str, Any]] = {}
    for guard, settings in data.items():
        if settings is not None:
            attempt(lambda g=guard, s=settings: out.update({g: _safeguard(g, s, where)}), None)
    return out


def _safeguard(guard: str, settings: Any, where: Where) -> dict[str, Any]:
    if guard not in KNOWN_SAFEGUARDS:
        raise where.key(guard).error(unknown("safeguard", guard, KNOWN_SAFEGUARDS))
    table = KNOWN_SAFEGUARDS[guard]
    at = where.key(guard)
    given = f.mapping(settings, at, table)
    return {
        key: f.optional(given, key, at, KIND_READERS[kind], default)
        for key, (kind, default) in table.items()
    }


def read_world(value: Any, where: Where, sections: Mapping[str, Any] | None = None
               ) -> WorldConfig:
    """The world; ``sections`` are plug-ins' own keys, each with its reader."""
    sections = sections or {}
    data = f.mapping(value, where, (*WORLD_KEYS, *sections))
    services = f.optional(data, "services", where, f.mapping, {})
    pools = f.optional(data, "pools", where, f.mapping, {})
    return WorldConfig(
        services=_each(services, where.key("services"), read_service),
        database=f.optional(data, "database", where, read_database, DatabaseConfig()),
        pools=_each(pools, where.key("pools"), read_pool),
        tables=f.optional(data, "tables", where, read_tables, {}),
        extra={key: _plugin_section(reader, data[key], where.key(key))
               for key, reader in sections.items() if data.get(key) is not None},
    )


def _plugin_section(reader: Any, value: Any, where: Where) -> Any:
    try:
        return reader(value, where.path)
    except ValueError as exc:
        raise where.error(str(exc)) from None


def _each(specs: dict[str, Any], where: Where, read: f.Reader[T]) -> dict[str, T]:
    """Every non-null entry of SPECS read by READ; a bad one is recorded and dropped."""
    out: dict[str, T] = {}
    for name, spec in specs.items():
        attempt(lambda n=name: f.key_name(n, where.key(n)), None)   # recorded, not dropped
        if spec is not None:
            attempt(lambda n=name, s=spec: out.update({n: read(s, where.key(n))}), None)
    return out


def read_tables(value: Any, where: Where) -> dict[str, tuple[str, ...]]:
    """``{deliveries: {unique: [event_id]}}``: each table and its unique columns."""
    tables = {}
    for name, spec in f.mapping(value, where).items():
        at = where.key(name)
        f.name(name, at)
        data = f.mapping(spec if spec is not None else {}, at, TABLE_KEYS)
        tables[name] = f.optional(data, "unique", at, f.unique_list(f.name, "column"), ())
    return tables


def read_pool(value: Any, where: Where) -> PoolConfig:
    """``db: 25`` (a size, with the default checkout_timeout) or ``{size, checkout_timeout}``."""
    if isinstance(value, dict):
        data = f.mapping(value, where, POOL_KEYS)
        return PoolConfig(
            size=f.required(data, "size", where, f.integer(minimum=1)),
            checkout_timeout=f.optional(
                data, "checkout_timeout", where, f.duration(positive=True),
                POOL_CHECKOUT_TIMEOUT_S,
            ),
        )
    if not isinstance(value, int) or isinstance(value, bool):
        raise where.error(
            f"expected a pool size (integer >= 1) or a mapping with 'size' and "
            f"'checkout_timeout', got {show(value)}"
        )
    return PoolConfig(size=f.integer(minimum=1)(value, where))


def read_service(value: Any, where: Where) -> ServiceConfig:
    data = f.mapping(value, where, SERVICE_KEYS)
    return ServiceConfig(
        latency=f.optional(data, "latency", where, read_distribution, None),
        capacity=f.optional(data, "capacity", where, f.integer(minimum=1), None),
        on_full=f.optional(data, "on_full", where, f.choice(("queue", "reject")), "queue"),
        timeout=f.optional(data, "timeout", where, f.duration(positive=True), None),
        error_rate=f.optional(data, "error_rate", where, f.number(minimum=0, maximum=1), 0.0),
        idempotency_window=f.optional(data, "idempotency_window", where,
                                      f.duration(positive=True), None),
    )


def read_distribution(value: Any, where: Where) -> Distribution:
    """``{dist: exponential, mean: 50ms}``, or a bare duration meaning a fixed latency."""
    if not isinstance(value, dict):
        return Distribution("fixed", {"value": f.duration()(value, where)})
    dist = f.required(f.mapping(value, where), "dist", where, f.string)
    if dist not in DISTRIBUTIONS:
        raise where.key("dist").error(unknown("distribution", dist, DISTRIBUTIONS)
                                      + did_you_mean(dist))
    names = DISTRIBUTIONS[dist]
    for key in value:
        if key != "dist" and key not in names:
            raise where.key(key).error(f"{dist} takes {', '.join(names)}, not {key!r}"
                                       f"{did_you_mean(key)}")
    data = f.mapping(value, where, ("dist", *names))
    params = {name: f.required(data, name, where, f.duration()) for name in names}
    if dist == "uniform" and params["min"] > params["max"]:
        raise where.key("max").error(f"must not be less than min, got {data['max']!r}")
    if dist in ("exponential", "lognormal") and params["mean"] == 0:
        raise where.key("mean").error(f"must be positive, got {data['mean']!r}")
    return Distribution(dist, params)


def read_database(value: Any, where: Where) -> DatabaseConfig:
    data = f.mapping(value, where, DATABASE_KEYS)
    return DatabaseConfig(
        replicas=f.optional(data, "replicas", where, f.integer(minimum=0), 0),
        lag=f.optional(data, "lag", where, f.duration(), 0.0),
    )
