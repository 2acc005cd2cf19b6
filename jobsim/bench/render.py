"""Plain-text rendering of a suite's figures, with each target and its verdict beside it.

Targets are looked up by the figure's name in the suite module's TARGETS (``<figure>_max``
or ``<figure>_min``, optionally prefixed by the suite), so the rule printed is the rule
applied.
"""

from __future__ import annotations

from typing import Any

from jobsim.bench import properties, scenarios

_TARGETS = {**scenarios.TARGETS, **properties.TARGETS}
_PREFIX = {"black_friday": "black_friday_", "million": "million_"}


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _target(suite: str, figure: str) -> str:
    key = _PREFIX.get(suite, "") + figure
    if f"{key}_max" in _TARGETS:
        return f"<= {_TARGETS[key + '_max']:g}"
    if f"{key}_min" in _TARGETS:
        return f">= {_TARGETS[key + '_min']:g}"
    return "equal" if figure == "digests_equal" else ""


def figures(suite: str, result: dict[str, Any]) -> str:
    verdicts = result.get("pass", {})
    rows = [("figure", "value", "target", "ok")]
    for key, value in result.items():
        if key in ("pass", "suite_wall_s") or isinstance(value, dict):
            continue
        if isinstance(value, list):
            value = ", ".join(_value(v) for v in value)
        ok = verdicts.get(key)
        rows.append((key, _value(value), _target(suite, key),
                     "" if ok is None else ("yes" if ok else "NO")))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
