"""The shop's knobs, derived by its safeguard hook from the scenario.

The job system and the world know none of these: the hook reads the scenario's
safeguards and the shop's own ``world.export`` section once, at setup, and keeps the
result in ``world.plugins["shop"]``, where the shop's jobs find it.

* ``guard`` (``safeguards.idempotency.guard``, none if absent): how
  NotificationDeliveryJob guards its send. ``constraint`` also puts the unique
  constraint on ``notifications(user_id, campaign_id)``.
* ``payment_keys`` (``safeguards.idempotency.payment_keys``): PaymentCaptureJob sends an
  idempotency key.
* ``order_flow`` (``safeguards.dependencies``): absent -> ``inline``; enabled ->
  ``deps`` (steps wait for each other); disabled -> ``race`` (the seed's four jobs at once).
* ``scoped_resources`` (``safeguards.resources.scoped``, off if absent).
* ``export``: DataExportJob's costs; ``world.export.error_rate`` sets ``fail_p``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

GUARDS = ("none", "primary", "replica", "constraint")
ORDER_FLOWS = ("inline", "chain", "race", "deps")
EXPORT_DEFAULTS = {"row_s": 0.001, "row_bytes": 512, "mem_per_row": 2048, "fail_p": 0.0}
NAME = "shop"


@dataclass(frozen=True)
class ShopSettings:
    guard: str = "none"
    payment_keys: bool = False
    order_flow: str = "inline"
    scoped_resources: bool = True
    export: Mapping[str, float] = field(default_factory=lambda: dict(EXPORT_DEFAULTS))

    def __post_init__(self) -> None:
        if self.guard not in GUARDS:
            raise ValueError(f"guard: {self.guard!r} is not one of {list(GUARDS)}")
        if self.order_flow not in ORDER_FLOWS:
            raise ValueError(f"order_flow: {self.order_flow!r} is not one of {list(ORDER_FLOWS)}")


DEFAULT = ShopSettings()


def settings(world: Any) -> ShopSettings:
    """The shop's settings in ``world`` (the defaults when the hook did not run, as in a
    unit test that builds a bare World)."""
    return world.plugins.get(NAME, DEFAULT)


def from_scenario(safeguards: Mapping[str, Mapping[str, Any]],
                  sections: Mapping[str, Any]) -> ShopSettings:
    """The settings a scenario's safeguards and ``world.export`` section give."""
    idem = safeguards.get("idempotency") or {}
    deps = safeguards.get("dependencies")
    flow = "inline" if deps is None else ("deps" if deps.get("enabled", True) else "race")
    export = dict(EXPORT_DEFAULTS)
    error_rate = (sections.get("export") or {}).get("error_rate")
    if error_rate:
        export["fail_p"] = float(error_rate)
    return ShopSettings(
        guard=str(idem.get("guard", "none")),
        payment_keys=bool(idem.get("payment_keys", False)),
        order_flow=flow,
        scoped_resources=bool((safeguards.get("resources") or {}).get("scoped", False)),
        export=export,
    )


def read_export(value: Any, path: str) -> dict[str, float]:
    """The shop's ``world.export`` section: ``{error_rate: 0..1}``."""
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping with 'error_rate', got {value!r}")
    extra = sorted(set(value) - {"error_rate"})
    if extra:
        raise ValueError(f"unknown key {extra[0]!r}; valid keys: error_rate")
    rate = value.get("error_rate", 0.0)
    if rate is None:
        rate = 0.0
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise ValueError(f"error_rate: expected a number in [0, 1], got {rate!r}")
    return {"error_rate": float(rate)}
