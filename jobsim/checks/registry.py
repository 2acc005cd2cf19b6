"""Checker names -> check functions, and running a scenario's list of checks.

Modules are imported on first use, so a name whose module is missing fails when it is
run, not when the registry is imported (and importing one checker never pulls in all).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from jobsim.checks.result import CheckResult
from jobsim.history.history import History

Check = Callable[..., CheckResult]

NAMES: tuple[str, ...] = (
    "no_loss", "idempotency", "retry_spread", "priority",
    "dependencies", "lifecycle", "resources", "dead_set",
)


def get(name: str) -> Check:
    """The ``check`` function of ``jobsim.checks.<name>``; ValueError for an unknown name."""
    if name not in NAMES:
        raise ValueError(f"unknown check {name!r}; valid checks: {', '.join(NAMES)}")
    return importlib.import_module(f"jobsim.checks.{name}").check


def _lazy(name: str) -> Check:
    def run(history: History, **options: Any) -> CheckResult:
        return get(name)(history, **options)

    run.__name__ = run.__qualname__ = f"check_{name}"
    run.__doc__ = f"Run jobsim.checks.{name}.check (imported on first call)."
    return run


CHECKS: dict[str, Check] = {name: _lazy(name) for name in NAMES}


def run_checks(history: History, names: list[str] | tuple[str, ...],
               options: dict[str, dict[str, Any]] | None = None) -> dict[str, CheckResult]:
    """Run the named checks in order; ``options[name]`` are keyword options for one check.

    Every name is validated before any check runs, so a typo never costs a long run.
    """
    unknown = [n for n in [*names, *(options or {})] if n not in NAMES]
    if unknown:
        raise ValueError(f"unknown check(s) {', '.join(map(repr, unknown))}; "
                         f"valid checks: {', '.join(NAMES)}")
    options = options or {}
    return {name: get(name)(history, **options.get(name, {})) for name in names}
