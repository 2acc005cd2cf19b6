"""Database: unique constraints, replica lag, versioned reads, effects."""

from __future__ import annotations

import random
from typing import Any

import pytest

from jobsim.sim.simulation import Simulation
from jobsim.world.database import Database, UniqueViolation


def declared(*args: Any, **kw: Any) -> Database:
    """A database with the tables these tests write (tables must be declared)."""
    db = Database(*args, **kw)
    for name in ("t", "plain", "orders"):
        db.create_table(name)
    return db


def at(sim: Simulation, t: float) -> None:
    """Advance the clock to ``t`` (no processes needed)."""
    if t > sim.now:
        sim.run(until=t)


def effects(sim: Simulation) -> list[tuple]:
    return [e[2:] for e in sim.history.of_kind("effect")]


def test_unique_violation_raises_and_writes_nothing() -> None:
    sim = Simulation(1)
    db = declared(sim)
    db.create_table("notifications", unique=("user_id", "campaign_id"))
    db.insert("j1", "notifications", {"user_id": 1, "campaign_id": 7})
    with pytest.raises(UniqueViolation):
        db.insert("j2", "notifications", {"user_id": 1, "campaign_id": 7, "x": 1})
    assert db.count("notifications") == 1
    assert effects(sim) == [("j1", "notifications:1:7", "db", True)]
    db.insert("j3", "notifications", {"user_id": 2, "campaign_id": 7})  # other key is fine
    assert db.count("notifications") == 2


def test_effect_once_flag_depends_on_key_kind() -> None:
    sim = Simulation(1)
    db = declared(sim)
    db.insert("a", "plain", {"v": 1})
    db.insert("b", "plain", {"v": 1}, effect_key="charge:9")
    db.insert("c", "plain", {"v": 2}, effect=False)
    assert effects(sim) == [("a", "plain:1", "db", False), ("b", "charge:9", "db", True)]


def test_explicit_id_is_a_primary_key() -> None:
    db = declared(Simulation(1))
    db.insert(None, "orders", {"id": "o1"})
    with pytest.raises(UniqueViolation):
        db.insert(None, "orders", {"id": "o1"})


def test_replica_lag_hides_a_write_until_the_lag_passes() -> None:
    sim = Simulation(1)
    db = declared(sim, replicas=1, lags=3.0)
    at(sim, 10.0)
    db.insert("j", "t", {"k": "a"})
    assert db.find("t", {"k": "a"}).copy == "primary"
    assert db.find("t", {"k": "a"})
    read = db.find("t", {"k": "a"}, on="replica")
    assert not read and read.copy == "replica0"
    at(sim, 12.9)
    assert not db.exists("t", {"k": "a"}, on=0)
    at(sim, 13.0)
    row, copy = db.find("t", {"k": "a"}, on="replica")
    assert row is not None and row["k"] == "a" and copy == "replica0"


def test_set_lag_lowering_reveals_raising_stalls() -> None:
    sim = Simulation(1)
    db = declared(sim, replicas=1, lags=100.0)
    db.insert(None, "t", {"k": 1})
    at(sim, 5.0)
    assert not db.exists("t", {"k": 1}, on=0)
    db.set_lag(0, 1.0)
    assert db.exists("t", {"k": 1}, on=0)
    db.insert(None, "t", {"k": 2})
    db.set_lag(0, 50.0)  # a stalled replica keeps what it applied
    at(sim, 20.0)
    assert db.exists("t", {"k": 1}, on=0)
    assert not db.exists("t", {"k": 2}, on=0)
    assert db.exists("t", {"k": 2})


def test_replica_round_robin_and_no_replica_fallback() -> None:
    sim = Simulation(1)
    db = declared(sim, replicas=2, lags=[0.0, 10.0])
    db.insert(None, "t", {"k": 1})
    copies = [db.find("t", {"k": 1}, on="replica") for _ in range(4)]
    assert [r.copy for r in copies] == ["replica0", "replica1"] * 2
    assert [bool(r) for r in copies] == [True, False] * 2
    assert declared(sim).find("t", {}, on="replica").copy == "primary"
    with pytest.raises(ValueError):
        declared(sim, replicas=2, lags=[1.0])


def test_update_and_delete_are_versioned_for_replicas() -> None:
    sim = Simulation(1)
    db = declared(sim, replicas=1, lags=5.0)
    db.create_table("u", unique=("email",))
    db.insert(None, "u", {"email": "a", "state": "new"})
    at(sim, 10.0)
    assert db.update("u", {"email": "a"}, {"state": "done"}) == 1
    assert db.find("u", {"state": "done"}).row["email"] == "a"
    assert db.find("u", {"state": "new"}, on=0)  # replica still sees the old version
    assert not db.find("u", {"state": "done"}, on=0)
    assert db.delete("u", {"email": "a"}) == 1
    assert not db.exists("u", {"email": "a"})
    db.insert(None, "u", {"email": "a", "state": "again"})  # the unique key is free again
    assert db.count("u") == 1


def test_update_respects_unique_constraint() -> None:
    db = declared(Simulation(1))
    db.create_table("u", unique=("email",))
    db.insert(None, "u", {"email": "a"})
    db.insert(None, "u", {"email": "b"})
    with pytest.raises(UniqueViolation):
        db.update("u", {"email": "b"}, {"email": "a"})
    assert db.find("u", {"email": "b"})


def test_indexed_reads_match_a_brute_force_replay() -> None:
    """Random inserts/updates at random times: every read equals a naive replay."""
    rng = random.Random(7)
    sim = Simulation(1)
    db = declared(sim, replicas=1, lags=4.0)
    log: list[tuple[float, int, dict]] = []  # (t, id, row version)
    db.find("t", {"a": 0})  # build one index early, the other later
    for step in range(600):
        at(sim, step * 0.5)
        if step % 3 == 0 and log:
            rid = rng.choice(log)[1]
            db.update("t", {"id": rid}, {"a": rng.randrange(5)})
            log.append((sim.now, rid, db.find("t", {"id": rid}).row))
        else:
            row = db.insert(None, "t", {"a": rng.randrange(5), "b": rng.randrange(3)})
            log.append((sim.now, row["id"], row))
        for where in ({"a": rng.randrange(5)}, {"a": rng.randrange(5), "b": rng.randrange(3)}):
            seen_t = sim.now - 4.0
            state: dict[int, dict] = {}
            for t, rid, row in log:
                if t <= seen_t:
                    state[rid] = row
            expect = sorted(r["id"] for r in state.values()
                            if all(r.get(k) == v for k, v in where.items()))
            rows, copy = db.find_all("t", where, on=0)
            assert copy == "replica0"
            assert sorted(r["id"] for r in rows) == expect


def test_writes_by_the_unique_key_match_a_table_without_one() -> None:
    """update and delete whose where is exactly the unique columns look the row up in the
    unique index: random inserts, updates (some moving the key), deletes and re-inserts
    give the same rows and counts as a table without a constraint (the generic path)."""
    rng = random.Random(11)
    sim = Simulation(1)
    db = declared(sim)
    db.create_table("k", unique=("user_id", "campaign_id"))
    db.create_table("free")
    for step in range(400):
        at(sim, step * 0.25)
        where = {"campaign_id": rng.randrange(2), "user_id": rng.randrange(6)}
        action = rng.randrange(4)
        if action == 0:
            results = []
            for name in ("k", "free"):
                if not db.exists(name, where):
                    results.append(db.insert(None, name, {**where, "n": step})["n"])
            assert len(results) in (0, 2)
        elif action == 1:
            changes = {"n": step}
            assert db.update("k", where, changes) == db.update("free", where, changes)
        elif action == 2:
            moved = {"user_id": rng.randrange(6)}
            if not db.exists("k", {**where, **moved}) or moved["user_id"] == where["user_id"]:
                assert db.update("k", where, moved) == db.update("free", where, moved)
        else:
            assert db.delete("k", where) == db.delete("free", where)
        rows = {name: sorted((r["campaign_id"], r["user_id"], r["n"])
                             for r in db.find_all(name, {})[0]) for name in ("k", "free")}
        assert rows["k"] == rows["free"]
    assert db.count("k") > 0
