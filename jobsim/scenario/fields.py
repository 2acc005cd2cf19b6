"""Strict readers for YAML values: each checks one type and names the exact path on error.

A reader is ``(value, where) -> parsed``. ``null`` always means "not set": ``optional``
returns the default for it, which is also how a variant removes a key it inherited.
``optional``, ``required``, ``items`` and ``mapping`` are the boundaries where, while a
file loads, a problem is recorded and reading goes on (see ``problems``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from jobsim.scenario import shapes
from jobsim.scenario.durations import DURATION_PATTERN, RATE_PATTERN, parse_duration, parse_rate
from jobsim.scenario.errors import ScenarioError, Where, show, unknown
from jobsim.scenario.problems import attempt, fail, report

T = TypeVar("T")
Reader = Callable[[Any, Where], T]
R = TypeVar("R")


def described(fragment: dict[str, Any]) -> Callable[[R], R]:
    """Attach the JSON Schema FRAGMENT a reader accepts (read by ``jobsim schema``)."""

    def attach(reader: R) -> R:
        reader.json_schema = fragment  # type: ignore[attr-defined]
        return reader

    return attach

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
MAX_NAME = 1024  # characters in a name (queues, services, variants, ...)
MAX_STRING = 65536  # characters in any other string (descriptions, args)


def mapping(value: Any, where: Where, allowed: Collection[str] | None = None) -> dict[str, Any]:
    """A mapping with string keys; with ``allowed``, every key must be one of them."""
    if not isinstance(value, dict):
        raise where.error(f"expected a mapping, got {show(value)}")
    shapes.saw_mapping(where.parts, allowed)
    bad = [key for key in value if not isinstance(key, str)]
    for key in bad:  # the path names the mapping; the position, the key itself
        error = where.error(f"keys must be strings, got {show(key)}")
        error.parts = (*where.parts, str(key))
        report(error)
    strange = [k for k in value if allowed is not None and isinstance(k, str) and k not in allowed]
    for key in strange:
        report(where.key(key).error(unknown("key", key, allowed or ())))
    if bad or strange:  # only reached while collecting: go on with the keys we know
        return {k: v for k, v in value.items() if k not in bad and k not in strange}
    return value


def sequence(value: Any, where: Where, *, nonempty: bool = False) -> list[Any]:
    if not isinstance(value, list):
        raise where.error(f"expected a list, got {show(value)}")
    shapes.saw_sequence(where.parts)
    if nonempty and not value:
        raise where.error("must not be empty")
    return value


def items(value: Any, where: Where, item: Reader[T], *, nonempty: bool = False) -> tuple[T, ...]:
    """A list read item by item; while collecting, a bad item is recorded and dropped."""
    out = []
    for index, raw in enumerate(sequence(value, where, nonempty=nonempty)):
        skipped = object()
        got = attempt(lambda raw=raw, index=index: item(raw, where.index(index)), skipped)
        if got is not skipped:
            out.append(got)
    return tuple(out)


def required(data: dict[str, Any], key: str, where: Where, reader: Reader[T]) -> T:
    """DATA[KEY] read by READER; a missing or bad value abandons the enclosing piece."""
    shapes.saw_key(where.parts, key, reader, required=True)
    if key not in data:
        raise fail(where.error(f"missing required key {key!r}"))
    try:
        return reader(data[key], where.key(key))
    except ScenarioError as error:
        raise fail(error) from None


def optional(data: dict[str, Any], key: str, where: Where, reader: Reader[T], default: Any) -> Any:
    """DATA[KEY] read by READER, DEFAULT when absent or null (or, collecting, when bad)."""
    shapes.saw_key(where.parts, key, reader, required=False)
    value = data.get(key)
    if value is None:
        return default
    return attempt(lambda: reader(value, where.key(key)), default)


def present(data: dict[str, Any], keys: Collection[str]) -> list[str]:
    """The keys of ``keys`` set (not null) in ``data``, in document order."""
    return [key for key, value in data.items() if key in keys and value is not None]


def integer(minimum: int | None = None) -> Reader[int]:
    def read(value: Any, where: Where) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise where.error(f"expected an integer, got {show(value)}")
        if minimum is not None and value < minimum:
            rule = "must not be negative" if minimum == 0 else f"must be at least {minimum}"
            raise where.error(f"{rule}, got {value}")
        return value

    fragment: dict[str, Any] = {"type": "integer"}
    if minimum is not None:
        fragment["minimum"] = minimum
    return described(fragment)(read)


def number(
    minimum: float | None = None, maximum: float | None = None, below: float | None = None
) -> Reader[float]:
    """A finite int or float (never a boolean) in [minimum, maximum] or [minimum, below)."""

    def read(value: Any, where: Where) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise where.error(f"expected a number, got {show(value)}")
        if not math.isfinite(value):
            raise where.error(f"expected a finite number, got {show(value)}")
        if minimum is not None and value < minimum:
            raise where.error(f"must be at least {minimum:g}, got {value:g}")
        if maximum is not None and value > maximum:
            raise where.error(f"must be at most {maximum:g}, got {value:g}")
        if below is not None and value >= below:
            raise where.error(f"must be less than {below:g}, got {value:g}")
        return float(value)

    bounds = {"minimum": minimum, "maximum": maximum, "exclusiveMaximum": below}
    return described({"type": "number", **{k: v for k, v in bounds.items() if v is not None}}
                     )(read)


@described({"type": "string", "minLength": 1, "maxLength": MAX_STRING})
def string(value: Any, where: Where) -> str:
    if not isinstance(value, str):
        raise where.error(f"expected a string, got {show(value)}")
    if not value.strip():
        raise where.error("must not be empty")
    if len(value) > MAX_STRING:
        raise where.error(f"a string of {len(value)} characters; at most {MAX_STRING} allowed")
    return value


@described({"type": "string", "pattern": f"^{NAME.pattern}$", "maxLength": MAX_NAME})
def name(value: Any, where: Where) -> str:
    """An identifier-like name (queues, services, variants): no spaces, no slashes."""
    return key_name(string(value, where), where)


def key_name(text: str, where: Where) -> str:
    """``name``'s rule for a mapping key (a service or pool declared by its key): the key
    is checked without recording a string shape at WHERE, which holds the entry."""
    if len(text) > MAX_NAME:
        raise where.error(f"a name of {len(text)} characters; at most {MAX_NAME} allowed")
    if not NAME.fullmatch(text):
        raise where.error(
            f"expected a name of letters, digits, '_', '.', ':' or '-', got {show(text)}"
        )
    return text


@described({"type": "boolean"})
def boolean(value: Any, where: Where) -> bool:
    if not isinstance(value, bool):
        raise where.error(f"expected true or false, got {show(value)}")
    return value


def choice(options: Collection[str]) -> Reader[str]:
    def read(value: Any, where: Where) -> str:
        if value not in options or not isinstance(value, str):
            listed = ", ".join(repr(option) for option in options)
            raise where.error(f"expected one of {listed}, got {show(value)}")
        return value

    return described({"enum": list(options)})(read)


def member(kind: str, known: Collection[str]) -> Reader[str]:
    """A name from a registry (jobs, faults, checks), with close matches on a miss."""

    def read(value: Any, where: Where) -> str:
        text = string(value, where)
        if text not in known:
            raise where.error(unknown(kind, text, known))
        return text

    return described({"type": "string", "description": f"a {kind} name"})(read)


def duration(*, positive: bool = False) -> Reader[float]:
    def read(value: Any, where: Where) -> float:
        seconds = parse_duration(value, where)
        if positive and seconds == 0:
            raise where.error(f"must be positive, got {show(value)}")
        return seconds

    return described(DURATION_SCHEMA)(read)


DURATION_SCHEMA: dict[str, Any] = {
    "description": "seconds, or a duration like '500ms', '30s', '10m', '1h30m', '7d'",
    "oneOf": [{"type": "number", "minimum": 0},
              {"type": "string", "pattern": f"^{DURATION_PATTERN}$"}],
}


@described({"type": "string", "pattern": f"^{RATE_PATTERN}$",
            "description": "events per unit: '5/s', '300/m', '100/h', '2/d'"})
def rate(value: Any, where: Where) -> float:
    return parse_rate(value, where)


def unique_list(item: Reader[str], what: str) -> Reader[tuple[str, ...]]:
    """A list of distinct names, each read by ``item``."""

    def read(value: Any, where: Where) -> tuple[str, ...]:
        seen: list[str] = []
        for index, raw in enumerate(sequence(value, where)):
            text = attempt(lambda raw=raw, index=index: item(raw, where.index(index)), None)
            if text in seen:
                report(where.index(index).error(f"duplicate {what} {text!r}"))
            elif text is not None:
                seen.append(text)
        return tuple(seen)

    fragment = getattr(item, "json_schema", {})
    return described({"type": "array", "items": fragment, "uniqueItems": True})(read)


def json_value(value: Any, where: Where, _active: tuple[int, ...] = ()) -> Any:
    """A JSON-native value (null, boolean, number, string, list, string-keyed mapping).

    Job arguments and fault parameters travel through histories and reports as JSON, so
    YAML-only types (dates, binary, recursive aliases) are refused here, at the source.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise where.error(f"expected a finite number, got {show(value)}")
        return value
    if id(value) in _active:
        raise where.error("recursive YAML aliases are not allowed")
    active = (*_active, id(value))
    if isinstance(value, list):
        return [json_value(v, where.index(i), active) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: json_value(v, where.key(k), active) for k, v in mapping(value, where).items()}
    raise where.error(
        f"expected a JSON value (null, boolean, number, string, list or mapping), got {show(value)}"
    )
