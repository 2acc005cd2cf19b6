"""ScenarioError and the helpers that word its messages.

Every problem with a scenario file is reported as ONE line, ``FILE: PATH: REASON``, so a
user can jump straight to the offending field; the CLI prints ``str(err)`` and exits 2.
PATH is the field path (``workload[1].rate``); it is left out, together with its colon,
for problems with the whole document (missing file, invalid YAML, empty file, a missing
top-level key, an unknown scenario or variant name). FILE is left out likewise when a
value was validated outside any file (e.g. ``parse_duration("x")`` from Python).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

Part = str | int  # a mapping key or a list index


class ScenarioError(Exception):
    """A scenario file (or a value in it) is invalid: bad input, never a bug."""

    def __init__(self, file: str, path: str, reason: str, parts: tuple[Part, ...] = ()) -> None:
        super().__init__(file, path, reason)
        self.file = file
        self.path = path
        self.reason = reason
        self.parts = parts  # the path as keys and indexes, so a variant can re-attribute it

    def __str__(self) -> str:
        return ": ".join(part for part in (self.file, self.path, self.reason) if part)


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
    if isinstance(value, str | int | float):
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} ({value})"


def unknown(kind: str, name: str, choices: Collection[str]) -> str:
    """'unknown job 'X' (did you mean 'Y'?); valid jobs: A, B' -- close matches first."""
    ordered = sorted(choices)
    close = difflib.get_close_matches(name, ordered, n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    listed = ", ".join(ordered) if ordered else "(none)"
    return f"unknown {kind} {name!r}{hint}; valid {kind}s: {listed}"
