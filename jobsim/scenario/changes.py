"""A variant's changes in words, for a variant that does not describe itself.

Why: a variant inherits every key it does not write, ``description`` included, so a
variant without its own description was shown with the base story's (in its report,
the terminal summary and compare.html), as if it told the same story. What it changes
is the honest description: ``system.fetch: basic``.
"""

from __future__ import annotations

from typing import Any

import yaml

PREFIX = "Changed from the base story: "
LONGEST = 80          # characters of one value; a redeclared job's steps are longer


def describe(overlay: dict[str, Any]) -> str:
    """``Changed from the base story: system.fetch: basic; faults: [...].``"""
    items: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        else:
            items.append(f"{path}: {_brief(node)}")

    walk(overlay, "")
    return PREFIX + "; ".join(items) + "."


def _brief(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6,
                          sort_keys=False).strip()
    text = text.removesuffix("\n...").removesuffix("...").strip()
    return text if len(text) <= LONGEST else text[:LONGEST - 1] + "…"
