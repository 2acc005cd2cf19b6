"""Resources: pool waiting and timeouts, idempotent leases, crash cleanup, the sampler."""

from __future__ import annotations

from collections.abc import Generator
from types import SimpleNamespace
from typing import Any

import pytest
import simpy

from jobsim.sim.simulation import Simulation
from jobsim.world.resources import ConnectionPool, Memory, PoolTimeout, Sampler, TempFiles
from jobsim.world.services import UndeclaredService
from jobsim.world.world import World


def job(worker: str = "p0", jid: str = "j") -> Any:
    return SimpleNamespace(worker=worker, jid=jid)


def hold(sim: Simulation, pool: ConnectionPool, seconds: float, who: Any,
         log: list[tuple[str, float]]) -> simpy.Process:
    """Check out, note the time, hold for ``seconds``, release."""

    def run() -> Generator[Any, Any, None]:
        try:
            with (yield from pool.checkout(who)):
                log.append((who.jid, sim.now))
                yield sim.timeout(seconds)
        except PoolTimeout:
            log.append((who.jid + ":timeout", sim.now))
        except simpy.Interrupt:
            log.append((who.jid + ":interrupted", sim.now))

    return sim.process(run())


def test_waiting_for_a_connection_takes_simulated_time() -> None:
    sim = Simulation(1)
    pool = ConnectionPool(sim, "db", size=1)
    log: list[tuple[str, float]] = []
    hold(sim, pool, 5.0, job(jid="a"), log)
    hold(sim, pool, 1.0, job(jid="b"), log)
    sim.run(until=1.0)
    assert (pool.in_use, pool.waiting) == (1, 1)
    sim.run()
    assert log == [("a", 0.0), ("b", 5.0)]
    assert (pool.in_use, pool.waiting) == (0, 0)


def test_wait_timeout_raises_pool_timeout_and_leaves_the_queue() -> None:
    sim = Simulation(1)
    pool = ConnectionPool(sim, "db", size=1, wait_timeout=2.0)
    log: list[tuple[str, float]] = []
    hold(sim, pool, 5.0, job(jid="a"), log)
    hold(sim, pool, 1.0, job(jid="b"), log)
    sim.run()
    assert log == [("a", 0.0), ("b:timeout", 2.0)]
    assert pool.timeouts == 1 and pool.waiting == 0 and pool.in_use == 0


def test_interrupt_while_waiting_cancels_the_request() -> None:
    sim = Simulation(1)
    pool = ConnectionPool(sim, "db", size=1)
    log: list[tuple[str, float]] = []
    hold(sim, pool, 5.0, job(jid="a"), log)
    waiter = hold(sim, pool, 1.0, job(jid="b"), log)
    sim.run(until=1.0)
    waiter.interrupt("crash")
    sim.run()
    assert log == [("a", 0.0), ("b:interrupted", 1.0)]
    assert pool.waiting == 0 and pool.in_use == 0


def test_lease_release_is_idempotent() -> None:
    sim = Simulation(1)
    pool = ConnectionPool(sim, "db", size=2)

    def run() -> Generator[Any, Any, None]:
        first = yield from pool.checkout(job(jid="a"))
        yield from pool.checkout(job(jid="b"))
        first.release()
        pool.checkin(first)
        with first:
            pass

    sim.process(run())
    sim.run()
    assert pool.in_use == 1  # b's connection was not released by a's double release
    assert [lease.jid for lease in pool.leases()] == ["b"]


def test_with_block_releases_on_error() -> None:
    sim = Simulation(1)
    pool = ConnectionPool(sim, "db", size=1)

    def run() -> Generator[Any, Any, None]:
        with (yield from pool.checkout(job())):
            raise RuntimeError("boom")

    proc = sim.process(run())
    with pytest.raises(RuntimeError):
        sim.run()
    assert not proc.is_alive and pool.in_use == 0


def test_free_process_frees_connections_and_memory_but_not_temp_files() -> None:
    sim = Simulation(1)
    world = World(sim, {"sample_interval": 0})
    pool = world.pool("db")

    def leak(worker: str) -> Generator[Any, Any, None]:
        yield from pool.checkout(job(worker))
        world.memory.allocate(worker, 1000)
        world.tempfiles.create(worker, 500)

    sim.process(leak("p0"))
    sim.process(leak("p1"))
    sim.run()
    world.free_process("p0")
    assert pool.in_use == 1 and [lease.worker for lease in pool.leases()] == ["p1"]
    assert world.memory.usage("p0") == 0 and world.memory.usage("p1") == 1000
    assert world.tempfiles.count == 2 and world.tempfiles.bytes == 1000


def test_tempfiles_and_memory_bookkeeping() -> None:
    sim = Simulation(1)
    files, mem = TempFiles(sim), Memory(sim)
    f = files.create("p0", 10)
    files.create("p0", 5)
    assert files.delete(f) and not files.delete(f)
    assert (files.count, files.bytes) == (1, 5)
    a = mem.allocate("p0", 100)
    mem.allocate("p0", 50)
    assert mem.free(a) and not mem.free(a)
    assert mem.usage("p0") == 50 and mem.free_process("p0") == 50 and mem.bytes == 0


def test_sampler_records_only_changes_then_everything_at_final() -> None:
    sim = Simulation(1)
    gauge = {"g.a": 0, "g.b": 0}
    sampler = Sampler(sim, [lambda: dict(gauge)], interval=10.0)
    sim.run(until=5)
    gauge["g.a"] = 3
    sim.run(until=15)   # sample at 10: only g.a changed
    sim.run(until=25)   # sample at 20: nothing changed
    gauge["g.b"] = 1
    gauge["g.a"] = 0
    sim.run(until=35)   # sample at 30
    sampler.final()
    samples = [(e[0], e[3], e[4]) for e in sim.history.of_kind("sample")]
    assert samples == [
        (0, "g.a", 0), (0, "g.b", 0),
        (10, "g.a", 3),
        (30, "g.a", 0), (30, "g.b", 1),
        (35, "g.a", 0), (35, "g.b", 1),
    ]
    sim.run()  # stopped: the loop ends, run() returns
    assert sim.now == 40


def test_world_sampler_sees_pool_tempfile_and_memory_gauges() -> None:
    sim = Simulation(1)
    world = World(sim, {"sample_interval": 1.0})
    world.memory.allocate("p3", 64)
    sim.run(until=1.5)
    world.finish()
    names = {e[3] for e in sim.history.of_kind("sample")}
    assert names == {"pool.db.in_use", "pool.db.waiting", "tempfiles.count",
                     "tempfiles.bytes", "memory.p3"}


@pytest.mark.parametrize(("config", "path"), [
    ({"colour": 1}, "world:"),
    ({"guard": "none"}, "world: unknown key"),          # the shop's knobs are not the world's
    ({"services": {"email": {"latency": 1, "retries": 3}}}, "world.services.email"),
    ({"services": {"email": {"latency": {"dist": "zipf"}}}}, "world.services.email"),
    ({"pools": {"db": {"size": 0}}}, "world.pools.db.size"),
    ({"db": {"replicas": 2, "lags": [1.0]}}, "world.db"),
])
def test_world_config_errors_name_the_field(config: dict, path: str) -> None:
    with pytest.raises(ValueError, match=path):
        World(Simulation(1), config)


def test_the_world_has_exactly_the_services_and_tables_it_declares() -> None:
    world = World(Simulation(1), {"services": {"webhooks": {"capacity": 3},
                                               "shipping": {"latency": 0.5}},
                                  "tables": {"deliveries": ["event_id"], "log": []}})
    assert sorted(world.services) == ["shipping", "webhooks"]
    assert world.service("webhooks").capacity == 3
    assert world.service("shipping").latency(None) == 0.5
    assert world.db.table("deliveries").unique == ("event_id",)
    assert world.db.table("log").unique is None
    with pytest.raises(UndeclaredService, match="webhooks") as info:
        world.service("webhook")                       # no alias, no default service
    assert isinstance(info.value, KeyError)            # what it raised before
    assert str(info.value).startswith("unknown service 'webhook'; declared: shipping, webhooks")
    with pytest.raises(LookupError, match="deliveries"):
        world.db.exists("delivery", {"event_id": 1})   # a misspelt table is not a new one
