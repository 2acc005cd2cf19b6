"""Plug-ins: an application's jobs, services, tables, settings and metrics, in one object.

A scenario loads one with ``plugins: [module.path]``; the module exposes ``PLUGIN``, a
``Plugin``. It reaches the harness only through these extension points:

* ``jobs``: added to the run's job library (``system/library.py``).
* ``services`` and ``tables``: world declarations (world-config spelling, see world.py)
  the scenario's ``world:`` section overrides key by key.
* ``world_keys``: extra sections of the scenario's ``world:`` the plug-in owns, each
  with a reader ``(value, path) -> settings`` that raises ValueError with a reason.
* ``setup`` (the safeguard hook): called once the world is built with the world, the
  scenario's safeguards and the plug-in's world sections; what it returns is kept in
  ``world.plugins[name]``, where the plug-in's jobs read their knobs. It may adjust the
  plug-in's own tables (a unique constraint a safeguard switches on).
* ``metrics`` (the metrics hook): ``history -> {section: value}``; the sections appear at
  the top level of metrics.json (and ``highlights`` rows join the run's highlights).
  A hook reads the history only, like every metric. ``metrics_schema`` gives the shape
  of its sections (in ``report/metric_schema.py``'s form) so ``expect`` paths into them
  are checked when the scenario loads.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jobsim.system.job import Job

if TYPE_CHECKING:
    from jobsim.history.history import History
    from jobsim.world.world import World

Safeguards = Mapping[str, Mapping[str, Any]]
SetupHook = Callable[["World", Safeguards, Mapping[str, Any]], Any]
MetricsHook = Callable[["History"], Mapping[str, Any]]
WorldKeyReader = Callable[[Any, str], Any]


class PluginError(LookupError):
    """A plug-in that cannot be imported or is not a Plugin."""


@dataclass(frozen=True)
class Plugin:
    name: str
    jobs: tuple[type[Job], ...] = ()
    services: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    tables: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # -> unique columns
    world_keys: Mapping[str, WorldKeyReader] = field(default_factory=dict)
    setup: SetupHook | None = None
    metrics: MetricsHook | None = None
    metrics_schema: Mapping[str, Any] = field(default_factory=dict)  # its sections' shape
    doc: str = ""


def load_plugin(module_name: str) -> Plugin:
    """The ``PLUGIN`` of ``module_name``; PluginError with the reason otherwise."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"cannot import plug-in {module_name!r}: {exc}") from None
    plugin = getattr(module, "PLUGIN", None)
    if not isinstance(plugin, Plugin):
        raise PluginError(f"module {module_name!r} has no PLUGIN (a jobsim Plugin)")
    return plugin
