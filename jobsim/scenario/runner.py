"""Run one scenario: build the world, the storage, the job system, the nemesis and the
workload; simulate; take the final inventory; check; measure.

``run_scenario`` is the public entry point (``jobsim.run_scenario``). A run is a pure
function of (scenario, seed, code): the only wall-clock reading is ``wall_seconds``,
which is reported but never fed back into the model.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from jobsim.broker import make_broker
from jobsim.broker.base import RETRY, SCHEDULE, Broker
from jobsim.broker.url import describe
from jobsim.chaos.faults import ChaosContext
from jobsim.chaos.nemesis import Nemesis, faulty_connections
from jobsim.chaos.storage import StorageFaults
from jobsim.checks.registry import NAMES as CHECK_NAMES
from jobsim.checks.registry import run_checks
from jobsim.checks.result import CheckResult
from jobsim.history.history import History
from jobsim.report.drawing import ChartDrawer
from jobsim.report.job_sets import JobSet
from jobsim.report.metrics import Passes, compute
from jobsim.scenario import build
from jobsim.scenario.jobs import base_library
from jobsim.scenario.judge import Judging
from jobsim.scenario.loader import load_scenario
from jobsim.scenario.references import check_references, require_references
from jobsim.scenario.schema import Scenario
from jobsim.sim.offload import Offload
from jobsim.sim.simulation import Simulation
from jobsim.system import safeguards
from jobsim.system.client import RouteAll
from jobsim.system.job import Job
from jobsim.system.library import JobLibrary
from jobsim.system.system import JobSystem
from jobsim.world.workload import Workload
from jobsim.world.world import World

Progress = Callable[[float, float], None]        # (sim now, horizon)
Phase = Callable[[str], None]                    # the step after the simulation
DRAIN_CHECK_S = 10.0
PROGRESS_STEPS = 100
QUIET_SLICE_EVENTS = 1_000   # a slice that recorded fewer lets the next one widen
OFFLOAD_EVENTS = 100_000     # histories this long are saved and digested in a child


class Result:
    """One run: its scenario, history, verdicts and metrics.json document.

    ``metrics`` may be given as a function: it is then called on the first read and
    kept. A property test reads only ``checks``; the metrics document (five passes over
    the history and its digest) cost it about a tenth of each example."""

    __slots__ = ("_metrics", "charts", "checks", "history", "scenario", "tables")

    def __init__(self, scenario: Scenario, history: History,
                 metrics: dict[str, Any] | Callable[[], dict[str, Any]],
                 checks: dict[str, CheckResult],
                 charts: ChartDrawer | None = None,
                 tables: dict[str, JobSet] | None = None) -> None:
        self.scenario = scenario
        self.history = history
        self._metrics = metrics
        self.checks = checks
        self.charts = charts        # the report's charts, drawn by a helper (_judged_run)
        self.tables = tables        # the report's job tables, if the judge made them

    @property
    def metrics(self) -> dict[str, Any]:
        found = self._metrics
        if callable(found):
            found = self._metrics = found()
        return found

    @property
    def ok(self) -> bool:
        """Every check and expectation held. A run that reproduces a known failure by a
        check failing is not ok, yet its verdict is REPRODUCED (see ``verdict``)."""
        return all(c.ok for c in self.checks.values()) and all(
            e["ok"] is True for e in self.metrics["expectations"])

    @property
    def verdict(self) -> str:
        return str(self.metrics["verdict"])

    def __repr__(self) -> str:
        return (f"Result(scenario={self.scenario.name!r}, events={len(self.history)}, "
                f"checks={ {n: c.ok for n, c in self.checks.items()} })")


def scenarios_dir() -> Path:
    """Built-in scenarios: $JOBSIM_SCENARIOS, ./scenarios, the checkout's scenarios/, or,
    installed from a wheel, the copy the build put in the package (see setup.py)."""
    env = os.environ.get("JOBSIM_SCENARIOS")
    if env:
        return Path(env)
    here = Path("scenarios")
    if here.is_dir():
        return here
    checkout = Path(__file__).resolve().parents[2] / "scenarios"
    if checkout.is_dir():
        return checkout
    return Path(str(resources.files("jobsim") / "scenarios"))


def library_of(jobs: JobLibrary | list[type[Job]] | tuple[type[Job], ...] | None
               ) -> JobLibrary:
    """The caller's job library: the built-in jobs plus ``jobs`` (classes or a library)."""
    if isinstance(jobs, JobLibrary):
        return jobs
    return base_library(jobs or ())


def known_registries(jobs: JobLibrary | list[type[Job]] | tuple[type[Job], ...] | None = None
                     ) -> dict[str, Any]:
    """The loader's keyword arguments for what exists in this code: the job library
    (built-in jobs plus ``jobs``), faults, checks, and the reference resolver."""
    return {"known_jobs": library_of(jobs), "known_faults": build.FAULT_NAMES,
            "known_checks": CHECK_NAMES, "references": check_references}


def load(source: str | Path, variant: str | None = None,
         search_dir: Path | None = None,
         jobs: JobLibrary | list[type[Job]] | tuple[type[Job], ...] | None = None,
         scale: float = 1.0) -> Scenario:
    """A scenario by name or path, validated against everything that exists here;
    ``jobs``: the caller's job classes (``--import``, ``jobs=[...]``); ``scale``: the
    ``--scale`` it will run at, so what scaling breaks is refused at load, with the line
    (the scenario returned is not scaled)."""
    scenario = load_scenario(source, **known_registries(jobs),
                             search_dir=search_dir or scenarios_dir(), scale=scale)
    return scenario.with_variant(variant)


def run_scenario(scenario: Scenario | str | Path, seed: int | None = None,
                 variant: str | None = None, broker: str = "memory", scale: float = 1.0,
                 progress: Progress | None = None, history_path: Path | None = None,
                 phase: Phase | None = None, flush: bool = False,
                 jobs: JobLibrary | list[type[Job]] | tuple[type[Job], ...] | None = None
                 ) -> Result:
    """Simulate a scenario and judge it. ``broker``: memory, fakeredis or a redis:// URL
    (``flush``: empty that database first; otherwise its other keys are left alone).
    ``history_path``: save the history there, digesting it in the same pass.
    ``phase``: told the name of each step after the simulation ("checking", ...).
    ``jobs``: job classes for a scenario given by name or path (a loaded one carries
    its own)."""
    if not isinstance(scenario, Scenario):
        scenario = load(scenario, variant, jobs=jobs)
    else:
        scenario = scenario.with_variant(variant)
    if scale != 1.0:
        scenario = scenario.scaled(scale)
    seed = scenario.seed if seed is None else seed
    require_references(scenario)                         # bad input fails before a run
    faults = build.faults(scenario)
    with _gc_frozen():
        return _judged_run(scenario, seed, broker, faults, progress, history_path, phase,
                           flush)


@contextmanager
def _gc_frozen() -> Iterator[None]:
    """Unfreeze, at the end, the objects ``_Run.simulate`` froze: they are ordinary
    garbage once the caller drops the result. A caller that froze objects itself
    keeps everything frozen: ``gc.unfreeze`` cannot tell its objects from ours."""
    thaw = gc.get_freeze_count() == 0
    try:
        yield
    finally:
        if thaw:
            gc.unfreeze()


def _judged_run(scenario: Scenario, seed: int, broker: str, faults: list[Any],
                progress: Progress | None, history_path: Path | None,
                phase: Phase | None, flush: bool = False) -> Result:
    # Saving the history means the run's files are being written (jobsim simulate): a
    # helper gets matplotlib ready for the report's charts while the run simulates, and
    # draws them while this process checks it (report/drawing.py).
    charts = (ChartDrawer(queues=len(scenario.system.queue_names))
              if history_path is not None else None)
    if history_path is not None:
        history_path.parent.mkdir(parents=True, exist_ok=True)
    judging: Judging | None = None
    started = time.perf_counter()
    try:
        run = _Run(scenario, seed, make_broker(broker, flush=flush), faults)
        judging = Judging(run.sim.history, list(scenario.checks), scenario.check_options,
                          history_path, enabled=history_path is not None)
        try:
            run.simulate(progress, judging.after_slice)
        finally:
            _close(run.store)            # a real server keeps none of the run's keys
        judge = judging.finish()
    except BaseException:
        if charts is not None:
            charts.cancel()
        if judging is not None:
            judging.cancel()
        raise
    wall = time.perf_counter() - started
    history = run.sim.history
    if phase is not None:
        phase("checking")
    judged, saving = None, None
    try:
        series = None if judge is None else judge.series()   # the judge read it all
        if charts is not None:
            if series is not None:
                charts.draw_series(history, series)
            else:
                charts.draw(history)
        if judge is not None:
            judged = judge.result()
        if judge is not None and judged is not None:
            own = run_checks(history, [n for n in scenario.checks if n not in judge.streamed],
                             scenario.check_options)
            checks = {n: judged.checks[n] if n in judged.checks else own[n]
                      for n in scenario.checks}
            digest: str | None = judged.digest
            eager = True
        else:                        # no judge, or it failed: read it here, as ever
            saving = _save(history, history_path)
            checks = run_checks(history, scenario.checks, scenario.check_options)
            # A file written or a child digesting: finish now. Otherwise the digest is
            # computed in-process anyway, so it waits with the metrics for a first read.
            eager = history_path is not None or saving.pipe is not None
            digest = saving.result() if eager else None
    except BaseException:            # Ctrl-C included: no helper outlives the run
        if saving is not None:
            saving.cancel()
        if judge is not None:
            judge.cancel()
        if charts is not None:
            charts.cancel()
        raise
    sim_seconds = run.sim.now
    passes = None if judged is None else judged.passes

    def metrics() -> dict[str, Any]:
        return _metrics(scenario, seed, broker, history, checks, sim_seconds, wall,
                        digest if saving is None or eager else saving.result(), passes)

    return Result(scenario, history, metrics() if eager else metrics, checks, charts,
                  None if judged is None else judged.tables)


def _metrics(scenario: Scenario, seed: int, broker: str, history: History,
             checks: dict[str, CheckResult], sim_seconds: float, wall: float,
             digest: str | None, passes: Passes | None = None) -> dict[str, Any]:
    """The run's metrics.json document."""
    meta = {"scenario": scenario.name, "variant": scenario.variant, "seed": seed,
            "history_digest": digest,
            "broker": describe(broker),
            "sim_seconds": sim_seconds, "wall_seconds": round(wall, 3),
            "scale": scenario.scale, "description": scenario.description,
            "system": {"processes": scenario.system.processes,     # after --scale: what ran
                       "concurrency": scenario.system.concurrency,
                       "threads": scenario.system.threads},
            "reproduces": scenario.reproduces,
            "faults": [f.describe() for f in scenario.faults],
            "story": None if scenario.story is None else {
                "question": scenario.story.question, "metric": scenario.story.metric,
                "label": scenario.story.label}}
    expect = [{"metric": e.metric, "min": e.min, "max": e.max, "equals": e.equals}
              for e in scenario.expect]
    extra = [p.metrics(history) for p in scenario.plugins if p.metrics is not None]
    return compute(history, checks, meta, expect, extra, passes)


def _save(history: History, path: Path | None) -> Offload[str]:
    """Save (when ``path`` is given) and digest the history: in a forked child for a
    large run, so that it overlaps the checkers; in-process below ``OFFLOAD_EVENTS``,
    where forking would cost more than it saves."""
    def work() -> str:
        return history.digest() if path is None else history.to_jsonl(path)

    return Offload(work, "saving the history", fork=len(history) >= OFFLOAD_EVENTS)


def run_config(scenario: Scenario, seed: int) -> dict[str, Any]:
    """The run-level half of the config event: the scenario's, plus the ordering rules the
    registered jobs declare with ``after`` (``Job.ordering_rules``)."""
    cfg = scenario.config(seed)
    cfg["order"] = [*cfg["order"],
                    *(r for cls in scenario.library.classes() for r in cls.ordering_rules())]
    return cfg


class _Run:
    """The assembled machinery of one run."""

    def __init__(self, scenario: Scenario, seed: int, store: Broker, faults: list[Any]) -> None:
        self.scenario = scenario
        self.store = store
        try:
            self._assemble(scenario, seed, faults)
        except BaseException:
            _close(store)
            raise

    def _assemble(self, scenario: Scenario, seed: int, faults: list[Any]) -> None:
        self.sim = sim = Simulation(seed)
        world_cfg, error_rates = build.world_config(scenario)
        self.world = World(sim, world_cfg)
        for name, rate in error_rates.items():
            self.world.service(name).set_error_rate(rate)
        self._set_up_plugins()
        self.storage = storage = StorageFaults()
        workers, client = faulty_connections(
            self.store, storage, sim.streams["chaos.storage"], sim.record,
            notify=lambda queue, n: self.system.notify(queue, n))
        self.system = JobSystem(sim, workers, build.system_config(scenario), self.world,
                                library=scenario.library.copy())
        self.system.client.broker = client
        if scenario.route_all_to:
            self.system.client.middleware.append(RouteAll(scenario.route_all_to))
        safeguards.install(self.system, dict(scenario.system.safeguards))
        ctx = ChaosContext(sim, self.system, self.world, storage, self.store)
        self.nemesis = Nemesis(ctx, faults)
        self.workload = Workload(sim, self.system.client, build.arrivals(scenario),
                                 scenario.duration)

    def _set_up_plugins(self) -> None:
        """Each plug-in's safeguard hook, with the safeguards and its own world sections."""
        safeguards = self.scenario.system.safeguards
        for plugin in self.scenario.plugins:
            sections = {k: v for k, v in self.scenario.world.extra.items()
                        if k in plugin.world_keys}
            if plugin.setup is not None:
                self.world.plugins[plugin.name] = plugin.setup(self.world, safeguards, sections)

    def simulate(self, progress: Progress | None,
                 after_slice: Callable[[], None] | None = None) -> None:
        """Run to the horizon and take the final inventory. After every slice of
        simulated time, what is alive is frozen out of the garbage collector's sight
        (``gc.freeze``): a run's state only grows (history, rows, job states) and holds
        no cyclic garbage, yet every full collection walked all of it, 11 times on
        black_friday for 1.4 s of its 12. The caller unfreezes (``_gc_frozen``).

        Slices end on the grid of ``PROGRESS_STEPS`` equal steps. Without a progress
        bar, a slice that recorded little makes the next one twice as wide (no wider
        than the time already run, and the last slice is always the grid's last step):
        a small run then stops about ten times instead of a hundred, each stop an
        until event and an exception in simpy, while a busy run keeps every step. A
        stop changes no event's order, and every stop lands on a grid point exactly
        (``x + (a - x) == a`` when ``a / 2 <= x``), so the clock after the horizon,
        and every time the drain derives from it, is the same as with a hundred."""
        scenario, sim = self.scenario, self.sim
        self.system.start(record_config=run_config(scenario, self.sim.streams.seed))
        self.nemesis.start()
        self.workload.start()
        horizon, events = scenario.duration, sim.history.events
        step, width, last = 0, 1, PROGRESS_STEPS - 1
        while step < PROGRESS_STEPS:
            recorded = len(events)
            step = min(step + width, last) if step < last else PROGRESS_STEPS
            sim.run(until=horizon * step / PROGRESS_STEPS)
            gc.freeze()
            if after_slice is not None:
                after_slice()
            if progress is not None:
                progress(sim.now, scenario.horizon)
            elif len(events) - recorded < QUIET_SLICE_EVENTS:
                width = min(2 * width, step)
            else:
                width = 1
        end = scenario.horizon
        while sim.now < end and not self.drained():
            sim.run(until=min(end, sim.now + DRAIN_CHECK_S))
            gc.freeze()
            if after_slice is not None:
                after_slice()
        if progress is not None:     # the run ends where it drained: the bar's total
            progress(sim.now, sim.now)  # agrees with the summary's simulated seconds
        self.world.finish()
        self.system.inventory(self.store)    # the observer's final read, past any fault

    def drained(self) -> bool:
        """Nothing queued, scheduled, retrying, running or owed a release, and storage
        reachable: the system is at rest."""
        store = self.store
        if self.storage.outage:
            return False
        if any(store.queue_size(q) for q in store.queue_names()):
            return False
        if store.zsize(SCHEDULE) or store.zsize(RETRY):
            return False
        if any(p.busy for w in self.system.workers for p in w.processors):
            return False
        if not self.system.flavor.at_rest():
            return False
        deps = getattr(self.system, "dependencies", None)
        return deps is None or deps.settled()


def _close(store: Broker) -> None:
    """Release a real server's run prefix: its keys and its lock (``RedisBroker.close``)."""
    close = getattr(store, "close", None)
    if close is not None:
        close()
