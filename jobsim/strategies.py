"""Hypothesis strategies that build scenario documents, or pieces of them.

Why documents (plain dicts in the scenario-file format) rather than objects: a generated
run that fails can be written to a YAML file and replayed with ``jobsim simulate FILE
--seed N``, and the same validation (``jobsim.scenario.load_document``) guards generated
and hand-written scenarios alike.

Every strategy shrinks toward the simplest run that still fails: fewer faults, shorter
and weaker faults starting at 0 s, fewer jobs and workload entries, one process, one
queue, the plainest retry policy. Choices are listed simplest first and numbers are
integers that shrink toward their small end.

Typical use::

    from hypothesis import given
    from jobsim import run_scenario, strategies as js

    @given(js.scenarios(kinds=("worker_crash",), extra={"system": {"fetch": "reliable"}}))
    def test_nothing_lost(doc):
        result = run_scenario(js.validate(doc))
        assert result.checks["no_loss"].ok
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from jobsim import backoff
from jobsim.chaos.faults import ALIASES, FAULTS
from jobsim.checks.registry import NAMES as CHECK_NAMES
from jobsim.scenario import build
from jobsim.scenario.durations import parse_duration, parse_rate
from jobsim.scenario.jobs import base_library
from jobsim.scenario.loader import (
    anchor_paths,
    apply_variant,
    deep_merge,
    load_document,
    read_document,
    resolve,
)
from jobsim.scenario.scaling import thread_split
from jobsim.scenario.schema import Scenario
from jobsim.shop import PLUGIN as SHOP

Doc = dict[str, Any]
Draw = Callable[[st.SearchStrategy[Any]], Any]

# The catalogue roughly from the mildest fault to the most disruptive: a failing schedule
# shrinks toward the front. A fault added to the catalogue later goes last (with only
# its target generated) until it is given a place and parameters here.
_MILDEST_FIRST = (
    "latency", "service_errors", "service_outage", "replica_lag", "duplicate_delivery",
    "duplicate_enqueue", "worker_crash", "clock_skew", "redis_outage", "rolling_deploy",
    "load_burst", "poison_jobs", "redis_failover",
)
ALL: tuple[str, ...] = (*(k for k in _MILDEST_FIRST if k in FAULTS),
                        *sorted(set(FAULTS) - set(_MILDEST_FIRST)))

SERVICES: tuple[str, ...] = tuple(SHOP.services)   # the shop plug-in's, declared with it
SIMPLE_JOBS: tuple[str, ...] = ("SyntheticJob",)
QUEUE_NAMES: tuple[str, ...] = ("default", "critical", "low")
QUEUE_MODES: tuple[str, ...] = ("strict", "weighted", "random")
FETCH_MODES: tuple[str, ...] = ("basic", "reliable")


# ---- small pieces ------------------------------------------------------------------
def seconds(low: int, high: int) -> st.SearchStrategy[int]:
    """Whole seconds in [low, high], shrinking toward ``low`` (YAML-friendly, replayable)."""
    return st.integers(min_value=low, max_value=max(low, high))


def fractions(low: int = 1, high: int = 100) -> st.SearchStrategy[float]:
    """A probability in whole percent, shrinking toward ``low`` % (the mildest fault)."""
    return st.integers(min_value=low, max_value=high).map(lambda p: p / 100)


def retry_policies(jitter: bool | None = None) -> st.SearchStrategy[str]:
    """Backoff policy specs accepted by ``jobsim.backoff.parse``.

    ``jitter=True``: only policies whose delays are random at every retry count (they can
    spread a herd); ``False``: only deterministic ones (a herd stays a herd); ``None``:
    both. Shrinks toward ``"sidekiq"`` (or ``exponential`` without jitter).

    >>> retry_policies(jitter=True).example()       # doctest: +SKIP
    'exponential:base=2,cap=60,jitter=full'
    """
    random_ones = st.one_of(
        st.sampled_from(("sidekiq", "sidekiq_7", "seed")),
        st.builds(_exponential, st.sampled_from(("full", "equal")), seconds(1, 4),
                  seconds(10, 600)),
        st.builds(_grpc, seconds(1, 5), seconds(1, 50).map(lambda j: j / 100)),
        st.builds(_with_j, _deterministic(), seconds(5, 50).map(lambda j: j / 100)),
    )
    if jitter is True:
        return random_ones
    if jitter is False:
        return _deterministic()
    return st.one_of(random_ones, _deterministic())


def _deterministic() -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(_exponential, st.just("none"), seconds(1, 4), seconds(10, 600)),
        st.lists(seconds(1, 120), min_size=1, max_size=4).map(
            lambda xs: backoff.policy("fixed", intervals=tuple(xs)).spec()),
    )


def _exponential(mode: str, base: int, cap: int) -> str:
    return backoff.policy("exponential", jitter=mode, base=base, cap=max(base, cap)).spec()


def _grpc(initial: int, jitter: float) -> str:
    return backoff.policy("grpc", initial=initial, jitter=jitter).spec()


def _with_j(spec: str, j: float) -> str:
    return f"{spec}{',' if ':' in spec else ':'}j={j}"


def job_args(job: str) -> st.SearchStrategy[dict[str, Any]]:
    """Workload ``args`` for one of the seed's jobs (``{}`` for any other job).

    >>> job_args("SyntheticJob").example()          # doctest: +SKIP
    {'dist': 'fixed', 'value': 0.25, 'p_fail': 0.3}
    """
    if job == "SyntheticJob":
        return synthetic_args()
    if job == "DataExportJob":
        return st.fixed_dictionaries({}, optional={"rows": st.integers(1, 2000)})
    if job == "NotificationDeliveryJob":
        return st.fixed_dictionaries({}, optional={"campaign_id": st.integers(1, 3)})
    return st.just({})


def synthetic_args(p_fail: st.SearchStrategy[float] | None = None,
                   max_ms: int = 2000) -> st.SearchStrategy[dict[str, Any]]:
    """``SyntheticJob`` args: a fixed or exponential service time (ms resolution) and
    a failure probability, shrinking toward an instant job that never fails."""
    p_fail = p_fail if p_fail is not None else st.sampled_from((0.0, 0.1, 0.3, 0.5, 0.9))
    time_s = st.integers(0, max_ms).map(lambda ms: ms / 1000)
    shape = st.one_of(
        st.builds(lambda v: {"dist": "fixed", "value": v}, time_s),
        st.builds(lambda m: {"dist": "exponential", "mean": max(m, 0.001)}, time_s),
    )
    return st.builds(lambda s, p: {**s, "p_fail": p}, shape, p_fail)


# ---- faults ------------------------------------------------------------------------
def needs_service(kind: str) -> bool:
    """Whether fault ``kind`` (or its alias) targets a service of the world."""
    return FAULTS[ALIASES.get(kind, kind)].TARGET == "service"


def fault_params(kind: str, *, processes: int = 1, services: Sequence[str] = (),
                 queues: Sequence[str] = ("default",), replicas: int = 0,
                 burst_jobs: Sequence[str] = SIMPLE_JOBS) -> st.SearchStrategy[dict[str, Any]]:
    """``target`` and the fault's own parameters, valid for ``jobsim.chaos.faults.FAULTS``.
    ``services``: the world's service names, which a service fault targets (none is
    assumed: the world has none built in).

    >>> fault_params("worker_crash", processes=2).example()   # doctest: +SKIP
    {'target': 'p1', 'restart_after': 5}
    """
    workers = [f"p{i}" for i in range(processes)]
    kind = ALIASES.get(kind, kind)
    if kind not in FAULTS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(ALL)}")
    if needs_service(kind) and not services:
        raise ValueError(f"fault {kind!r} targets a service: pass services=(...), the "
                         "names under your scenario's world.services")
    service = st.sampled_from(list(services))
    maker = _PARAMS.get(kind)
    if maker is None:                       # a new fault: its defaults, and a target
        return _params(target=service) if FAULTS[kind].NEEDS_TARGET else st.just({})
    return maker(service, workers, list(queues), replicas, list(burst_jobs))


def _params(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict of the given fields; a field drawn as None is left out (the default)."""
    return st.fixed_dictionaries(fields).map(
        lambda d: {k: v for k, v in d.items() if v is not None})


def _process_target(workers: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from([*workers, "random", "all"])


def _replica_target(replicas: int) -> st.SearchStrategy[str | None]:
    return st.sampled_from([None, *(str(i) for i in range(replicas))])


_PARAMS: dict[str, Callable[..., st.SearchStrategy[dict[str, Any]]]] = {
    "latency": lambda svc, w, q, r, j: _params(target=svc, extra=seconds(1, 30)),
    "service_errors": lambda svc, w, q, r, j: _params(target=svc, rate=fractions()),
    "service_outage": lambda svc, w, q, r, j: _params(
        target=svc, mode=st.sampled_from(("error", "timeout", "hang")),
        timeout_s=st.none() | seconds(1, 30)),
    "replica_lag": lambda svc, w, q, r, j: _params(target=_replica_target(r),
                                                   lag=seconds(1, 30)),
    # A delivery duplicated with probability 1 is redelivered forever (instant jobs then
    # livelock the clock); at most 50 % keeps the copies per job finite and small.
    "duplicate_delivery": lambda svc, w, q, r, j: _params(rate=fractions(1, 50)),
    "duplicate_enqueue": lambda svc, w, q, r, j: _params(rate=fractions(1, 50)),
    "worker_crash": lambda svc, w, q, r, j: _params(
        target=_process_target(w), restart_after=seconds(1, 60),
        every=st.none() | seconds(5, 60)),
    "clock_skew": lambda svc, w, q, r, j: _params(
        target=_process_target(w), skew=st.integers(-120, 120)),
    "redis_outage": lambda svc, w, q, r, j: st.just({}),
    "rolling_deploy": lambda svc, w, q, r, j: _params(
        timeout=seconds(0, 30), pause=seconds(0, 10), grace=st.none() | seconds(1, 40)),
    "load_burst": lambda svc, w, q, r, j: st.sampled_from(j).flatmap(
        lambda job: _params(count=st.integers(1, 50), job=st.just(job),
                            queue=st.sampled_from(q), args=job_args(job).map(lambda a: a or None))),
    "poison_jobs": lambda svc, w, q, r, j: _params(count=st.integers(1, 3),
                                                   job=st.none() | st.just("PoisonJob")),
    "redis_failover": lambda svc, w, q, r, j: _params(lose=seconds(1, 10)),
}


@st.composite
def faults(draw: Draw, duration: int, kinds: Sequence[str] = ALL, *, max_window: int | None = None,
           **context: Any) -> dict[str, Any]:
    """One fault entry: ``{type, start, duration, target?, <params>}``, starting in
    [0, duration) and lasting 1 s to ``max_window`` (default: ``duration``). ``context``
    is passed to ``fault_params`` (processes, services, queues, replicas, burst_jobs).
    Without ``services`` the default ``kinds=ALL`` leaves out the service faults."""
    if kinds is ALL and not context.get("services"):
        kinds = [kind for kind in ALL if not needs_service(kind)]
    kind = draw(st.sampled_from(_ordered(kinds)))
    start = draw(seconds(0, duration - 1))
    window = draw(seconds(1, max_window or duration))
    return {"type": kind, "start": start, "duration": window,
            **draw(fault_params(kind, **context))}


def fault_schedules(duration: int, kinds: Sequence[str] = ALL, max_faults: int = 3, *,
                    min_faults: int = 0, **context: Any) -> st.SearchStrategy[list[dict]]:
    """A fault schedule (the scenario's ``faults:`` list) for a run of ``duration`` s.

    Shrinks toward fewer faults, each earlier, shorter and milder. ``context`` as for
    ``faults`` (e.g. ``processes=2`` so that worker targets exist).

    >>> fault_schedules(60, kinds=("worker_crash", "redis_outage")).example()  # doctest: +SKIP
    [{'type': 'worker_crash', 'start': 12, 'duration': 3, 'target': 'p0', 'restart_after': 1}]
    """
    return st.lists(faults(duration, kinds, **context), min_size=min_faults,
                    max_size=max_faults)


def _ordered(kinds: Sequence[str]) -> list[str]:
    kinds = [ALIASES.get(k, k) for k in kinds]       # outage = service_outage, ...
    unknown = [k for k in kinds if k not in FAULTS]
    if unknown:
        raise ValueError(f"unknown fault kind(s) {unknown}; known: {', '.join(ALL)}")
    return sorted(dict.fromkeys(kinds), key=ALL.index)


# ---- workloads ---------------------------------------------------------------------
@st.composite
def workload_entries(draw: Draw, duration: int, jobs: Sequence[str] = SIMPLE_JOBS, *,
                     max_jobs: int = 50, queues: Sequence[str] | None = None,
                     arrivals: Sequence[str] = ("count", "burst", "rate"),
                     retry: st.SearchStrategy[Any] | None = None,
                     policies: st.SearchStrategy[str] | None = None) -> dict[str, Any]:
    """One workload entry (at most ``max_jobs`` jobs on average for ``rate``).

    ``queues``: each entry names one of them (else the job's own queue). ``retry``:
    strategy for the ``retry`` option (default: left out, or 0..5). ``policies``: for
    ``backoff`` (default: left out).

    >>> workload_entries(60).example()              # doctest: +SKIP
    {'job': 'SyntheticJob', 'count': 7, 'start': 0, 'spread': 10, 'args': {...}}
    """
    job = draw(st.sampled_from(list(jobs)))
    kind = draw(st.sampled_from(list(arrivals)))
    entry: dict[str, Any] = {"job": job}
    if kind == "rate":
        per_minute = draw(st.integers(1, max(1, max_jobs * 60 // duration)))
        start = draw(seconds(0, duration - 1))
        entry.update(rate=f"{per_minute}/m", start=start)
    elif kind == "burst":
        entry.update(burst=draw(st.integers(1, max_jobs)), at=draw(seconds(0, duration - 1)))
    else:
        start = draw(seconds(0, duration - 1))
        entry.update(count=draw(st.integers(1, max_jobs)), start=start,
                     spread=draw(seconds(0, duration - start)))
    args = draw(job_args(job))
    if args:
        entry["args"] = args
    if queues:
        entry["queue"] = draw(st.sampled_from(list(queues)))
    option = draw(retry if retry is not None else st.none() | st.integers(0, 5))
    if option is not None:
        entry["retry"] = option
    policy = draw(policies) if policies is not None else None
    if policy is not None:
        entry["backoff"] = policy
    return entry


def workloads(duration: int, jobs: Sequence[str] = SIMPLE_JOBS, *, max_entries: int = 3,
              max_jobs: int = 50, **options: Any) -> st.SearchStrategy[list[dict]]:
    """The ``workload:`` list: 1 to ``max_entries`` entries of at most ``max_jobs`` jobs
    each; shrinks toward one small ``count`` entry. ``options`` as ``workload_entries``."""
    entry = workload_entries(duration, jobs, max_jobs=max_jobs, **options)
    return st.lists(entry, min_size=1, max_size=max_entries)


# ---- the job system ----------------------------------------------------------------
@st.composite
def queue_configs(draw: Draw, names: Sequence[str] = QUEUE_NAMES,
                  modes: Sequence[str] = QUEUE_MODES, max_weight: int = 10) -> list[Any]:
    """``system.queues`` in sidekiq.yml syntax: ``[default]`` (strict order, names only)
    or ``[[critical, 6], [default, 3]]`` (weighted; all weights 1 is random order)."""
    count = draw(st.integers(1, len(names)))
    chosen = list(names[:count])
    mode = draw(st.sampled_from(list(modes)))
    if mode == "strict":
        return chosen
    if mode == "random":
        return [[name, 1] for name in chosen]
    return [[name, draw(st.integers(1, max_weight))] for name in chosen]


@st.composite
def capsule_configs(draw: Draw, max_capsules: int = 2, max_concurrency: int = 3,
                    queues: st.SearchStrategy[list[Any]] | None = None
                    ) -> dict[str, dict[str, Any]]:
    """``system.capsules``: 1 to ``max_capsules`` Sidekiq 7 capsules named ``cap0``,
    ``cap1``, ..., each with 1 to ``max_concurrency`` threads and its own queue list
    (``queues``, default ``queue_configs()``, so a capsule may share queues with the
    default one). Shrinks toward one capsule of one thread on ``default``."""
    lists = queues if queues is not None else queue_configs()
    return {f"cap{i}": {"concurrency": draw(st.integers(1, max_concurrency)),
                        "queues": draw(lists)}
            for i in range(draw(st.integers(1, max_capsules)))}


@st.composite
def worker_configs(draw: Draw, max_processes: int = 3, max_concurrency: int = 10,
                   fetch: Sequence[str] = FETCH_MODES,
                   queues: st.SearchStrategy[list[Any]] | None = None,
                   capsules: st.SearchStrategy[dict[str, Any]] | None = None
                   ) -> dict[str, Any]:
    """A ``system:`` mapping: processes, concurrency, fetch mode and queues, plus
    ``capsules`` when that strategy is given (``capsule_configs()``; Sidekiq only).

    >>> worker_configs(fetch=("reliable",)).example()    # doctest: +SKIP
    {'processes': 2, 'concurrency': 3, 'fetch': 'reliable', 'queues': [['default', 2]]}
    """
    system = {
        "processes": draw(st.integers(1, max_processes)),
        "concurrency": draw(st.integers(1, max_concurrency)),
        "fetch": draw(st.sampled_from(list(fetch))),
        "queues": draw(queues if queues is not None else queue_configs()),
    }
    if capsules is not None:
        system["capsules"] = draw(capsules)
    return system


@st.composite
def backlogs(draw: Draw, modes: Sequence[str] = ("strict", "weighted"),
             names: Sequence[str] = QUEUE_NAMES, max_burst: int = 120,
             checks: Sequence[str] = ("priority", "lifecycle")) -> Doc:
    """A scenario that fills every queue at once: a burst of SyntheticJobs into each of
    two or more queues at the same instant, served by one process with 1 or 2 threads. Every
    queue then has a backlog for most of the run, so strict order and weighted shares
    are actually exercised (with one thread per queue's worth of work they never are).
    Shrinks toward two queues of 30 jobs, one thread."""
    count = draw(st.integers(2, len(names)))
    mode = draw(st.sampled_from(list(modes)))
    chosen = list(names[:count])
    queues: list[Any] = (chosen if mode == "strict" else
                         [[n, draw(st.integers(1, 6))] for n in chosen])
    work = {"dist": "exponential", "mean": 0.05}
    doc: Doc = {
        "name": "backlog",
        "description": "Generated by jobsim.strategies.backlogs: every queue backlogged",
        "seed": draw(st.integers(0, 2**16)),
        "duration": 60, "drain": 600,
        "system": {"processes": 1, "concurrency": draw(st.integers(1, 2)),
                   "fetch": "reliable", "queues": queues},
        "workload": [{"job": "SyntheticJob", "burst": draw(st.integers(30, max_burst)),
                      "at": 0, "queue": name, "args": work} for name in chosen],
        "checks": list(checks),
    }
    validate(doc)
    return doc


def queue_names(queues: Sequence[Any]) -> list[str]:
    """Names of a ``system.queues`` value in either syntax."""
    return [q[0] if isinstance(q, list | tuple) else q for q in queues]


def served_queues(system: Mapping[str, Any]) -> list[str]:
    """Every queue some thread of a ``system:`` mapping fetches from: its own queues,
    then its capsules' (a job may go to any of them)."""
    names = queue_names(system.get("queues") or ["default"])
    for capsule in (system.get("capsules") or {}).values():
        names += [q for q in queue_names(capsule.get("queues") or []) if q not in names]
    return names


# ---- whole scenarios ---------------------------------------------------------------
@st.composite
def scenarios(draw: Draw, *, jobs: Sequence[str] = SIMPLE_JOBS, kinds: Sequence[str] = ALL,
              max_faults: int = 3, min_faults: int = 0, max_jobs: int = 50,
              max_entries: int = 3, duration: st.SearchStrategy[int] | None = None,
              drain: int = 600, system: st.SearchStrategy[dict[str, Any]] | None = None,
              checks: Sequence[str] = CHECK_NAMES, services: Sequence[str] = SERVICES,
              retry: st.SearchStrategy[Any] | None = None,
              policies: st.SearchStrategy[str] | None = None,
              extra: Mapping[str, Any] | None = None,
              job_classes: Sequence[type[Any]] = ()) -> Doc:
    """A complete, validated scenario document: system, workload and fault schedule.

    ``job_classes``: your own Job classes, which ``jobs`` may name; pass the same classes
    to the run (``jobsim_run(doc, jobs=[...])``), since no class is known globally.

    ``extra`` is deep-merged over the generated document (fixed settings such as
    ``{"system": {"safeguards": {...}}}`` or ``{"world": ...}``); lists in it replace.
    Shrinks toward 10 s of one small workload entry, one process, one queue, no fault.

    >>> doc = scenarios(kinds=("worker_crash",), extra={"system": {"fetch": "basic"}}).example()
    >>> sorted(doc)                                  # doctest: +SKIP
    ['checks', 'description', 'drain', 'duration', 'faults', 'name', 'seed', 'system', ...]
    """
    length = draw(duration if duration is not None else seconds(10, 120))
    sys_cfg = deep_merge(draw(system if system is not None else worker_configs()),
                         dict((extra or {}).get("system", {})))
    names = served_queues(sys_cfg)
    doc: Doc = {
        "name": "generated",
        "description": "Generated by jobsim.strategies.scenarios",
        "seed": draw(st.integers(0, 2**16)),
        "duration": length,
        "drain": drain,
        "system": sys_cfg,
        "workload": draw(workloads(length, jobs, max_entries=max_entries, max_jobs=max_jobs,
                                   queues=names, retry=retry, policies=policies)),
        "faults": draw(fault_schedules(length, kinds, max_faults, min_faults=min_faults,
                                       processes=sys_cfg.get("processes", 1),
                                       services=services, queues=names, burst_jobs=jobs)),
        "checks": list(checks),
    }
    if set(jobs) & {cls.__name__ for cls in SHOP.jobs} or set(services) & set(SHOP.services):
        doc["plugins"] = ["jobsim.shop"]
    doc = deep_merge(doc, {k: v for k, v in (extra or {}).items() if k != "system"})
    validate(doc, jobs=job_classes)
    return doc


def validate(doc: Mapping[str, Any], variant: str | None = None,
             jobs: Sequence[type[Any]] = ()) -> Scenario:
    """``load_document`` with the built-in jobs plus ``jobs`` (a user's own classes),
    every fault and check. Raises ScenarioError for a bad document."""
    return load_document(copy.deepcopy(dict(doc)), known_jobs=base_library(jobs),
                         known_faults=build.FAULT_NAMES, known_checks=CHECK_NAMES,
                         variant=variant, file=str(doc.get("name", "generated")))


# ---- perturbed built-in scenarios -------------------------------------------------
def scenario_document(name: str, variant: str | None = None,
                      search_dir: Path | None = None) -> Doc:
    """The raw document of a built-in scenario (a name under scenarios/ or a path), with
    ``variant`` merged in, the ``variants`` key removed and a relative
    ``system.sidekiq_yml`` made absolute, so the document stands without its file."""
    from jobsim.scenario.runner import scenarios_dir

    path = resolve(name, search_dir or scenarios_dir())
    raw = read_document(path)
    doc = apply_variant(raw, variant) if variant is not None else {
        k: v for k, v in raw.items() if k != "variants"}
    return anchor_paths(doc, path.parent)   # validated without its file, replayed elsewhere


def scenario_perturbations(name: str, *, variant: str | None = None,
                           scales: Sequence[float] = (0.01, 0.02, 0.03, 0.05),
                           max_shift: int = 600, search_dir: Path | None = None
                           ) -> st.SearchStrategy[Doc]:
    """A built-in scenario with its seed, fault timings and scale perturbed.

    Each fault's start moves by up to ``max_shift`` seconds (clamped to the run) and its
    window is scaled by 1/4 to 2; the document is scaled by a factor from ``scales`` as
    ``--scale`` scales it (counts and rates, except entries declared ``scale: false``;
    with ``scale: {threads: true}`` the worker threads too), written out so the YAML
    replays as is, without ``--scale``. Shrinks toward the original timings, the
    smallest scale and seed 0. Variants are dropped (pass ``variant`` to perturb one
    instead of the base story).

    >>> scenario_perturbations("black_friday").example()["seed"]   # doctest: +SKIP
    1234
    """
    from jobsim.scenario.runner import load, scenarios_dir

    doc = scenario_document(name, variant, search_dir)
    scenario = load(resolve(name, search_dir or scenarios_dir()), variant)
    usable = [scale for scale in scales if _keeps_targets(scenario, scale)]
    if not usable:
        raise ValueError(
            f"scenario_perturbations({name!r}): no scale in {tuple(scales)} keeps every "
            f"process its faults target once scale: {{threads: true}} shrinks its "
            f"{scenario.system.processes} processes; pass larger scales")
    threads = (scenario.system.processes, scenario.system.concurrency)
    return _perturbed(doc, threads if scenario.scaling.threads else None, usable, max_shift)


def _keeps_targets(scenario: Scenario, scale: float) -> bool:
    """Whether every reference still resolves at ``scale`` (a fault's process target
    is gone when scaled threads leave fewer processes)."""
    from jobsim.scenario.errors import ScenarioError
    from jobsim.scenario.references import require_references

    try:
        require_references(scenario.scaled(scale))
    except ScenarioError:
        return False
    return True


@st.composite
def _perturbed(draw: Draw, doc: Doc, threads: tuple[int, int] | None,
               scales: Sequence[float], max_shift: int) -> Doc:
    doc = copy.deepcopy(doc)
    scale = draw(st.sampled_from(list(scales)))
    doc["seed"] = draw(st.integers(0, 2**16))
    doc["workload"] = [_scale_entry(e, scale) for e in doc["workload"]]
    if threads is not None:
        _scale_threads(doc, thread_split(*threads, scale))
    duration = parse_duration(doc["duration"])
    horizon = duration + parse_duration(doc.get("drain", 0))
    doc["faults"] = [draw(_perturbed_fault(f, horizon, max_shift)) for f in
                     doc.get("faults") or []]
    return doc


def _scale_threads(doc: Doc, split: tuple[int, int]) -> None:
    """Write the scaled threads into the document's own keys: ``system.processes`` and
    the concurrency where the document gives it (``celery.worker_concurrency`` under
    Celery, else ``system.concurrency``, which overrides a sidekiq.yml's)."""
    processes, concurrency = split
    system = dict(doc.get("system") or {})
    system["processes"] = processes
    celery = system.get("celery")
    if isinstance(celery, Mapping) and "worker_concurrency" in celery:
        system["celery"] = {**celery, "worker_concurrency": concurrency}
    else:
        system["concurrency"] = concurrency
    doc["system"] = system


@st.composite
def _perturbed_fault(draw: Draw, fault: Mapping[str, Any], horizon: float,
                     max_shift: int) -> dict[str, Any]:
    out = dict(fault)
    start = parse_duration(fault["start"])
    shift = draw(st.integers(-max_shift, max_shift))
    out["start"] = min(max(0.0, start + shift), max(0.0, horizon - 1))
    if fault.get("duration") is not None:
        factor = draw(st.sampled_from((1.0, 0.5, 0.25, 1.5, 2.0)))
        out["duration"] = max(1.0, parse_duration(fault["duration"]) * factor)
    return out


def _scale_entry(entry: Mapping[str, Any], factor: float) -> dict[str, Any]:
    """As ``WorkloadEntry.scaled``: counts rounded half up (at least 1), rates scaled,
    an entry declared ``scale: false`` left as it is."""
    out = dict(entry)
    if out.get("scale") is False:
        return out
    for key in ("count", "burst", "fanout"):
        if key in out:
            out[key] = max(1, int(out[key] * factor + 0.5))
    if "rate" in out:
        per_second = parse_rate(out["rate"]) * factor
        out["rate"] = f"{per_second:.9f}".rstrip("0").rstrip(".") + "/s"
    return out

