"""ScenarioError and the helpers that word its messages.

Every problem with a scenario file is reported as ONE line,
``FILE:LINE:COL: PATH: REASON``, so a user (or an editor) can jump straight to the
offending field; the CLI prints one line per problem and exits 2. LINE:COL come from the
composed YAML nodes (see ``jobsim.scenario.positions``) and are left out when a value
was validated outside any file. PATH is the field path (``workload[1].rate``); it is
left out, with its colon, for problems with the whole document (missing file, invalid
YAML, empty file, an unknown scenario or variant name).

A file with several problems raises ``ScenarioErrors``: all of them, sorted by line, at
most ``MAX_PROBLEMS`` printed. Code that validates a value raises ``where.error(reason)``
as before; ``jobsim.scenario.problems`` turns those raises into a list while a file
loads, so a new reader gets "report everything at once" for free.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

Part = str | int  # a mapping key or a list index
MAX_PROBLEMS = 20


class ScenarioError(Exception):
    """A scenario file (or a value in it) is invalid: bad input, never a bug."""

    def __init__(
        self,
        file: str,
        path: str,
        reason: str,
        parts: tuple[Part, ...] = (),
        line: int = 0,
        column: int = 0,
    ) -> None:
        super().__init__(file, path, reason)
        self.file = file
        self.path = path
        self.reason = reason
        self.parts = parts  # the path as keys and indexes, so a variant can re-attribute it
        self.line = line  # 1-based; 0 = unknown
        self.column = column

    @property
    def problems(self) -> tuple[ScenarioError, ...]:
        return (self,)

    def at(self, line: int, column: int) -> ScenarioError:
        """The same problem, placed at LINE:COLUMN of its file."""
        return ScenarioError(self.file, self.path, self.reason, self.parts, line, column)

    def location(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.column, self.path)

    def __str__(self) -> str:
        return ": ".join(part for part in (self.location(), self.path, self.reason) if part)


class ScenarioErrors(ScenarioError):
    """Every problem found in one file, sorted by position; ``str`` is one line each."""

    def __init__(self, problems: Iterable[ScenarioError]) -> None:
        ordered = tuple(sorted(_unique(problems), key=ScenarioError.sort_key))
        if not ordered:
            raise ValueError("ScenarioErrors needs at least one problem")
        first = ordered[0]
        super().__init__(first.file, first.path, first.reason, first.parts, first.line,
                         first.column)
        self.all = ordered

    @property
    def problems(self) -> tuple[ScenarioError, ...]:
        return self.all

    def lines(self) -> list[str]:
        shown = [str(problem) for problem in self.all[:MAX_PROBLEMS]]
        hidden = len(self.all) - len(shown)
        if hidden:
            shown.append(f"{self.all[0].file}: {hidden} more problems not shown")
        return shown

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _unique(problems: Iterable[ScenarioError]) -> list[ScenarioError]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for problem in problems:
        for one in problem.problems:
            key = (one.file, one.path, one.reason)
            if key not in seen:
                seen.add(key)
                out.append(one)
    return out


def render_path(parts: tuple[Part, ...]) -> str:
    """('workload', 1, 'rate') -> 'workload[1].rate'."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True, slots=True)
class Where:
    """Where a value sits: the file and the path from the document root."""

    file: str = ""
    parts: tuple[Part, ...] = ()

    @property
    def path(self) -> str:
        return render_path(self.parts)

    def key(self, key: str) -> Where:
        return Where(self.file, (*self.parts, key))

    def index(self, index: int) -> Where:
        return Where(self.file, (*self.parts, index))

    def error(self, reason: str) -> ScenarioError:
        return ScenarioError(self.file, self.path, reason, self.parts)


def as_where(where: Where | str) -> Where:
    """Accept a bare field path (for calls from Python) wherever a Where is expected."""
    return where if isinstance(where, Where) else Where("", (where,) if where else ())


def show(value: Any) -> str:
    """A value as the user wrote it in YAML: 'fast', 5, true, null, a list, a mapping."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} ({value})"


def suggest(name: str, choices: Collection[str]) -> str:
    """' (did you mean 'Y'?)' for the close matches of NAME, or ''."""
    if len(name) > 100:      # difflib is quadratic; nothing that long is a typo of a name
        return ""
    close = difflib.get_close_matches(name, sorted(choices), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def unknown(kind: str, name: str, choices: Collection[str]) -> str:
    """'unknown job 'X' (did you mean 'Y'?); valid jobs: A, B' -- close matches first."""
    ordered = sorted(choices)
    shown = name if len(name) <= 60 else name[:57] + "..."
    listed = ", ".join(ordered) if ordered else "(none)"
    return f"unknown {kind} {shown!r}{suggest(name, ordered)}; valid {kind}s: {listed}"
