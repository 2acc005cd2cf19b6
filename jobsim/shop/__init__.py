"""The seed's shop as a plug-in: campaigns, an order pipeline, exports and analytics.

A scenario loads it with ``plugins: [jobsim.shop]``. It reaches the harness only through
the extension points of ``jobsim/world/plugin.py``: its jobs join the run's job library,
its services and tables join the world (the scenario's ``world:`` overrides them), its
safeguard hook turns the scenario's safeguards into the shop's knobs (``settings.py``),
and its metrics hook adds ``orders`` and a duplicate-email highlight to metrics.json.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from jobsim.report.metric_schema import NUMBER
from jobsim.shop.jobs import SHOP_JOBS
from jobsim.shop.metrics import shop_metrics
from jobsim.shop.settings import NAME, ShopSettings, from_scenario, read_export
from jobsim.world.plugin import Plugin

DAY = 24 * 3600.0


def _lognormal(mean: float, sigma: float) -> dict[str, Any]:
    """The seed's latencies were written as a log-space sigma; the dialect takes the sd."""
    return {"dist": "lognormal", "mean": mean, "sd": mean * math.sqrt(math.exp(sigma ** 2) - 1)}


# Typical public-API figures: a card capture ~300 ms (replaying idempotency keys for 24 h,
# as Stripe does), an email API ~150 ms, internal services tens of ms, an analytics sink
# a few ms.
SERVICES: dict[str, dict[str, Any]] = {
    "payment": {"latency": _lognormal(0.3, 0.5), "capacity": 50, "timeout": 10.0,
                "dedupe_window_s": DAY},
    "email": {"latency": _lognormal(0.15, 0.4), "capacity": 100, "timeout": 5.0},
    "inventory": {"latency": {"dist": "exponential", "mean": 0.05}, "capacity": 50,
                  "timeout": 5.0},
    "fraud": {"latency": _lognormal(0.2, 0.5), "capacity": 20, "timeout": 5.0},
    "analytics": {"latency": {"dist": "exponential", "mean": 0.005}},
}
TABLES: dict[str, tuple[str, ...]] = {   # unique constraints: set by the safeguard hook
    name: () for name in ("notifications", "orders", "fraud_checks", "captures", "shipments")
}


def setup(world: Any, safeguards: Mapping[str, Mapping[str, Any]],
          sections: Mapping[str, Any]) -> ShopSettings:
    """The safeguard hook: the scenario's safeguards become the shop's settings."""
    chosen = from_scenario(safeguards, sections)
    if chosen.guard == "constraint":
        world.db.add_unique("notifications", ("user_id", "campaign_id"))
    return chosen


def install(world: Any, safeguards: Mapping[str, Mapping[str, Any]] | None = None,
            **sections: Any) -> ShopSettings:
    """Set the shop up in a world built by hand (tests): its tables, then the hook."""
    for name, spec in TABLES.items():
        world.db.create_table(name, tuple(spec) or None)
    world.plugins[NAME] = setup(world, safeguards or {}, sections)
    return world.plugins[NAME]


PLUGIN = Plugin(
    name=NAME,
    jobs=SHOP_JOBS,
    services=SERVICES,
    tables=TABLES,
    world_keys={"export": read_export},
    setup=setup,
    metrics=shop_metrics,
    metrics_schema={"orders": dict.fromkeys(
        ("fulfilled", "fulfilled_before_capture", "fulfilled_uncaptured", "errors"), NUMBER)},
    doc="the seed's shop: notifications, the order pipeline, exports, analytics",
)
