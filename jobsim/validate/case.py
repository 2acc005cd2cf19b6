"""A validation case: independent replications to run, and a judge that turns their
results into table rows.

Replications are separate ``Task`` objects (a top-level function and plain arguments) so
the executor can spread them over processes; the judge sees their results in task order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from jobsim.validate.rows import Row


@dataclass(frozen=True)
class Task:
    """One replication: ``fn(*args)`` must be picklable and return plain data."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    cost: float = 1.0           # rough relative wall time, to start long tasks first

    def __call__(self) -> Any:
        return self.fn(*self.args)


class Case(Protocol):
    name: str

    def sizes(self) -> str:
        """One sentence: replications and jobs of a full run, for the document."""
        ...

    def tasks(self, quick: bool, seed_set: int = 0) -> list[Task]:
        """The replications to run (fewer and smaller when ``quick``), numbered by
        ``runs.replications`` so that another ``seed_set`` gives independent ones."""
        ...

    def judge(self, results: list[Any]) -> list[Row]:
        """Table rows from the tasks' results, in task order."""
        ...


@dataclass
class Outcome:
    """A judged case: its rows, or why it could not run."""

    name: str
    rows: list[Row] = field(default_factory=list)
    note: str = ""
    sizes: str = ""
