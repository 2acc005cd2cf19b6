"""A scenario's job library: built-in test jobs, plug-ins, and its own ``jobs:`` section.

Where a run's job classes come from, in order:

1. the built-in generic jobs (SyntheticJob, NoopJob, PoisonJob: ``world/synthetic.py``);
2. what the caller passed: ``jobsim simulate --import MODULE``, or ``jobs=[...]`` in
   the pytest plugin and ``run_scenario``;
3. ``plugins: [module.path]``: each plug-in's jobs (``world/plugin.py``);
4. ``jobs: {Name: "module:Class"}``: one class each, also known by ``Name``; a mapping
   value declares a job from steps instead (``declared.py``).

Nothing here is global: each scenario (and each variant) gets its own library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jobsim.scenario import declared
from jobsim.scenario import fields as f
from jobsim.scenario.errors import Where, show
from jobsim.scenario.problems import attempt
from jobsim.system.job import Job, UnknownJob
from jobsim.system.library import ImportFailed, JobLibrary, import_reference
from jobsim.world.plugin import Plugin, PluginError, load_plugin
from jobsim.world.synthetic import BUILTIN_JOBS


def base_library(jobs: Iterable[type[Job]] = ()) -> JobLibrary:
    """The built-in generic jobs plus ``jobs``."""
    return JobLibrary([*BUILTIN_JOBS, *jobs])


def import_library(modules: Iterable[str], library: JobLibrary | None = None) -> JobLibrary:
    """``--import`` on the command line: every Job class each module defines.
    Raises ImportFailed naming the module."""
    library = library if library is not None else base_library()
    for ref in modules:
        module, cls = import_reference(ref)
        if cls is not None:
            library.add(cls)
        elif not library.add_module(module):
            raise ImportFailed(f"--import {ref}: module {module.__name__!r} defines no Job class")
    return library


def read_plugins(value: Any, where: Where) -> tuple[Plugin, ...]:
    """``plugins: [jobsim.shop, myapp.jobsim_plugin]``: modules exposing ``PLUGIN``."""
    plugins = []
    for index, item in enumerate(f.sequence(value, where)):
        at = where.index(index)
        try:
            plugin = load_plugin(f.name(item, at))
        except PluginError as exc:
            raise at.error(str(exc)) from None
        if any(p.name == plugin.name for p in plugins):
            raise at.error(f"plug-in {plugin.name!r} is listed twice")
        plugins.append(plugin)
    return tuple(plugins)


@dataclass(frozen=True)
class JobsContext:
    """What a declared job may refer to, for the step builder's checks."""

    library: JobLibrary
    services: tuple[str, ...]
    tables: Mapping[str, tuple[str, ...]]
    pools: tuple[str, ...]
    queues: tuple[str, ...]
    safeguards: Mapping[str, Mapping[str, Any]]
    route: str | None
    names_only: set[str] | None = None    # a caller's bare job names (format unit tests)

    def names(self, section: Mapping[str, Any]) -> declared.Names:
        jobs = set(self.library) if self.names_only is None else set(self.names_only)
        return declared.Names(
            services=sorted(self.services), tables=self.tables, pools=sorted(self.pools),
            jobs=frozenset(jobs | set(section)),
            declared=frozenset(n for n, v in section.items() if isinstance(v, dict)),
            queues=self.queues,
            scoped=bool((self.safeguards.get("resources") or {}).get("scoped", False)),
            any_queue=self.route is not None)


def read_jobs(value: Any, where: Where, ctx: JobsContext) -> dict[str, type[Job]]:
    """``jobs:``: Name -> "module:Class" (or "path/file.py:Class"), or Name -> steps
    (``declared.py`` builds the class). Adds each class to ``ctx.library`` under Name;
    returns Name -> class. Each entry's problems are recorded and the next one read."""
    data = f.mapping(value, where)
    names = ctx.names(data)
    found: dict[str, type[Job]] = {}
    for name, spec in data.items():
        cls = attempt(lambda n=name, s=spec: _job(n, s, where.key(n), names, ctx), None)
        if cls is not None:
            found[name] = cls
    return found


def _job(name: str, spec: Any, at: Where, names: declared.Names, ctx: JobsContext
         ) -> type[Job]:
    if not name.isidentifier():
        error = at.error(f"a job name must be a class name like 'SendReceipt', got {show(name)}")
        if isinstance(spec, dict):      # read it anyway: all its problems are reported at once
            attempt(lambda: declared.declare(name, spec, at, names), None)
        raise error
    if isinstance(spec, dict):
        cls: type[Job] = declared.declare(name, spec, at, names)
    elif isinstance(spec, str):
        cls = _imported(f.string(spec, at), at)
    else:
        raise at.error(f"expected a mapping declaring the job (queue, retry, perform, ...) "
                       f"or a \"module:Class\" string, got {show(spec)}")
    try:
        ctx.library.add(cls, alias=name)
    except UnknownJob as exc:
        raise at.error(str(exc)) from None
    return cls


def declared_only(jobs: Mapping[str, type[Job]]) -> dict[str, type[declared.DeclaredJob]]:
    """The jobs of a ``jobs:`` section that were declared from steps."""
    return {n: c for n, c in jobs.items() if issubclass(c, declared.DeclaredJob)}


def _imported(ref: str, where: Where) -> type[Job]:
    if ":" not in ref.replace(":\\", "").replace(":/", ""):
        raise where.error(f"expected \"module:Class\", e.g. \"myapp.jobs:SendReceipt\", "
                          f"got {show(ref)}")
    try:
        _, cls = import_reference(ref)
    except ImportFailed as exc:
        raise where.error(str(exc)) from None
    assert cls is not None
    return cls
