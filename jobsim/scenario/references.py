"""Every name a scenario uses, resolved against the code that will run it, at load.

The loader checks shapes and registry names; this module checks what only the running
code knows: a fault's target for its kind (a service, a process ``p0..pN-1``, a replica
index, or nothing at all), fault parameters, death handlers, backoff specs, job args,
the queue a job lands in, the services, tables and pools a job class says it uses
(``Job.services``, ``tables``, ``pools``: declared by the scenario or a plug-in), and
``expect`` paths against the metrics.json schema. The
loader calls ``check_references`` on the base and on every variant, so a variant that
names a process it does not have fails ``jobsim simulate`` of the base too, before any
simulated second has passed.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from jobsim import backoff
from jobsim.chaos.faults import ALIASES, FAULTS, FaultParamError, build_fault
from jobsim.checks.pattern import parse as parse_pattern
from jobsim.checks.pattern import template
from jobsim.report.metric_schema import BOOLEAN, NUMBER, MetricPathError, leaf
from jobsim.scenario.durations import parse_duration
from jobsim.scenario.errors import ScenarioErrors, Where, suggest, unknown
from jobsim.scenario.problems import attempt, collecting
from jobsim.scenario.schema import Expectation, Fault, Scenario, WorkloadEntry
from jobsim.system.client import ArgumentError, check_json_native
from jobsim.system.job import UnknownJob
from jobsim.system.library import AmbiguousJob
from jobsim.world.handlers import HANDLERS
from jobsim.world.world import LOAD_STATS

TARGET_WORDS = ("random", "all")  # process targets besides p0..pN-1


def check_references(scenario: Scenario, where: Where) -> None:
    """Record (or raise) one ScenarioError per unresolved reference of SCENARIO."""
    system = where.key("system")
    for i, name in enumerate(scenario.system.death_handlers):
        if name not in HANDLERS:
            at = system.key("death_handlers").index(i)
            attempt(lambda at=at, name=name: _raise(at, unknown("death handler", name, HANDLERS)),
                    None)
    for i, entry in enumerate(scenario.workload):
        attempt(lambda i=i, entry=entry: _entry(scenario, entry, where.key("workload").index(i)),
                None)
    for i, fault in enumerate(scenario.faults):
        attempt(lambda i=i, fault=fault: _fault(scenario, fault, where.key("faults").index(i)),
                None)
    attempt(lambda: _world(scenario, where.key("world")), None)
    story = getattr(scenario, "story", None)
    if story is not None:
        attempt(lambda: _metric_path(scenario, story.metric, where.key("story").key("metric")),
                None)
    for i, rule in enumerate(scenario.expect):
        attempt(lambda i=i, rule=rule: _metric(scenario, rule, where.key("expect").index(i)),
                None)
    for i, order in enumerate(scenario.order):
        for side in ("before", "after"):
            at = where.key("order").index(i).key(side)
            attempt(lambda at=at, source=order[side]: _pattern_job(scenario, source, at), None)


def require_references(scenario: Scenario) -> None:
    """check_references for a Scenario built in Python (not loaded from a file):
    raises ScenarioErrors with every unresolved reference."""
    with collecting() as found:
        check_references(scenario, Where(scenario.file))
    if found:
        raise ScenarioErrors(found)


def _raise(where: Where, reason: str) -> None:
    raise where.error(reason)


def _world(scenario: Scenario, where: Where) -> None:
    """Build the world the run would build (cheap: services, pools, tables), so a
    configuration it cannot take fails here, not inside the simulation."""
    from jobsim.scenario.build import world_config
    from jobsim.sim.simulation import Simulation
    from jobsim.world.world import World

    config, _ = world_config(scenario)
    frozen = _frozen(config)      # and the code that builds it (a test may patch it)
    key = None if frozen is None else (World.__init__, frozen)
    if key is None or key not in _BUILT:
        try:
            World(Simulation(0), config)
        except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
            raise where.error(f"the world cannot be built: {exc}") from None
        if key is not None:
            if len(_BUILT) >= _BUILT_MAX:
                _BUILT.clear()
            _BUILT.add(key)
    for name in scenario.world.services:
        attempt(lambda name=name: _unused_service(scenario, name, where.key("services")), None)


# World configs that built in this process. A property test checks the same world
# before every example: building it (services, RNG streams, pools) was a twentieth of
# a 50-job example. Only a config of plain values has a key; anything else is built.
_BUILT: set[Hashable] = set()
_BUILT_MAX = 256


def _frozen(value: Any) -> Hashable | None:
    """A hashable copy of a config made of dicts, lists and scalars, each tagged with its
    type (so 1, 1.0 and True differ); None if it holds anything else."""
    kind = type(value)
    if kind is dict:
        items = []
        for k, v in value.items():
            frozen = _frozen(v)
            if type(k) is not str or frozen is None:
                return None
            items.append((k, frozen))
        return ("dict", tuple(items))
    if kind is list or kind is tuple:
        parts = tuple(_frozen(v) for v in value)
        return None if None in parts else (kind.__name__, parts)
    if kind in (str, int, float, bool) or value is None:
        return (kind.__name__, value)
    return None


def _unused_service(scenario: Scenario, name: str, where: Where) -> None:
    """A declared service that no job or fault uses, spelt like one that is used, is a typo
    (``emial`` beside the ``email`` a job calls): refuse it rather than run without it.
    A service nothing uses and nothing resembles may be a Python job's undeclared use."""
    used = _used_services(scenario)
    if name in used:
        return
    # only against services that are declared too: a used but undeclared one is already
    # reported where it is used, with this name as its did-you-mean
    close = suggest(name, sorted(used & set(service_names(scenario))))
    if close:
        raise where.key(name).error(f"no job or fault uses service {name!r}{close}")


def _used_services(scenario: Scenario) -> set[str]:
    used = {f.target for f in scenario.faults if f.target}
    for cls in scenario.library.classes():
        used.update(cls.services)
    return used


def _pattern_job(scenario: Scenario, source: str, where: Where) -> None:
    """An ordering rule's job is one the run can execute: a misspelt class matches no
    event, and the rule would hold by judging nothing."""
    job = parse_pattern(source).job
    if job is not None:
        _job(scenario, job, where)


def _job(scenario: Scenario, name: str, where: Where) -> Any:
    """A job class by name, from the scenario's job library (its ``jobs:`` section, its
    plug-ins, the caller's classes and the built-in ones)."""
    try:
        return scenario.library.resolve(name)
    except AmbiguousJob as exc:
        raise where.error(str(exc)) from None
    except UnknownJob:
        raise where.error(unknown("job", name, scenario.library)) from None


def _uses(scenario: Scenario, cls: Any, where: Where) -> None:
    """The services, tables and pools the class says its perform uses are declared."""
    declared = {"service": service_names(scenario), "table": table_names(scenario),
                "pool": ["db", *scenario.world.pools]}
    for kind, used in (("service", cls.services), ("table", cls.tables), ("pool", cls.pools)):
        for name in used:
            if name not in declared[kind]:
                raise where.error(
                    f"{cls.__name__} uses {kind} {name!r}: {unknown(kind, name, declared[kind])}"
                    f" (declare it under world.{kind}s)")


def _entry(scenario: Scenario, entry: WorkloadEntry, where: Where) -> None:
    cls = _job(scenario, entry.job, where.key("job"))
    attempt(lambda: _uses(scenario, cls, where.key("job")), None)
    if entry.backoff is not None:
        attempt(lambda: _backoff(entry.backoff or "", where.key("backoff")), None)
    made = attempt(lambda: _args(cls, dict(entry.args), where.key("args")), None)
    if entry.effect is not None and made is not None:
        attempt(lambda: _effect(cls, entry.effect or "", made, where.key("effect")), None)
    queue = entry.queue or cls.queue
    listened = scenario.system.queue_names
    if queue not in listened:
        at = where.key("queue") if entry.queue else where.key("job")
        raise at.error(f"{entry.job} goes to queue {queue!r}, which no process listens to "
                       f"(system.queues: {', '.join(listened)}); set queue: or add the queue")


def _backoff(spec: str, where: Where) -> None:
    try:
        backoff.parse(spec)
    except ValueError as exc:
        reason = str(exc).removeprefix(f"{spec!r}: ")
        raise where.error(f"invalid backoff {spec!r}: {reason}") from None


def _effect(cls: Any, text: str, made: list[Any], where: Where) -> None:
    """Each placeholder of the entry's ``effect`` names something the job's args hold:
    a position, or a field of its args object (a declared job's ``{event_id}``)."""
    fields = next((arg for arg in made if isinstance(arg, dict)), {})
    for name in template(text).names:
        if name.isdigit() and int(name) < len(made) and isinstance(made[int(name)],
                                                                   dict | list):
            raise where.error(
                f"{{{name}}} in {text!r} is {cls.__name__}'s args object, which no effect "
                f"key spells; name its field instead ({', '.join(f'{{{k}}}' for k in fields)})"
                if made[int(name)] is fields else
                f"{{{name}}} in {text!r} is a {type(made[int(name)]).__name__} argument of "
                f"{cls.__name__}; an effect key takes a scalar one")
        if (int(name) < len(made)) if name.isdigit() else name in fields:
            continue
        positions = f"positions 0..{len(made) - 1}" if made else "no positions"
        named = (f"fields {', '.join(sorted(fields))}" if fields else "no args object")
        raise where.error(f"{{{name}}} in {text!r} names nothing {cls.__name__}'s args hold "
                          f"({positions}; {named})")


def _args(cls: Any, args: dict[str, Any], where: Where) -> list[Any]:
    """The job's own ``make_args`` decides which args it takes, as it will in the run,
    and what it makes must be a list a push accepts (JSON-native), or the first arrival
    would stop the run."""
    try:
        made = cls.make_args(0, args)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) else f"invalid args ({exc})"
        raise where.error(reason if cls.__name__ in reason else f"{cls.__name__}: {reason}"
                          ) from None
    except Exception as exc:        # the user's own code: say where, never a traceback
        raise where.error(f"{cls.__name__}.make_args raised {type(exc).__name__}: {exc}"
                          ) from None
    if not isinstance(made, list):
        raise where.error(f"{cls.__name__}.make_args returned a {type(made).__name__} "
                          f"({made!r}); it must return the list of perform's arguments")
    try:
        check_json_native(cls.__name__, made, "args")
    except ArgumentError as exc:
        raise where.error(f"{cls.__name__}.make_args: {str(exc).removeprefix(cls.__name__ + ': ')}"
                          ) from None
    return made


def _fault(scenario: Scenario, fault: Fault, where: Where) -> None:
    name = ALIASES.get(fault.type, fault.type)
    cls = FAULTS[name]
    if fault.target is not None:
        attempt(lambda: _target(scenario, cls.TARGET, name, fault.target or "",
                                where.key("target")), None)

    def seconds(value: Any, path: str) -> float:
        return parse_duration(value, where.key(path.rpartition(".")[2]))

    duration = fault.duration if fault.duration is not None else scenario.horizon - fault.start
    try:
        built = build_fault(fault.type, fault.start, max(0.0, duration), fault.target,
                            dict(fault.params), seconds, "fault")
    except FaultParamError as exc:
        key = exc.path.rpartition(".")[2]
        raise where.key(key).error(exc.reason) from None
    job = built.params.get("job")
    if isinstance(job, str) and "job" in cls.PARAMS:
        job_cls = _job(scenario, job, where.key("job"))
        _uses(scenario, job_cls, where.key("job"))
        if "args" in built.params:
            _args(job_cls, dict(built.params["args"] or {}), where.key("args"))
    queue = built.params.get("queue")
    if isinstance(queue, str) and queue not in scenario.system.queue_names:
        raise where.key("queue").error(
            f"queue {queue!r} is not in system.queues ({', '.join(scenario.system.queue_names)})")


def _target(scenario: Scenario, kind: str | None, fault: str, target: str,
            where: Where) -> None:
    if kind is None:
        raise where.error(f"fault {fault!r} takes no target (it acts on the whole "
                          f"{'storage' if fault.startswith(('redis', 'duplicate')) else 'system'})"
                          "; remove target:")
    valid = target_names(scenario, kind)
    if target in valid:
        return
    if kind == "process" and scenario.scaling.unscaled is not None:
        processes, concurrency = scenario.scaling.unscaled
        if target in (f"p{i}" for i in range(processes)):
            system = scenario.system
            raise where.error(
                f"fault {fault!r} targets process {target!r}, which does not exist at --scale "
                f"{scenario.scale:g}: scale: {{threads: true}} turns {processes} processes x "
                f"{concurrency} threads into {system.processes} x {system.concurrency} "
                f"(p0..p{system.processes - 1}); target one of those, or use a larger --scale")
    if kind == "replica" and not scenario.world.database.replicas:
        raise where.error(f"no replica {target!r}: world.database.replicas is 0")
    listed = ", ".join(valid) or f"none ({kind}s are declared under world.{kind}s or by a plug-in)"
    raise where.error(f"unknown {kind} {target!r} for {fault!r}{suggest(target, valid)}; "
                      f"valid: {listed}")


def target_names(scenario: Scenario, kind: str) -> list[str]:
    """What a fault's ``target`` may name in SCENARIO, for target kind KIND."""
    if kind == "process":
        return [*TARGET_WORDS, *(f"p{i}" for i in range(scenario.system.processes))]
    if kind == "replica":
        return ["all", *(str(i) for i in range(scenario.world.database.replicas))]
    return service_names(scenario)


def service_names(scenario: Scenario) -> list[str]:
    """The world's services: those its plug-ins and the scenario declare (none is
    built in, and no name stands for another)."""
    return sorted({*(n for p in scenario.plugins for n in p.services), *scenario.world.services})


def table_names(scenario: Scenario) -> list[str]:
    """The world's tables: those its plug-ins and the scenario declare."""
    return sorted({*(n for p in scenario.plugins for n in p.tables), *scenario.world.tables})


def _metric(scenario: Scenario, rule: Expectation, where: Where) -> None:
    kind = _metric_path(scenario, rule.metric, where.key("metric"))
    if kind == BOOLEAN and rule.equals is None:
        raise where.error(f"{rule.metric!r} is true or false: use equals, not min or max")
    if kind == NUMBER and isinstance(rule.equals, str | bool):
        raise where.key("equals").error(f"{rule.metric!r} is a number, got {rule.equals!r}")


def _metric_path(scenario: Scenario, metric: str, where: Where) -> str:
    """The kind of METRIC in metrics.json's schema, or an error naming the path."""
    vocabularies = {
        "queue": scenario.system.queue_names,
        "check": scenario.checks,
        "service": service_names(scenario),
        "service_stat": LOAD_STATS,
        "job": sorted(scenario.library),
    }
    try:
        return leaf(metric, vocabularies,
                    {k: v for p in scenario.plugins for k, v in p.metrics_schema.items()})
    except MetricPathError as exc:
        raise where.error(str(exc)) from None
