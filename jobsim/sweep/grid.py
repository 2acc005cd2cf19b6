"""The sweep's plan: seeds, the grid of ``--set`` points, and one task per
(point, variant, seed).

A point is the scenario document with some dotted keys replaced
(``system.concurrency=5``); every point's document is validated by the normal scenario
loader before any task runs, so a bad key or value is one line naming it (exit 2), never
a failed run on a worker.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from jobsim.guard import InputError
from jobsim.scenario.errors import ScenarioError


class PlanError(InputError, ValueError):
    """A bad ``--seeds`` or ``--set``: its message names the option and the reason."""


@dataclass(frozen=True)
class Point:
    """One grid point: the swept keys' values, in the order they were given."""

    settings: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """``system.concurrency=5 system.fetch=basic``; ``base`` with nothing swept."""
        if not self.settings:
            return "base"
        return " ".join(f"{key}={_text(value)}" for key, value in self.settings)

    @property
    def slug(self) -> str:
        """The label as a file name."""
        return re.sub(r"[^A-Za-z0-9._=,-]+", "_", self.label.replace(" ", ","))


def parse_seeds(text: str) -> list[int]:
    """``N`` (seeds 0..N-1) or ``A..B`` (A to B inclusive)."""
    text = text.strip()
    match = re.fullmatch(r"(\d+)\.\.(\d+)", text)
    if match:
        low, high = int(match[1]), int(match[2])
        if high < low:
            raise PlanError(f"--seeds {text}: the range ends before it starts")
        return list(range(low, high + 1))
    if not text.isdigit() or int(text) < 1:
        raise PlanError(f"--seeds {text}: expected a count N >= 1 or a range A..B")
    return list(range(int(text)))


def parse_set(text: str) -> tuple[str, list[Any]]:
    """``KEY=V1,V2,...``: a dotted key and its values, each read as a YAML scalar (or a
    YAML flow list/mapping: commas inside brackets do not split)."""
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise PlanError(f"--set {text}: expected KEY=V1,V2,...")
    if any(not part for part in key.split(".")):
        raise PlanError(f"--set {text}: {key!r} is not a dotted key")
    parsed = []
    for raw in _split(values):
        try:
            parsed.append(yaml.safe_load(raw))
        except yaml.YAMLError:
            raise PlanError(f"--set {key}: cannot read value {raw!r}") from None
    if len(set(map(_text, parsed))) != len(parsed):
        raise PlanError(f"--set {key}: a value is repeated")
    return key, parsed


def points(sets: Sequence[tuple[str, list[Any]]]) -> list[Point]:
    """The grid: every combination, the first ``--set`` varying slowest."""
    keys = [key for key, _ in sets]
    if len(set(keys)) != len(keys):
        raise PlanError("--set: a key is given twice")
    return [Point(tuple(zip(keys, combo, strict=True)))
            for combo in itertools.product(*(values for _, values in sets))]


def apply_point(doc: dict[str, Any], point: Point) -> dict[str, Any]:
    """The document with the point's values set, in the base and in every variant that
    overrides the same key (so the swept value holds in every variant)."""
    out = copy.deepcopy(doc)
    for key, value in point.settings:
        parts = _parts(key)
        _assign(out, parts, value, key)
        for overlay in (out.get("variants") or {}).values():
            if isinstance(overlay, dict) and _has(overlay, parts):
                _assign(overlay, parts, value, key)
    return out


def check_point(error: ScenarioError, point: Point) -> PlanError:
    """A loader error for a point's document, naming the point."""
    return PlanError(f"--set {point.label}: {error}")


def _parts(key: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in key.split(".")]


def _assign(node: Any, parts: list[str | int], value: Any, key: str) -> None:
    for depth, part in enumerate(parts[:-1]):
        child = _child(node, part)
        if child is None:
            if not isinstance(node, dict):
                raise PlanError(f"--set {key}: {_name(parts[:depth + 1])}: no such list item")
            child = node[str(part)] = {}
        if not isinstance(child, dict | list):
            raise PlanError(f"--set {key}: {_name(parts[:depth + 1])} holds "
                            f"{_text(child)}, not a mapping")
        node = child
    last = parts[-1]
    if isinstance(node, list):
        if not isinstance(last, int) or last >= len(node):
            raise PlanError(f"--set {key}: {_name(parts)}: no such list item")
        node[last] = value
    else:
        node[str(last)] = value


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, list):
        return node[part] if isinstance(part, int) and part < len(node) else None
    return node.get(str(part)) if isinstance(node, dict) else None


def _has(node: Any, parts: list[str | int]) -> bool:
    for part in parts:
        if isinstance(node, dict) and str(part) in node:
            node = node[str(part)]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return False
    return True


def _name(parts: Sequence[str | int]) -> str:
    return ".".join(map(str, parts))


def _split(values: str) -> list[str]:
    """Split on commas outside brackets and braces."""
    out, depth, current = [], 0, ""
    for char in values:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            out.append(current.strip())
            current = ""
        else:
            current += char
    out.append(current.strip())
    if any(not part for part in out):
        raise PlanError(f"--set: empty value in {values!r}")
    return out


def _text(value: Any) -> str:
    """A value as it would be typed after ``=``."""
    if isinstance(value, str):
        return value
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix(
        "\n...").strip()
