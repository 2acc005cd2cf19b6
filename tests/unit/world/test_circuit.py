"""Circuit breaker: closed -> open -> half-open in simulated time, fast failures that
never reach the service, one probe at a time, and the service's load figures."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
import simpy

from jobsim.sim.simulation import Simulation
from jobsim.world.circuit import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, CircuitOpen
from jobsim.world.services import IdempotencyConflict, Service, ServiceError
from jobsim.world.world import World


def guarded(sim: Simulation, threshold: int = 3, cooldown: float = 30.0,
            latency: float = 1.0) -> Service:
    svc = Service(sim, "api", latency=latency)
    svc.breaker = CircuitBreaker(sim, "api", threshold=threshold, cooldown=cooldown)
    return svc


def call(sim: Simulation, svc: Service, at: float = 0.0) -> simpy.Process:
    """One call starting at ``at``; its value is (outcome, start, end)."""

    def run() -> Generator[Any, Any, tuple[str, float, float]]:
        if at > sim.now:
            yield sim.timeout(at - sim.now)
        start = sim.now
        try:
            yield from svc.call("j", "op")
        except simpy.Interrupt:
            return "interrupted", start, sim.now
        except ServiceError as exc:
            return type(exc).__name__, start, sim.now
        return "ok", start, sim.now

    return sim.process(run())


def open_breaker(sim: Simulation, svc: Service, n: int) -> None:
    svc.set_outage("error")
    for _ in range(n):
        call(sim, svc, at=sim.now)
    sim.run(until=sim.now + 0.001)


def test_consecutive_failures_open_it_and_a_success_resets_the_count() -> None:
    sim = Simulation(1)
    breaker = CircuitBreaker(sim, "api", threshold=3)
    for _ in range(2):
        breaker.failure(ServiceError("x"), breaker.admit("op"))
    breaker.success(breaker.admit("op"))
    for _ in range(2):
        breaker.failure(ServiceError("x"), breaker.admit("op"))
    assert breaker.state == CLOSED
    breaker.failure(ServiceError("x"), breaker.admit("op"))
    assert breaker.state == OPEN and breaker.opens == 1
    with pytest.raises(CircuitOpen):
        breaker.admit("op")


def test_an_idempotency_conflict_is_a_healthy_answer() -> None:
    sim = Simulation(1)
    breaker = CircuitBreaker(sim, "api", threshold=2)
    breaker.failure(ServiceError("x"), breaker.admit("op"))
    breaker.failure(IdempotencyConflict("409"), breaker.admit("op"))
    breaker.failure(ServiceError("x"), breaker.admit("op"))
    assert breaker.state == CLOSED


def test_open_calls_fail_fast_without_reaching_the_service_or_taking_time() -> None:
    sim = Simulation(1)
    svc = guarded(sim, threshold=3)
    open_breaker(sim, svc, 3)
    assert svc.breaker is not None and svc.breaker.state == OPEN
    svc.clear_outage()                       # healthy again, but the breaker is open
    procs = [call(sim, svc, at=5.0) for _ in range(4)]
    sim.run(until=6.0)
    assert [p.value for p in procs] == [("CircuitOpen", 5.0, 5.0)] * 4
    assert svc.calls == 3 and svc.rejected_by_breaker == 4
    assert svc.stats()["rejected_by_breaker"] == 4


def test_after_the_cooldown_one_probe_goes_through_and_its_success_closes_it() -> None:
    sim = Simulation(1)
    svc = guarded(sim, threshold=2, cooldown=30.0, latency=1.0)
    open_breaker(sim, svc, 2)
    svc.clear_outage()
    early = call(sim, svc, at=29.0)
    probe = call(sim, svc, at=30.0)
    during = call(sim, svc, at=30.5)          # the probe is still in flight
    after = call(sim, svc, at=32.0)
    sim.run(until=29.5)
    assert svc.breaker is not None and svc.breaker.state == OPEN
    sim.run(until=30.2)
    assert svc.breaker.state == HALF_OPEN
    sim.run(until=40.0)
    assert early.value[0] == "CircuitOpen"
    assert probe.value == ("ok", 30.0, 31.0)
    assert during.value[0] == "CircuitOpen"
    assert after.value == ("ok", 32.0, 33.0)
    assert svc.breaker.state == CLOSED and svc.calls == 2 + 2


def test_a_failed_probe_reopens_it_for_another_cooldown() -> None:
    sim = Simulation(1)
    svc = guarded(sim, threshold=2, cooldown=10.0)
    open_breaker(sim, svc, 2)                # still in outage
    probe = call(sim, svc, at=10.0)
    blocked = call(sim, svc, at=15.0)
    second_probe = call(sim, svc, at=20.0)
    sim.run(until=25.0)
    assert probe.value[0] == "ServiceError"
    assert blocked.value[0] == "CircuitOpen"
    assert second_probe.value[0] == "ServiceError"   # reached the service: a probe
    assert svc.breaker is not None and svc.breaker.opens == 3
    assert svc.calls == 2 + 2 and svc.rejected_by_breaker == 1


def test_an_interrupted_probe_frees_the_probe_slot() -> None:
    sim = Simulation(1)
    svc = guarded(sim, threshold=1, cooldown=5.0, latency=10.0)
    open_breaker(sim, svc, 1)
    svc.clear_outage()
    probe = call(sim, svc, at=5.0)
    sim.run(until=6.0)
    probe.interrupt("crash")
    sim.run(until=7.0)
    assert probe.value[0] == "interrupted"
    next_probe = call(sim, svc, at=7.0)
    sim.run(until=20.0)
    assert next_probe.value == ("ok", 7.0, 17.0)


def test_state_changes_are_recorded_as_samples() -> None:
    sim = Simulation(1)
    svc = guarded(sim, threshold=1, cooldown=5.0)
    open_breaker(sim, svc, 1)
    svc.clear_outage()
    call(sim, svc, at=5.0)
    sim.run(until=10.0)
    states = [(e[3], e[4]) for e in sim.history.of_kind("sample")]
    assert states == [("circuit.api.state", 1), ("circuit.api.state", 2),
                      ("circuit.api.state", 0)]


def test_the_load_meter_counts_peaks_per_second_and_restarts_when_healed() -> None:
    sim = Simulation(1)
    svc = Service(sim, "api", latency=0.1)
    svc.set_outage("error")
    for i in range(7):
        call(sim, svc, at=1.0 + i * 0.1)     # 7 calls within second 1
    sim.run(until=5.0)
    svc.clear_outage()
    for i in range(3):
        call(sim, svc, at=6.0 + i * 0.3)     # 3 calls within second 6
    call(sim, svc, at=8.0)
    sim.run(until=10.0)
    stats = svc.stats()
    assert stats["calls"] == 11 and stats["peak_calls_per_s"] == 7
    assert stats["recovered_calls"] == 4 and stats["recovered_peak_calls_per_s"] == 3


def test_the_world_puts_a_breaker_on_every_service_and_records_load_at_the_end() -> None:
    sim = Simulation(1)
    world = World(sim, {"circuit_breaker": {"threshold": 2, "cooldown": 60},
                        "services": {"payment": {"latency": 0.3}, "email": {"latency": 0.1}}})
    assert len(world.services) == 2
    assert all(s.breaker is not None and s.breaker.threshold == 2
               for s in world.services.values())
    payment = world.service("payment")
    open_breaker(sim, payment, 5)
    world.finish()
    load = {e[3]: e[4] for e in sim.history.of_kind("sample")
            if e[3].startswith("service.")}
    assert load["service.payment.calls"] == 2
    assert load["service.payment.rejected_by_breaker"] == 3
    assert not any(name.startswith("service.email.") for name in load)   # never called
    with pytest.raises(ValueError, match=r"world\.circuit_breaker"):
        World(Simulation(1), {"circuit_breaker": {"treshold": 2}})
    with pytest.raises(ValueError, match="threshold"):
        World(Simulation(1), {"circuit_breaker": {"threshold": 0}})
