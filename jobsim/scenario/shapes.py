"""What the loader reads, recorded while it reads: the source of ``jobsim schema``.

The JSON Schema must not be a hand-kept copy of the loader (it would drift), so it is
taken from the loader itself: while ``recording()`` is open, ``fields.mapping`` notes
each mapping's allowed keys, ``fields.sequence`` each list, and ``fields.optional`` /
``fields.required`` each key with the reader that reads it. Readers carry a JSON Schema
fragment (``fields.described``). Reading a probe document that visits every section
(``json_schema.PROBE``) and the built-in scenarios therefore yields the shape of every
section the loader knows, under the same names and rules.

Paths are patterns: a list index and a user-chosen name (the probe writes ``"*"``)
both become ``"*"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

Pattern = tuple[str, ...]


@dataclass
class Shape:
    """One mapping or list the loader read at a path pattern."""

    kind: str = "object"  # object | array
    closed: bool = False  # the loader refuses keys not in ``keys``
    keys: dict[str, Any] = field(default_factory=dict)  # key -> a reader's fragment or None
    visits: int = 0  # times the loader read a mapping here
    required_in: dict[str, int] = field(default_factory=dict)  # key -> visits requiring it

    @property
    def required(self) -> set[str]:
        """Keys required on every visit (``rate`` is required only of a rate entry)."""
        return {key for key, n in self.required_in.items() if n >= self.visits}


_RECORD: ContextVar[dict[Pattern, Shape] | None] = ContextVar("scenario_shapes", default=None)


@contextmanager
def recording() -> Iterator[dict[Pattern, Shape]]:
    shapes: dict[Pattern, Shape] = {}
    token = _RECORD.set(shapes)
    try:
        yield shapes
    finally:
        _RECORD.reset(token)


def pattern(parts: tuple[str | int, ...]) -> Pattern:
    return tuple("*" if isinstance(part, int) else part for part in parts)


def _shape(parts: tuple[str | int, ...]) -> Shape | None:
    shapes = _RECORD.get()
    if shapes is None:
        return None
    return shapes.setdefault(pattern(parts), Shape())


def saw_mapping(parts: tuple[str | int, ...], allowed: Any) -> None:
    shape = _shape(parts)
    if shape is None:
        return
    shape.visits += 1
    if allowed is not None:
        shape.closed = True
        for key in allowed:
            shape.keys.setdefault(key, None)


def saw_sequence(parts: tuple[str | int, ...]) -> None:
    shape = _shape(parts)
    if shape is not None:
        shape.kind = "array"


def saw_key(parts: tuple[str | int, ...], key: str, reader: Any, required: bool) -> None:
    shape = _shape(parts)
    if shape is None:
        return
    fragment = getattr(reader, "json_schema", None)
    if fragment is not None or key not in shape.keys:
        shape.keys[key] = fragment
    if required:
        shape.required_in[key] = shape.required_in.get(key, 0) + 1
