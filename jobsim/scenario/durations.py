"""Durations ("500ms", "1h30m") and rates ("5/s") as scenario files write them.

Units are mandatory in strings so that "rate: 5" or "spread: 10" cannot be misread as
per-minute or minutes; a plain YAML number is accepted for durations only, in seconds.
"""

from __future__ import annotations

import math
import re

from jobsim.scenario.errors import ScenarioError, Where, as_where, show

DURATION_UNITS: dict[str, float] = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
RATE_UNITS: dict[str, float] = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}

_NUMBER = r"\d+(?:\.\d+)?"
DURATION_PATTERN = rf"(?:{_NUMBER}(?:ms|s|m|h|d))+"
RATE_PATTERN = rf"{_NUMBER}/(s|min|m|h|d)"
_DURATION = re.compile(DURATION_PATTERN)
_DURATION_PART = re.compile(rf"({_NUMBER})(ms|s|m|h|d)")
_RATE = re.compile(rf"({_NUMBER})/(s|min|m|h|d)")  # RATE_PATTERN, with groups

DURATION_HINT = "expected a duration like '30s', '10m' or '1h30m'"
RATE_HINT = "expected '<number>/s'"
# Unit spellings people write, mapped to the one this format reads (for did-you-mean).
UNIT_SPELLINGS: dict[str, str] = {
    **{word: "ms" for word in ("ms", "msec", "msecs", "millis", "millisecond", "milliseconds")},
    **{word: "s" for word in ("s", "sec", "secs", "second", "seconds")},
    **{word: "m" for word in ("m", "min", "mins", "minute", "minutes")},
    **{word: "h" for word in ("h", "hr", "hrs", "hour", "hours")},
    **{word: "d" for word in ("d", "day", "days")},
}
_SPELLED_PART = re.compile(rf"\s*({_NUMBER})\s*([A-Za-z]+)")


def _respelled(text: str) -> str | None:
    """'5min' -> '5m', '1 hour 30 mins' -> '1h30m'; None when some part is unknown."""
    out, at = "", 0
    for match in _SPELLED_PART.finditer(text):
        unit = UNIT_SPELLINGS.get(match.group(2).lower())
        if match.start() != at or unit is None:
            return None
        out += match.group(1) + unit
        at = match.end()
    return out if out and at == len(text.rstrip()) and out != text else None


def _hint(base: str, value: object, candidate: str | None) -> str:
    mean = f" (did you mean {candidate!r}?)" if candidate else ""
    return f"{base}, got {show(value)}{mean}"


def parse_duration(value: object, where: Where | str = "") -> float:
    """A duration in seconds (>= 0): a number of seconds, or "500ms", "10s", "1.5h", "1h30m".

    In a combination the units must go from largest to smallest, each at most once.
    """
    at = as_where(where)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise at.error(f"{DURATION_HINT}, got {show(value)}")
        if value < 0:
            raise at.error(f"must not be negative, got {show(value)}")
        return float(value)
    if not isinstance(value, str):
        raise at.error(f"{DURATION_HINT}, got {show(value)}")
    if value.startswith("-") and _DURATION.fullmatch(value[1:]):
        raise at.error(f"must not be negative, got {show(value)}")
    if not _DURATION.fullmatch(value):
        raise at.error(_hint(DURATION_HINT, value, _respelled(value[:100])))
    return _sum_parts(value, at)


def _sum_parts(text: str, at: Where) -> float:
    order = list(DURATION_UNITS)
    total, last = 0.0, -1
    for number, unit in _DURATION_PART.findall(text):
        rank = order.index(unit)
        if rank <= last:
            raise at.error(f"{DURATION_HINT} (largest unit first, each once), got {show(text)}")
        last = rank
        total += float(number) * DURATION_UNITS[unit]
    return total


def parse_rate(value: object, where: Where | str = "") -> float:
    """A positive arrival rate in events per second: "5/s", "300/m" (or "/min"), "100/h"."""
    at = as_where(where)
    match = _RATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        if isinstance(value, str) and value.startswith("-") and _RATE.fullmatch(value[1:]):
            raise at.error(f"must be positive, got {show(value)}")
        raise at.error(_hint(RATE_HINT, value, _rate_respelled(value)))
    per_second = float(match.group(1)) / RATE_UNITS[match.group(2)]
    if per_second <= 0:
        raise at.error(f"must be positive, got {show(value)}")
    return per_second


def _rate_respelled(value: object) -> str | None:
    """'5/sec' -> '5/s', '300 per minute' -> '300/m'."""
    if not isinstance(value, str):
        return None
    number, _, unit = value[:100].replace(" per ", "/").partition("/")
    spelled = UNIT_SPELLINGS.get(unit.strip().lower())
    if not spelled or spelled == "ms" or not re.fullmatch(_NUMBER, number.strip()):
        return None
    candidate = f"{number.strip()}/{spelled}"
    return candidate if candidate != value else None


def format_duration(seconds: float) -> str:
    """The compact form parse_duration reads back: 5400 -> "1h30m", 0.25 -> "250ms"."""
    if seconds < 0:
        raise ScenarioError("", "", f"cannot format a negative duration ({seconds})")
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{_plain(seconds * 1000)}ms"
    out, rest = "", seconds
    for unit in ("d", "h", "m"):
        whole = int(rest // DURATION_UNITS[unit])
        if whole:
            out += f"{whole}{unit}"
            rest -= whole * DURATION_UNITS[unit]
    if _plain(rest) != "0":
        out += f"{_plain(rest)}s"
    return out or "0s"


def _plain(number: float) -> str:
    """A decimal without exponent or trailing zeros (6 places), as the parser reads it."""
    return f"{number:.6f}".rstrip("0").rstrip(".")
