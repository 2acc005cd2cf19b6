"""Checker options: each checker declares the keyword options it takes, with their kinds.

Why: a typo (``alpah``) or a wrong type (``window_s: fast``) must be refused before a run,
naming the check and the option, not silently ignored or raised as a TypeError half way
through judging. The registry validates a scenario's ``checks:`` entries and ``jobsim
check --check NAME:KEY=VALUE`` with ``validate`` at load.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class OptionError(ValueError):
    """An option a checker does not take, or a value of the wrong kind: bad input."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# kind -> (test, how the kind is named in messages)
KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "number": (_number, "a number"),
    "positive": (lambda v: _number(v) and v > 0, "a positive number"),
    "seconds": (lambda v: _number(v) and v >= 0, "a number of seconds >= 0"),
    "fraction": (lambda v: _number(v) and 0 < v < 1, "a number between 0 and 1 (exclusive)"),
    "count": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
              "a whole number >= 0"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "bounds": (lambda v: isinstance(v, Mapping) and all(
        isinstance(k, str) and _number(b) and b >= 0 for k, b in v.items()),
        "a mapping of queue name to seconds >= 0"),
}


@dataclass(frozen=True)
class Option:
    """One keyword option of a checker: its kind (a KINDS key) and why it exists."""

    kind: str
    help: str


def validate(check: str, declared: Mapping[str, Option],
             given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` checked against ``declared``; OptionError names the check and the option."""
    out: dict[str, Any] = {}
    for key, value in given.items():
        option = declared.get(key)
        if option is None:
            close = difflib.get_close_matches(str(key), sorted(declared), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            valid = ", ".join(sorted(declared)) or "(none)"
            raise OptionError(f"check {check!r} has no option {key!r}{hint}; "
                              f"valid options: {valid}")
        test, named = KINDS[option.kind]
        if not test(value):
            raise OptionError(f"check {check!r} option {key!r} must be {named}, got {value!r}")
        out[key] = value
    return out


def parse_value(text: str) -> Any:
    """A command-line option value: true/false, a number, else the text itself."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
