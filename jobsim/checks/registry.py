"""Checker names -> check functions, their declared options, and running a list of checks.

One API for every checker: ``check(history, config=None, **options)``. ``config`` is the
run's configuration (the history's ``config`` event; read from the history when None) and
carries everything a run declares (latency bounds, ordering rules, expected effects), so
no caller special-cases a checker. Each module declares ``OPTIONS`` (name -> Option),
validated here before any check runs. A checker that raises gives the verdict
``unknown`` with the error: never a crash of the run, never a pass.

Modules are imported on first use, so importing the registry never pulls in all checkers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from jobsim.checks.options import Option, OptionError, validate
from jobsim.checks.result import CheckResult
from jobsim.history.history import History

Check = Callable[..., CheckResult]

NAMES: tuple[str, ...] = (
    "no_loss", "idempotency", "retry_spread", "priority",
    "dependencies", "lifecycle", "resources", "dead_set",
    "exactly_once", "uniqueness", "due",
)


def _module(name: str) -> Any:
    if name not in NAMES:
        raise OptionError(f"unknown check {name!r}; valid checks: {', '.join(NAMES)}")
    return importlib.import_module(f"jobsim.checks.{name}")


def get(name: str) -> Check:
    """The ``check`` function of ``jobsim.checks.<name>``; OptionError for an unknown name."""
    return _module(name).check


def options_of(name: str) -> Mapping[str, Option]:
    """The options check ``name`` declares (empty when it takes none)."""
    return getattr(_module(name), "OPTIONS", {})


def validate_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` for check ``name``, checked; OptionError names the check and the key."""
    return validate(name, options_of(name), options)


def config_of(history: History) -> dict[str, Any]:
    """The run's configuration: the first ``config`` event's mapping ({} when absent)."""
    for event in history.events:
        if event[1] == "config":
            return event[3] or {}
    return {}


def run_check(name: str, history: History, config: Mapping[str, Any] | None = None,
              options: Mapping[str, Any] | None = None) -> CheckResult:
    """One verdict. Options are validated (OptionError); a raising checker is ``unknown``."""
    check = get(name)
    opts = validate_options(name, options or {})
    cfg = config_of(history) if config is None else config
    try:
        return check(history, cfg, **opts)
    except Exception as exc:  # a broken checker must not pass, nor crash the run
        return CheckResult(name, False, 0, [], {}, error=f"{type(exc).__name__}: {exc}")


class CheckStream(Protocol):
    """A check fed the history in consecutive pieces while the run records it: a
    checker module that can judge that way defines ``stream(config, **options)``
    returning one, and its ``check`` feeds the whole history to the same code."""

    def feed(self, events: Sequence[tuple[Any, ...]], start: int) -> None:
        """The events from index ``start`` on, right after the last piece fed."""

    def finish(self) -> CheckResult:
        """The verdict once every event was fed."""


class _Guarded:
    """A stream whose checker raised is ``unknown`` with the error, as ``run_check``
    would have made it: the pieces after the error are not fed."""

    def __init__(self, name: str, make: Callable[..., CheckStream],
                 config: Mapping[str, Any], options: Mapping[str, Any]) -> None:
        self.name = name
        self.failed: CheckResult | None = None
        self.inner: CheckStream | None = None
        try:
            self.inner = make(config, **options)
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self.failed = CheckResult(self.name, False, 0, [], {},
                                  error=f"{type(exc).__name__}: {exc}")

    def feed(self, events: Sequence[tuple[Any, ...]], start: int) -> None:
        if self.failed is None and self.inner is not None:
            try:
                self.inner.feed(events, start)
            except Exception as exc:
                self._fail(exc)

    def finish(self) -> CheckResult:
        if self.failed is None and self.inner is not None:
            try:
                return self.inner.finish()
            except Exception as exc:
                self._fail(exc)
        assert self.failed is not None
        return self.failed


def streams(name: str) -> bool:
    """Whether check ``name`` can judge a history fed in pieces (``CheckStream``)."""
    return hasattr(_module(name), "stream")


def stream(name: str, config: Mapping[str, Any],
           options: Mapping[str, Any] | None = None) -> CheckStream:
    """Check ``name`` as a stream (``streams(name)`` must hold): options validated
    (OptionError); a raising checker ends ``unknown``, as in ``run_check``."""
    opts = validate_options(name, options or {})
    return _Guarded(name, _module(name).stream, config, opts)


CHECKS: dict[str, Check] = {}


def _lazy(name: str) -> Check:
    def run(history: History, config: Mapping[str, Any] | None = None,
            **options: Any) -> CheckResult:
        return run_check(name, history, config, options)

    run.__name__ = run.__qualname__ = f"check_{name}"
    run.__doc__ = f"Run jobsim.checks.{name}.check (imported on first call)."
    return run


CHECKS.update({name: _lazy(name) for name in NAMES})


def run_checks(history: History, names: list[str] | tuple[str, ...],
               options: Mapping[str, Mapping[str, Any]] | None = None,
               config: Mapping[str, Any] | None = None) -> dict[str, CheckResult]:
    """Run the named checks in order; ``options[name]`` are keyword options for one check.

    Every name and option is validated before any check runs, so a typo never costs a
    long run.
    """
    options = options or {}
    unknown = [n for n in [*names, *options] if n not in NAMES]
    if unknown:
        raise OptionError(f"unknown check(s) {', '.join(map(repr, unknown))}; "
                          f"valid checks: {', '.join(NAMES)}")
    for name, opts in options.items():
        validate_options(name, opts)
    cfg = config_of(history) if config is None else config
    return {name: run_check(name, history, cfg, options.get(name)) for name in names}
