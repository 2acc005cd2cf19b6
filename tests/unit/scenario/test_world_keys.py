"""The world keys that used to be build-time workarounds: a pool's checkout_timeout and
the shop plug-in's ``world.export``. Each reaches what it configures, and each default
is the behaviour the workaround had (built-in digests unchanged)."""

from __future__ import annotations

from typing import Any

import pytest

from jobsim.scenario import ScenarioError, build, load_document
from jobsim.scenario.schema import POOL_CHECKOUT_TIMEOUT_S, PoolConfig, Scenario
from jobsim.shop import PLUGIN as SHOP
from jobsim.sim.simulation import Simulation
from jobsim.world.world import World

KNOWN: dict[str, Any] = {"known_jobs": {"DataExportJob"}, "known_faults": set(),
                         "known_checks": set()}


def scenario(world: dict[str, Any], **extra: Any) -> Scenario:
    raw = {"description": "d", "duration": "1m", "world": world,
           "workload": [{"job": "DataExportJob", "count": 1}], **extra}
    return load_document(raw, **KNOWN)


def built_world(s: Scenario) -> World:
    config, _ = build.world_config(s)
    return World(Simulation(0), config)


def test_a_bare_pool_size_keeps_activerecords_checkout_timeout() -> None:
    s = scenario({"pools": {"db": 30}})
    assert s.world.pools == {"db": PoolConfig(30, POOL_CHECKOUT_TIMEOUT_S)}
    assert POOL_CHECKOUT_TIMEOUT_S == 5.0
    assert built_world(s).pool("db").wait_timeout == 5.0


def test_checkout_timeout_is_a_duration_per_pool() -> None:
    s = scenario({"pools": {"db": {"size": 3, "checkout_timeout": "1m30s"},
                            "replica": {"size": 2}}})
    assert s.world.pools == {"db": PoolConfig(3, 90.0), "replica": PoolConfig(2, 5.0)}
    world = built_world(s)
    assert (world.pool("db").size, world.pool("db").wait_timeout) == (3, 90.0)
    assert world.pool("replica").wait_timeout == 5.0


def test_a_variant_changes_one_pools_timeout() -> None:
    s = scenario({"pools": {"db": {"size": 30}}},
                 variants={"patient": {"world": {"pools": {"db": {"checkout_timeout": "1h"}}}}})
    assert s.world.pools["db"] == PoolConfig(30, 5.0)
    assert s.with_variant("patient").world.pools["db"] == PoolConfig(30, 3600.0)


@pytest.mark.parametrize("rate", [0.25, 0.0])
def test_export_error_rate_is_the_shops_export_failure_chance(rate: float) -> None:
    s = scenario({"export": {"error_rate": rate}}, plugins=["jobsim.shop"])
    assert s.world.extra == {"export": {"error_rate": rate}}
    config, error_rates = build.world_config(s)
    assert error_rates == {} and "export" not in config and "export" not in config["services"]
    world = built_world(s)
    assert SHOP.setup is not None
    assert SHOP.setup(world, {}, s.world.extra).export["fail_p"] == rate


def test_export_is_the_shops_key_and_refused_without_it() -> None:
    with pytest.raises(ScenarioError, match=r"world\.export: unknown key 'export'"):
        scenario({"export": {"error_rate": 0.1}})
    with pytest.raises(ScenarioError, match=r"world\.export: error_rate"):
        scenario({"export": {"error_rate": 2}}, plugins=["jobsim.shop"])
