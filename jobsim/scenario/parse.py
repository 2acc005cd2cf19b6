"""Raw scenario mapping -> Scenario, refusing anything unknown, mistyped or out of range.

Order matters only for messages: ``duration`` and ``system`` are read first because the
workload, faults and latency bounds are checked against them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from jobsim.scenario import declared, parse_checks
from jobsim.scenario import fields as f
from jobsim.scenario.durations import format_duration
from jobsim.scenario.errors import Where, show
from jobsim.scenario.jobs import JobsContext, declared_only, read_jobs, read_plugins
from jobsim.scenario.parse_system import read_system, read_world
from jobsim.scenario.problems import attempt
from jobsim.scenario.scaling import Scaling
from jobsim.scenario.schema import (
    ARRIVAL_TIMING,
    ARRIVALS,
    Expectation,
    Fault,
    Scenario,
    Story,
    SystemConfig,
    WorkloadEntry,
    WorldConfig,
)
from jobsim.system.library import JobLibrary

TOP_KEYS = (
    "name",
    "description",
    "seed",
    "duration",
    "drain",
    "system",
    "plugins",
    "world",
    "jobs",
    "workload",
    "faults",
    "checks",
    "expect",
    "latency_bounds",
    "order",
    "route_all_to",
    "story",
    "reproduces",
    "scale",
    "variants",
)
ENTRY_KEYS = (
    "job",
    *ARRIVALS,
    "start",
    "spread",
    "end",
    "at",
    "args",
    "queue",
    "retry",
    "backoff",
    "jitter",
    "effect",
    "scale",
)
FAULT_KEYS = ("type", "start", "duration", "target")  # any other key is a fault parameter
EXPECT_KEYS = ("metric", "min", "max", "equals")
STORY_KEYS = ("question", "metric", "label")
SCALE_KEYS = ("threads",)
METRIC = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_:-]+)*")


# Checks one built Scenario's references against the running code (fault targets, death
# handlers, job args, ...); raises or reports ScenarioErrors at paths of the document.
Resolver = Callable[[Scenario, Where], None]


@dataclass(frozen=True)
class Known:
    """The registries names are checked against (the runner passes the real ones).
    ``jobs`` is the caller's JobLibrary, or bare names (then classes are not checked).
    ``scale``: the --scale the run will use, which may change what a name resolves to
    (``scale: {threads: true}`` may leave fewer processes than a fault names)."""

    jobs: Collection[str]
    faults: Collection[str]
    checks: Collection[str]
    references: Resolver | None = None
    scale: float = 1.0    # --scale: references are resolved at this scale too


def build_scenario(raw: dict[str, Any], where: Where, known: Known, stem: str) -> Scenario:
    """Validate one document (variants are only shape-checked here; see loader)."""
    data = f.mapping(raw, where, TOP_KEYS)
    # A bad duration is recorded once; the window checks that need it are then skipped.
    duration = attempt(lambda: f.required(data, "duration", where, f.duration(positive=True)),
                       math.inf)
    drain = f.optional(data, "drain", where, f.duration(), 0.0)
    system = f.optional(data, "system", where, read_system, SystemConfig())
    queues = system.queue_names
    route = f.optional(data, "route_all_to", where, _queue_in(queues), None)
    plugins = f.optional(data, "plugins", where, read_plugins, ())
    # A caller that passes bare names (unit tests of the format) gets no built-in classes.
    library = known.jobs.copy() if isinstance(known.jobs, JobLibrary) else JobLibrary()
    for plugin in plugins:
        for cls in plugin.jobs:
            library.add(cls)
    world = f.optional(data, "world", where, _world(plugins), WorldConfig())
    services = _merged(*(p.services for p in plugins), world.services)
    tables = {**{k: v for p in plugins for k, v in p.tables.items()}, **world.tables}
    pools = ("db", *world.pools)
    jobs_ctx = JobsContext(library, tuple(services), tables, pools, queues,
                           system.safeguards, route,
                           None if isinstance(known.jobs, JobLibrary) else set(known.jobs))
    own = f.optional(data, "jobs", where, lambda v, w: read_jobs(v, w, jobs_ctx), {})
    names = library if isinstance(known.jobs, JobLibrary) else {*known.jobs, *library}
    ctx = _Context(Known(names, known.faults, known.checks, scale=known.scale), duration,
                   duration + drain,
                   queues, route)
    workload = attempt(lambda: f.required(data, "workload", where, ctx.workload), ())
    faults = f.optional(data, "faults", where, ctx.faults, ())
    attempt(lambda: declared.check_args(declared_only(own), workload, faults, where), None)
    checks, check_options = attempt(
        lambda: f.optional(data, "checks", where, parse_checks.checks(known.checks), ((), {})),
        ((), {}))
    return Scenario(
        name=f.optional(data, "name", where, f.name, stem),
        description=attempt(lambda: f.required(data, "description", where, f.string), "").strip(),
        seed=f.optional(data, "seed", where, f.integer(minimum=0), 0),
        duration=duration,
        drain=drain,
        system=system,
        world=world,
        workload=workload,
        faults=faults,
        checks=checks,
        check_options=check_options,
        order=attempt(lambda: f.optional(data, "order", where, parse_checks.order, ()), ()),
        expect=f.optional(data, "expect", where, _expectations, ()),
        latency_bounds=f.optional(data, "latency_bounds", where, ctx.latency_bounds, {}),
        route_all_to=route,
        story=f.optional(data, "story", where, _story, None),
        reproduces=f.optional(data, "reproduces", where, f.boolean, False),
        scaling=f.optional(data, "scale", where, _scaling, Scaling()),
        file=where.file,
        plugins=plugins,
        library=library,
        jobs=own,
    )


def _world(plugins: tuple[Any, ...]) -> f.Reader[WorldConfig]:
    sections = {key: reader for p in plugins for key, reader in p.world_keys.items()}
    return lambda value, where: read_world(value, where, sections)


def _merged(*layers: Any) -> dict[str, Any]:
    """Service names in declaration order: plug-ins' first, then the scenario's."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(dict.fromkeys(layer))
    return merged


def _queue_in(queues: tuple[str, ...]) -> f.Reader[str]:
    def read(value: Any, where: Where) -> str:
        queue = f.name(value, where)
        if queue not in queues:
            raise where.error(f"queue {queue!r} is not in system.queues ({', '.join(queues)})")
        return queue

    return read


@dataclass(frozen=True)
class _Context:
    known: Known
    duration: float
    horizon: float
    queues: tuple[str, ...]
    route: str | None

    def workload(self, value: Any, where: Where) -> tuple[WorkloadEntry, ...]:
        return f.items(value, where, self.entry, nonempty=True)

    def entry(self, value: Any, where: Where) -> WorkloadEntry:
        data = f.mapping(value, where, ENTRY_KEYS)
        job = f.required(data, "job", where, f.member("job", self.known.jobs))
        kind = _arrival_kind(data, where)
        # route_all_to overrides every entry's queue, so only check the override's shape.
        queue_reader = f.name if self.route else _queue_in(self.queues)
        queue = f.optional(data, "queue", where, queue_reader, None)
        return WorkloadEntry(
            job=job,
            arrival=kind,
            **self.timing(data, where, kind),
            args=f.optional(data, "args", where, _args, {}),
            queue=self.route or queue,
            retry=f.optional(data, "retry", where, _retry, None),
            backoff=f.optional(data, "backoff", where, f.string, None),
            jitter=f.optional(data, "jitter", where, f.number(minimum=0, below=1), None),
            effect=f.optional(data, "effect", where, parse_checks.effect, None),
            scales=f.optional(data, "scale", where, f.boolean, True),
        )

    def timing(self, data: dict[str, Any], where: Where, kind: str) -> dict[str, Any]:
        """The arrival's size and window, each checked to lie inside the scenario."""
        if kind == "rate":
            rate = f.required(data, "rate", where, f.rate)
            start = self.instant(data, "start", where)
            end = f.optional(data, "end", where, f.duration(positive=True), self.duration)
            if end <= start:
                raise where.key("end").error(
                    f"must be after start ({format_duration(start)}), got {show(data['end'])}"
                )
            if end > self.duration:
                raise where.key("end").error(
                    f"must not be after the scenario's duration "
                    f"({format_duration(self.duration)}), got {show(data['end'])}"
                )
            return {"rate": rate, "start": start, "end": end}
        count = f.required(data, kind, where, f.integer(minimum=1))
        if kind == "burst":
            return {"count": count, "start": self.instant(data, "at", where)}
        start = self.instant(data, "start", where)
        spread = f.optional(data, "spread", where, f.duration(), 0.0)
        if start + spread > self.duration:
            raise where.key("spread").error(
                f"start + spread ({format_duration(start + spread)}) runs past the scenario's "
                f"duration ({format_duration(self.duration)})"
            )
        return {"count": count, "start": start, "spread": spread}

    def instant(self, data: dict[str, Any], key: str, where: Where) -> float:
        moment = f.optional(data, key, where, f.duration(), 0.0)
        if moment >= self.duration:
            raise where.key(key).error(
                f"must be before the end of arrivals (duration {format_duration(self.duration)})"
                f", got {show(data[key])}"
            )
        return moment

    def faults(self, value: Any, where: Where) -> tuple[Fault, ...]:
        return f.items(value, where, self.fault)

    def fault(self, value: Any, where: Where) -> Fault:
        data = f.mapping(value, where)
        kind = f.required(data, "type", where, f.member("fault type", self.known.faults))
        start = f.required(data, "start", where, f.duration())
        if start >= self.horizon:
            raise where.key("start").error(
                f"must be before the horizon (duration + drain = {format_duration(self.horizon)})"
                f", got {show(data['start'])}"
            )
        params = {k: v for k, v in data.items() if k not in FAULT_KEYS}
        return Fault(
            type=kind,
            start=start,
            duration=f.optional(data, "duration", where, f.duration(positive=True), None),
            target=f.optional(data, "target", where, _target, None),
            params={k: f.json_value(v, where.key(k)) for k, v in params.items()},
        )

    def latency_bounds(self, value: Any, where: Where) -> dict[str, float]:
        data = f.mapping(value, where)
        bounds = {}
        for queue, bound in data.items():
            if bound is not None:
                attempt(lambda q=queue, b=bound: bounds.update({q: self.bound(q, b, where)}), None)
        return bounds

    def bound(self, queue: str, bound: Any, where: Where) -> float:
        _queue_in(self.queues)(queue, where.key(queue))
        return f.duration(positive=True)(bound, where.key(queue))


def _arrival_kind(data: dict[str, Any], where: Where) -> str:
    kinds = f.present(data, ARRIVALS)
    expected = "expected exactly one of 'count', 'rate', 'burst' or 'fanout'"
    if not kinds:
        raise where.error(f"missing arrival: {expected}")
    if len(kinds) > 1:
        raise where.error(f"conflicting arrivals {kinds[0]!r} and {kinds[1]!r}: {expected}")
    kind = kinds[0]
    allowed = ARRIVAL_TIMING[kind]
    for key in f.present(data, ("start", "spread", "end", "at")):
        if key not in allowed:
            takes = " and ".join(repr(k) for k in allowed)
            raise where.key(key).error(f"cannot be used with {kind!r}, which takes {takes}")
    return kind


def _target(value: Any, where: Where) -> str:
    """A name (``payment_api``, ``p3``, ``random``) or a replica index (``0``)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return f.name(value, where)


def _args(value: Any, where: Where) -> dict[str, Any]:
    return f.json_value(f.mapping(value, where), where)


def _retry(value: Any, where: Where) -> bool | int:
    if isinstance(value, bool):
        return value
    if not isinstance(value, int) or value < 0:
        raise where.error(f"expected true, false or a non-negative integer, got {show(value)}")
    return value


def _scaling(value: Any, where: Where) -> Scaling:
    data = f.mapping(value, where, SCALE_KEYS)
    return Scaling(threads=f.optional(data, "threads", where, f.boolean, False))


def _expectations(value: Any, where: Where) -> tuple[Expectation, ...]:
    return f.items(value, where, _expectation)


def _metric_path(value: Any, where: Where) -> str:
    metric = f.string(value, where)
    if not METRIC.fullmatch(metric):
        example = "'queues.critical.latency_p99_s'"
        raise where.error(f"expected a dotted metric path like {example}, got {show(metric)}")
    return metric


def _story(value: Any, where: Where) -> Story:
    data = f.mapping(value, where, STORY_KEYS)
    return Story(
        question=f.required(data, "question", where, f.string).strip(),
        metric=f.required(data, "metric", where, _metric_path),
        label=f.optional(data, "label", where, f.string, None),
    )


def _expectation(value: Any, where: Where) -> Expectation:
    data = f.mapping(value, where, EXPECT_KEYS)
    metric = f.required(data, "metric", where, _metric_path)
    bounds = f.present(data, ("min", "max", "equals"))
    if not bounds:
        raise where.error("expected 'min', 'max' (or both) or 'equals'")
    if "equals" in bounds and len(bounds) > 1:
        raise where.error("'equals' cannot be combined with 'min' or 'max'")
    low = f.optional(data, "min", where, f.number(), None)
    high = f.optional(data, "max", where, f.number(), None)
    if low is not None and high is not None and low > high:
        raise where.key("max").error(f"must not be less than min ({low:g}), got {high:g}")
    equals = f.optional(data, "equals", where, _scalar, None)
    return Expectation(metric=metric, min=low, max=high, equals=equals)


def _scalar(value: Any, where: Where) -> bool | float | str:
    if isinstance(value, bool | str):
        return value
    return f.number()(value, where)
