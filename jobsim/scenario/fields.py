"""Strict readers for YAML values: each checks one type and names the exact path on error.

A reader is ``(value, where) -> parsed``. ``null`` always means "not set": ``optional``
returns the default for it, which is also how a variant removes a key it inherited.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from jobsim.scenario.durations import parse_duration, parse_rate
from jobsim.scenario.errors import Where, show, unknown

T = TypeVar("T")
Reader = Callable[[Any, Where], T]

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")


def mapping(value: Any, where: Where, allowed: Collection[str] | None = None) -> dict[str, Any]:
    """A mapping with string keys; with ``allowed``, every key must be one of them."""
    if not isinstance(value, dict):
        raise where.error(f"expected a mapping, got {show(value)}")
    for key in value:
        if not isinstance(key, str):
            raise where.error(f"keys must be strings, got {show(key)}")
        if allowed is not None and key not in allowed:
            raise where.key(key).error(unknown("key", key, allowed))
    return value


def sequence(value: Any, where: Where, *, nonempty: bool = False) -> list[Any]:
    if not isinstance(value, list):
        raise where.error(f"expected a list, got {show(value)}")
    if nonempty and not value:
        raise where.error("must not be empty")
    return value


def required(data: dict[str, Any], key: str, where: Where, reader: Reader[T]) -> T:
    if key not in data:
        raise where.error(f"missing required key {key!r}")
    return reader(data[key], where.key(key))


def optional(data: dict[str, Any], key: str, where: Where, reader: Reader[T], default: Any) -> Any:
    value = data.get(key)
    return default if value is None else reader(value, where.key(key))


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

    return read


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

    return read


def string(value: Any, where: Where) -> str:
    if not isinstance(value, str):
        raise where.error(f"expected a string, got {show(value)}")
    if not value.strip():
        raise where.error("must not be empty")
    return value


def name(value: Any, where: Where) -> str:
    """An identifier-like name (queues, services, variants): no spaces, no slashes."""
    text = string(value, where)
    if not NAME.fullmatch(text):
        raise where.error(
            f"expected a name of letters, digits, '_', '.', ':' or '-', got {show(text)}"
        )
    return text


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

    return read


def member(kind: str, known: Collection[str]) -> Reader[str]:
    """A name from a registry (jobs, faults, checks), with close matches on a miss."""

    def read(value: Any, where: Where) -> str:
        text = string(value, where)
        if text not in known:
            raise where.error(unknown(kind, text, known))
        return text

    return read


def duration(*, positive: bool = False) -> Reader[float]:
    def read(value: Any, where: Where) -> float:
        seconds = parse_duration(value, where)
        if positive and seconds == 0:
            raise where.error(f"must be positive, got {show(value)}")
        return seconds

    return read


def rate(value: Any, where: Where) -> float:
    return parse_rate(value, where)


def unique_list(item: Reader[str], what: str) -> Reader[tuple[str, ...]]:
    """A list of distinct names, each read by ``item``."""

    def read(value: Any, where: Where) -> tuple[str, ...]:
        seen: list[str] = []
        for index, raw in enumerate(sequence(value, where)):
            text = item(raw, where.index(index))
            if text in seen:
                raise where.index(index).error(f"duplicate {what} {text!r}")
            seen.append(text)
        return tuple(seen)

    return read


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
