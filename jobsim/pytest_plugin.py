"""pytest plugin (entry point ``jobsim``): fixtures for users' own job tests.

Why a plugin: a user who writes a Job subclass wants to run it under a fault schedule
and assert a property in three lines, and to get, when it fails, the failing checks with
examples and a command that replays the run. Fixtures: ``jobsim_sim``, ``jobsim_broker``
(``--jobsim-broker memory|fakeredis|redis://...``, or indirect parametrization),
``jobsim_world``, ``jobsim_system`` and ``jobsim_run`` (``run_scenario_and_assert`` with
the session's options; usable in ``@given`` tests). See docs/properties.md.

This module imports only pytest and the standard library at import time: pytest loads it
for every session of every project that has jobsim installed, so it must be fast and
must never break collection.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from jobsim.broker.base import Broker
    from jobsim.checks.result import CheckResult
    from jobsim.scenario.runner import Result
    from jobsim.scenario.schema import Scenario
    from jobsim.sim.simulation import Simulation
    from jobsim.system.system import JobSystem
    from jobsim.world.world import World

FAILING_DIR = "reports/failing"       # outside pytest (run_scenario_and_assert alone)
CACHE_DIR = "jobsim-failing"          # under pytest's cache dir, for the plugin's runs
MAX_SHOWN = 3
MARKER = ("jobsim(seed=None, broker=None, scale=None): options of this test's jobsim "
          "runs and fixtures (seed, broker, scale); they override --jobsim-seed and "
          "--jobsim-broker")
_current: dict[str, pytest.Item] = {}   # the test being run, for the session fixture


class ScenarioCheckFailed(AssertionError):
    """A scenario run broke a property (or raised); the message says how to replay it."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("jobsim", "jobsim simulation fixtures")
    group.addoption("--jobsim-broker", default=os.environ.get("JOBSIM_BROKER", "memory"),
                    help="broker for jobsim fixtures and runs: memory (default), fakeredis "
                         "or a redis:// URL (env JOBSIM_BROKER)")
    group.addoption("--jobsim-failing-dir", default=os.environ.get("JOBSIM_FAILING_DIR"),
                    help="where failing generated scenarios are saved (default: "
                         f"{CACHE_DIR} under pytest's cache dir; env JOBSIM_FAILING_DIR)")
    group.addoption("--jobsim-seed", type=int, default=None,
                    help="seed of every jobsim run and of jobsim_sim (default: each "
                         "scenario's own seed; jobsim_sim: 0)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)


def pytest_runtest_setup(item: pytest.Item) -> None:
    _current["item"] = item


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A Hypothesis test that uses ``jobsim_run`` gets ``deadline=None``: one example is
    a whole simulation (tens of milliseconds to seconds), far over Hypothesis's 200 ms
    default, and a deadline miss would be reported as the property failing. A deadline
    the test's own ``@settings`` sets (different from the profile's) is kept."""
    for item in items:
        if "jobsim_run" not in getattr(item, "fixturenames", ()):
            continue
        test = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        current = getattr(test, "_hypothesis_internal_use_settings", None)
        if current is None or getattr(test, "hypothesis", None) is None:
            continue
        from hypothesis import settings

        if current.deadline == settings.default.deadline and current.deadline is not None:
            test._hypothesis_internal_use_settings = settings(current, deadline=None)


def _options(config: pytest.Config) -> dict[str, Any]:
    """The running test's jobsim options: its ``jobsim`` marker, then the command line."""
    item = _current.get("item")
    marker = item.get_closest_marker("jobsim") if item is not None else None
    found = dict(marker.kwargs) if marker is not None else {}
    if found.get("seed") is None and config.getoption("jobsim_seed") is not None:
        found["seed"] = config.getoption("jobsim_seed")
    found.setdefault("broker", config.getoption("jobsim_broker"))
    return {k: v for k, v in found.items() if v is not None}


# ---- fixtures ----------------------------------------------------------------------
@pytest.fixture
def jobsim_seed(request: pytest.FixtureRequest) -> int:
    """The seed of ``jobsim_sim``: the test's ``jobsim(seed=...)`` marker, else
    ``--jobsim-seed``, else 0; or override this fixture."""
    marker = request.node.get_closest_marker("jobsim")
    if marker is not None and marker.kwargs.get("seed") is not None:
        return int(marker.kwargs["seed"])
    seed = request.config.getoption("jobsim_seed")
    return 0 if seed is None else int(seed)


@pytest.fixture
def jobsim_sim(jobsim_seed: int) -> Simulation:
    """A fresh Simulation (simpy clock, seeded RNG streams, empty history)."""
    from jobsim.sim.simulation import Simulation

    return Simulation(jobsim_seed)


@pytest.fixture
def jobsim_broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """An empty broker: memory by default; ``--jobsim-broker fakeredis`` or
    ``@pytest.mark.parametrize("jobsim_broker", ["memory", "fakeredis"], indirect=True)``."""
    from jobsim.broker import make_broker

    marker = request.node.get_closest_marker("jobsim")
    spec = str(getattr(request, "param", None)
               or (marker.kwargs.get("broker") if marker is not None else None)
               or request.config.getoption("jobsim_broker"))
    broker = make_broker(spec)      # a real server: a fresh prefix of this test's own
    yield broker
    close = getattr(broker, "close", None)
    if close is not None:
        close()                        # deletes only that prefix's keys and its lock


@pytest.fixture
def jobsim_world_config() -> dict[str, Any]:
    """The world ``jobsim_world`` builds (world.py's config keys). The world has no
    service or table built in: override this fixture to declare what your jobs use,
    e.g. ``{"services": {"email": {"latency": 0.1}}, "tables": {"receipts": ["id"]}}``."""
    return {}


@pytest.fixture
def jobsim_world(jobsim_sim: Simulation, jobsim_world_config: dict[str, Any]) -> World:
    """The world of ``jobsim_world_config`` (by default only the ``db`` pool)."""
    from jobsim.world.world import World

    return World(jobsim_sim, jobsim_world_config)


@pytest.fixture
def jobsim_system(jobsim_sim: Simulation, jobsim_broker: Broker,
                  jobsim_world: World) -> JobSystem:
    """A JobSystem with one process of 5 threads and basic fetch, not started yet: install
    safeguards or change ``.config`` first, then ``.start()`` and ``jobsim_sim.run(until)``."""
    from jobsim.system.system import JobSystem

    return JobSystem(jobsim_sim, jobsim_broker, world=jobsim_world)


@pytest.fixture(scope="session")
def jobsim_run(pytestconfig: pytest.Config) -> Callable[..., Result]:
    """``run_scenario_and_assert`` with the running test's options (its ``jobsim``
    marker, ``--jobsim-seed``, ``--jobsim-broker``); failing scenarios are saved under
    pytest's cache dir (``.pytest_cache/d/jobsim-failing``) unless --jobsim-failing-dir
    says otherwise, named after the test.

    Session-scoped so that it can be used in ``@given`` tests."""
    folder = pytestconfig.getoption("jobsim_failing_dir")
    if not folder:
        cache = getattr(pytestconfig, "cache", None)
        folder = str(cache.mkdir(CACHE_DIR)) if cache is not None else FAILING_DIR

    def run(scenario: Any, checks: Sequence[str] | None = None, **kw: Any) -> Result:
        __tracebackhide__ = True
        for key, value in _options(pytestconfig).items():
            kw.setdefault(key, value)
        kw.setdefault("failing_dir", folder)
        return run_scenario_and_assert(scenario, checks, **kw)

    return run


# ---- the helper --------------------------------------------------------------------
def run_scenario_and_assert(scenario: Scenario | Mapping[str, Any] | str | Path,
                            checks: Sequence[str] | None = None, *, seed: int | None = None,
                            variant: str | None = None, broker: str = "memory",
                            scale: float = 1.0, expect: bool = False,
                            check_options: Mapping[str, Mapping[str, Any]] | None = None,
                            name: str | None = None,
                            failing_dir: str | Path | None = None,
                            jobs: Sequence[type[Any]] = ()) -> Result:
    """Run a scenario and fail with a readable message if a named check does not hold.

    ``scenario``: a Scenario, a scenario document (dict), a built-in name or a path.
    ``checks``: the properties to assert (default: the scenario's own ``checks``); a
    name the scenario does not list is run on the history too, and so is one given
    ``check_options`` (keyword options of that checker, e.g. ``{"priority": {"alpha":
    1e-6}}``). ``expect``: also assert the scenario's ``expect`` bounds. ``jobs``: the
    test's own Job classes, this run's only additions to the built-in jobs (a class
    defined in another test module is never seen).

    On failure (or if the run raises) a document is saved to ``failing_dir/NAME.yaml``
    and the message ends with the command that replays it: ``jobsim simulate FILE --seed
    N``. Returns the Result when every assertion holds.
    """
    __tracebackhide__ = True
    from jobsim.scenario.runner import run_scenario

    doc = dict(scenario) if isinstance(scenario, Mapping) else None
    if doc is not None and not doc.get("name"):
        doc["name"] = _safe(name or _test_name())      # the run is named after the test
    from jobsim.scenario.errors import ScenarioError

    try:
        loaded = _load(scenario, doc, jobs)
    except ScenarioError as exc:     # bad input: the reason, not the loader's frames
        raise ScenarioCheckFailed(f"jobsim: the scenario does not load: {exc}") from None
    run_seed = loaded.seed if seed is None else seed
    try:
        result = run_scenario(loaded, seed=run_seed, variant=variant, broker=broker,
                              scale=scale)
    except Exception as exc:
        replay = _replay(loaded, doc, run_seed, variant, scale, name, failing_dir, jobs)
        raise ScenarioCheckFailed(
            f"jobsim: the run of {loaded.name!r} raised {type(exc).__name__}: {exc}\n"
            f"{_faults(loaded)}\n  replay: {replay}") from exc
    results = _verdicts(result, checks, check_options or {})
    failed = {n: r for n, r in results.items() if not r.ok}
    missed = [e for e in result.metrics.get("expectations", []) if not e["ok"]] if expect else []
    if failed or missed:
        replay = _replay(loaded, doc, run_seed, variant, scale, name, failing_dir, jobs)
        raise ScenarioCheckFailed(_message(loaded, run_seed, failed, missed, replay))
    return result


def _load(scenario: Any, doc: dict[str, Any] | None,
          jobs: Sequence[type[Any]] = ()) -> Scenario:
    from jobsim.scenario.runner import library_of, load
    from jobsim.scenario.schema import Scenario

    if isinstance(scenario, Scenario):
        return scenario
    if doc is not None:
        import copy

        from jobsim.checks.registry import NAMES
        from jobsim.scenario import build
        from jobsim.scenario.loader import load_document

        return load_document(copy.deepcopy(doc), known_jobs=library_of(list(jobs)),
                             known_faults=build.FAULT_NAMES, known_checks=NAMES,
                             file=str(doc.get("name", "scenario")))
    return load(scenario, jobs=list(jobs))


def _verdicts(result: Result, checks: Sequence[str] | None,
              check_options: Mapping[str, Mapping[str, Any]]) -> dict[str, CheckResult]:
    """The scenario's verdicts, re-running a check that was not run or has options."""
    from jobsim.checks.registry import run_checks

    names = list(result.scenario.checks if checks is None else checks)
    again = [n for n in names if n not in result.checks or n in check_options]
    options: dict[str, dict[str, Any]] = {n: dict(check_options.get(n, {})) for n in again}
    extra = run_checks(result.history, again, options) if again else {}
    return {n: extra[n] if n in extra else result.checks[n] for n in names}


def _message(scenario: Scenario, seed: int, failed: Mapping[str, CheckResult],
             missed: list[dict[str, Any]], replay: str) -> str:
    broken = [*failed, *(["expect"] if missed else [])]
    lines = [f"jobsim: scenario {scenario.name!r} (seed {seed}) broke {', '.join(broken)}"]
    for name, res in failed.items():
        lines.append(f"  {name}: {res.violations} violation(s)")
        lines += [f"    {_short(example)}" for example in res.examples[:MAX_SHOWN]]
    for e in missed:
        lines.append(f"  expect {e['metric']} {e['op']} {e['value']}: actual {e['actual']}")
    lines += [_faults(scenario), f"  replay: {replay}"]
    return "\n".join(lines)


def _faults(scenario: Scenario) -> str:
    """The fault schedule, one fault a line: the part of a failing run to read first."""
    if not scenario.faults:
        return "  faults: none"
    rows = [f"    - {f.type} at {f.start:g}s "
            f"{'to the horizon' if f.duration is None else f'for {f.duration:g}s'}"
            f"{f' on {f.target}' if f.target else ''} {dict(f.params) or ''}".rstrip()
            for f in scenario.faults]
    return "\n".join(["  faults:", *rows])


def _short(value: Any) -> Any:
    """An example made readable: floats to 3 decimals, long lists cut to MAX_SHOWN."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_short(v) for v in value[:MAX_SHOWN]]
        return [*items, "..."] if len(value) > MAX_SHOWN else items
    return value


def _replay(scenario: Scenario, doc: dict[str, Any] | None, seed: int, variant: str | None,
            scale: float, name: str | None, folder: str | Path | None,
            jobs: Sequence[type[Any]] = ()) -> str:
    """Save the document (generated ones) and return the command that replays the run,
    verbatim from a shell in the test's directory: absolute paths, and an ``--import``
    of each file that defines one of the test's own jobs."""
    from jobsim.scenario.loader import anchor_paths

    path = scenario.file
    if doc is not None:
        name = _safe(name or _test_name())
        # a document's relative sidekiq_yml was read from the working directory
        saved = anchor_paths({**doc, "name": name}, Path.cwd())
        path = str(save_document(saved, name, folder).resolve())
    if not path:
        return f"run_scenario(<scenario {scenario.name!r}>, seed={seed}) (no file to replay)"
    parts = ["jobsim simulate", shlex.quote(path), f"--seed {seed}"]
    parts += [f"--import {shlex.quote(ref)}" for ref in _imports(jobs)]
    if variant:
        parts.append(f"--variant {variant}")
    if scale != 1.0:
        parts.append(f"--scale {scale:g}")
    return " ".join(parts)


def _imports(jobs: Sequence[type[Any]]) -> list[str]:
    """Where each of the test's classes can be imported from by ``--import``: the file
    that defines it (a test module is rarely importable by its dotted name elsewhere)."""
    import inspect
    import sys

    refs: list[str] = []
    for cls in jobs:
        module = sys.modules.get(cls.__module__)
        source = inspect.getsourcefile(module) if module is not None else None
        ref = str(Path(source).resolve()) if source else cls.__module__
        if ref not in refs:
            refs.append(ref)
    return refs


def save_document(doc: Mapping[str, Any], name: str,
                  folder: str | Path | None = None) -> Path:
    """Write a scenario document as YAML to ``folder/NAME.yaml`` (default
    reports/failing, or $JOBSIM_FAILING_DIR) and return the path."""
    import yaml

    target = Path(folder or os.environ.get("JOBSIM_FAILING_DIR", FAILING_DIR))
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{_safe(name)}.yaml"
    path.write_text(yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=None),
                    encoding="utf-8")
    return path


def _test_name() -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST", "scenario")
    return current.rsplit(" ", 1)[0]


def _safe(text: str) -> str:
    """A file name from a test id: ``tests/x.py::test_y[a]`` -> ``x__test_y_a``."""
    text = text.split("/")[-1].replace(".py::", "__").replace("::", "__")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "scenario"
