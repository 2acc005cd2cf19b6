"""Seeds, --set grids and points' documents."""

from __future__ import annotations

import pytest

from jobsim.sweep.grid import PlanError, Point, apply_point, parse_seeds, parse_set, points


def test_seeds_count_and_range() -> None:
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("5..7") == [5, 6, 7]
    for bad in ("0", "x", "7..5", "-1", "1..x"):
        with pytest.raises(PlanError, match="--seeds"):
            parse_seeds(bad)


def test_set_values_are_yaml_scalars_and_flow_lists() -> None:
    assert parse_set("system.concurrency=5,20") == ("system.concurrency", [5, 20])
    assert parse_set("system.fetch=basic,reliable")[1] == ["basic", "reliable"]
    assert parse_set("system.queues=[a, b],[c]")[1] == [["a", "b"], ["c"]]
    for bad in ("system.concurrency", "=5", "a..b=1", "k=1,,2", "k=1,1"):
        with pytest.raises(PlanError):
            parse_set(bad)


def test_grid_is_the_product_first_key_slowest() -> None:
    grid = points([("a", [1, 2]), ("b", ["x", "y"])])
    assert [p.label for p in grid] == ["a=1 b=x", "a=1 b=y", "a=2 b=x", "a=2 b=y"]
    assert points([]) == [Point()]
    assert Point().label == "base"
    with pytest.raises(PlanError, match="twice"):
        points([("a", [1]), ("a", [2])])


def test_point_sets_base_and_every_variant_overriding_the_key() -> None:
    doc = {"system": {"fetch": "reliable", "concurrency": 2},
           "workload": [{"job": "J", "count": 4}],
           "variants": {"basic": {"system": {"fetch": "basic"}}, "other": {"seed": 3}}}
    out = apply_point(doc, Point((("system.fetch", "x"), ("workload.0.count", 9))))
    assert out["system"]["fetch"] == "x"
    assert out["workload"][0]["count"] == 9
    assert out["variants"]["basic"]["system"]["fetch"] == "x"   # the swept value holds
    assert out["variants"]["other"] == {"seed": 3}                # untouched
    assert doc["system"]["fetch"] == "reliable"                   # no mutation
    with pytest.raises(PlanError, match=r"workload\.5"):
        apply_point(doc, Point((("workload.5.count", 1),)))
    with pytest.raises(PlanError, match=r"system\.fetch holds"):
        apply_point(doc, Point((("system.fetch.x", 1),)))
