"""The shop's metrics hook: order errors and duplicate emails, from the history alone.

``orders`` counts each order once: fulfilled (effect ``fulfil:ID``), fulfilled before its
capture (``fulfilled_before_capture:ID``), fulfilled and never captured (no
``payment:ID``), and ``errors``, the union of the last two. ``highlights`` gives one row,
the duplicate emails under the idempotency guard the run's config names.
"""

from __future__ import annotations

from typing import Any

from jobsim.history.events import index
from jobsim.history.history import History

_EFFECT_KEY, _EFFECT_SERVICE = index("effect", "key"), index("effect", "service")
_EFFECT_ONCE = index("effect", "once")
_ORDER_KEYS = ("fulfil", "fulfilled_before_capture", "payment")


def shop_metrics(history: History) -> dict[str, Any]:
    orders: dict[str, set[str]] = {name: set() for name in _ORDER_KEYS}
    emails: dict[Any, int] = {}
    config: dict[str, Any] | None = None
    for event in history.events:
        kind = event[1]
        if kind == "effect":
            key = event[_EFFECT_KEY]
            if event[_EFFECT_ONCE] and event[_EFFECT_SERVICE] == "email":
                emails[key] = emails.get(key, 0) + 1
            prefix, _, order = str(key).partition(":")
            found = orders.get(prefix)
            if found is not None:
                found.add(order)
        elif kind == "config" and config is None:
            config = event[3] or {}
    fulfilled, early, captured = (orders[name] for name in _ORDER_KEYS)
    uncaptured = fulfilled - captured
    return {
        "orders": {"fulfilled": len(fulfilled), "fulfilled_before_capture": len(early),
                   "fulfilled_uncaptured": len(uncaptured), "errors": len(early | uncaptured)},
        "highlights": _highlights(config or {}, emails),
    }


def _highlights(config: dict[str, Any], emails: dict[Any, int]) -> list[list[Any]]:
    guard = ((config.get("safeguards") or {}).get("idempotency") or {}).get("guard")
    if guard is None or not emails:
        return []
    return [[f"duplicate emails (guard={guard})", sum(n - 1 for n in emails.values())]]
