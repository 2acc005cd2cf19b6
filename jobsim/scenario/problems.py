"""Collecting every problem of a file instead of stopping at the first.

Readers raise ``where.error(...)`` as plain Python code would. While a file loads, the
loader opens ``collecting()``; then the boundaries in ``fields`` (an optional key, a
required key, a list item, an unknown key) record the error with ``report`` and carry
on with a default, so one pass finds all of a file's problems. Outside ``collecting()``
nothing changes: the first error is raised, which keeps Python callers simple.

A required value that could not be read has no sensible default: ``report`` records it
and ``Abandon`` unwinds to the nearest boundary (the list item or the document), which
drops that piece and goes on with the next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from jobsim.scenario.errors import ScenarioError

T = TypeVar("T")
_SINK: ContextVar[list[ScenarioError] | None] = ContextVar("scenario_problems", default=None)


class Abandon(Exception):
    """The piece being read had an error that is already recorded: skip the piece."""


@contextmanager
def collecting() -> Iterator[list[ScenarioError]]:
    """Record problems into the yielded list instead of raising the first one."""
    found: list[ScenarioError] = []
    token = _SINK.set(found)
    try:
        yield found
    finally:
        _SINK.reset(token)


def active() -> bool:
    return _SINK.get() is not None


def report(error: ScenarioError) -> None:
    """Record ERROR if collecting, else raise it."""
    sink = _SINK.get()
    if sink is None:
        raise error
    sink.extend(error.problems)


def fail(error: ScenarioError) -> Abandon:
    """Record ERROR and return the signal that abandons the current piece (to raise)."""
    report(error)
    return Abandon()


def attempt(read: Callable[[], T], fallback: Any) -> Any:
    """READ(), or FALLBACK after recording its error (collecting) -- the boundary."""
    try:
        return read()
    except ScenarioError as error:
        report(error)
    except Abandon:
        pass
    return fallback
