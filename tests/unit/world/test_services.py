"""Services: latency distributions, capacity, outages, timeouts, idempotency keys."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Generator
from typing import Any

import pytest
import simpy

from jobsim.sim.simulation import Simulation
from jobsim.world.distributions import DistributionError, make_sampler
from jobsim.world.services import IdempotencyConflict, Service, ServiceError

DAY = 86400.0


def keyed(sim: Simulation, **kw: Any) -> Service:
    """A payment-like API that replays idempotency keys for a day (a generic option)."""
    kw.setdefault("dedupe_window_s", DAY)
    return Service(sim, "payment", **kw)


def call(sim: Simulation, svc: Service, job: Any = "j", at: float = 0.0,
         **kw: Any) -> simpy.Process:
    """Start one call at ``at``; the process's value is (outcome, end time)."""

    def run() -> Generator[Any, Any, tuple[str, float]]:
        if at:
            yield sim.timeout(at)
        try:
            resp = yield from svc.call(job, kw.pop("op", "op"), **kw)
        except simpy.Interrupt:
            return "interrupted", sim.now
        except ServiceError as exc:
            return type(exc).__name__, sim.now
        return ("replayed" if resp.replayed else "ok"), sim.now

    return sim.process(run())


def effects(sim: Simulation) -> list[tuple]:
    return [e[2:] for e in sim.history.of_kind("effect")]


@pytest.mark.parametrize(
    ("spec", "mean", "sd"),
    [
        ({"dist": "fixed", "value": 0.25}, 0.25, 0.0),
        ({"dist": "exponential", "mean": 0.5}, 0.5, 0.5),
        ({"dist": "uniform", "min": 1.0, "max": 3.0}, 2.0, 2.0 / math.sqrt(12)),
        ({"dist": "lognormal", "mean": 0.3, "sd": 0.15}, 0.3, 0.15),
        ({"dist": "normal", "mean": 2.0, "sd": 0.1}, 2.0, 0.1),
    ],
)
def test_latency_distributions_respect_parameters(spec: dict, mean: float, sd: float | None
                                                  ) -> None:
    draw = make_sampler(spec)
    rng = random.Random(1234)
    xs = [draw(rng) for _ in range(2000)]
    assert statistics.fmean(xs) == pytest.approx(mean, rel=0.06)
    if sd is not None:
        assert statistics.pstdev(xs) == pytest.approx(sd, rel=0.1, abs=1e-12)
    if spec["dist"] == "uniform":
        assert min(xs) >= 1.0 and max(xs) <= 3.0


def test_service_calls_take_their_sampled_latency() -> None:
    sim = Simulation(3)
    svc = Service(sim, "api", latency={"dist": "exponential", "mean": 0.2})
    procs = [call(sim, svc, at=i * 10.0) for i in range(2000)]
    sim.run()
    took = [p.value[1] - i * 10.0 for i, p in enumerate(procs)]
    assert statistics.fmean(took) == pytest.approx(0.2, rel=0.06)
    assert svc.calls == 2000 and svc.peak_in_flight == 1


@pytest.mark.parametrize("bad", [{"dist": "gamma"}, {"dist": "uniform", "min": 1},
                                 {"dist": "exponential", "mean": 1, "rate": 2},
                                 {"dist": "uniform", "min": 2, "max": 1}])
def test_bad_distribution_specs_are_rejected(bad: dict) -> None:
    with pytest.raises(DistributionError):
        make_sampler(bad)


@pytest.mark.parametrize(("old", "key", "use"), [
    ({"dist": "constant", "value": 1}, "dist", "fixed"),
    ({"dist": "uniform", "low": 1, "high": 2}, "low", "min"),
    ({"dist": "lognormal", "mean": 1, "sigma": 0.5}, "sigma", "sd"),
    ({"dist": "lognormal", "mu": 0, "sd": 0.5}, "mu", "mean"),
])
def test_old_spellings_are_refused_with_the_word_to_use(old: dict, key: str, use: str) -> None:
    with pytest.raises(DistributionError) as info:
        make_sampler(old)
    assert info.value.key == key and f"did you mean {use!r}?" in info.value.reason


def test_capacity_queues_calls_in_order() -> None:
    sim = Simulation(1)
    svc = Service(sim, "api", latency=1.0, capacity=2)
    procs = [call(sim, svc) for _ in range(5)]
    sim.run()
    assert [p.value for p in procs] == [("ok", 1.0), ("ok", 1.0), ("ok", 2.0), ("ok", 2.0),
                                        ("ok", 3.0)]
    assert svc.peak_in_flight == 2 and svc.in_flight == 0


def test_capacity_rejects_when_full() -> None:
    sim = Simulation(1)
    svc = Service(sim, "api", latency=1.0, capacity=1, on_full="reject")
    procs = [call(sim, svc), call(sim, svc), call(sim, svc, at=1.5)]
    sim.run()
    assert [p.value for p in procs] == [("ok", 1.0), ("ServiceUnavailable", 0.0),
                                        ("ok", 2.5)]
    assert svc.rejected == 1 and svc.errors == 1


def test_outage_error_fails_at_once_then_heals() -> None:
    sim = Simulation(1)
    svc = Service(sim, "api", latency=1.0)
    svc.set_outage("error")
    first = call(sim, svc, key="k", effect=True)
    sim.run()
    svc.clear_outage()
    second = call(sim, svc, key="k", effect=True)
    sim.run()
    assert first.value == ("ServiceError", 0.0)
    assert second.value == ("ok", 1.0)
    assert effects(sim) == [("j", "k", "api", True)]


@pytest.mark.parametrize("took_effect", [False, True])
def test_outage_timeout_waits_then_raises(took_effect: bool) -> None:
    sim = Simulation(1)
    svc = Service(sim, "api", latency=1.0, effect_on_timeout=took_effect)
    svc.set_outage("timeout", timeout_s=7.0)
    proc = call(sim, svc, key="pay:1", effect=True)
    sim.run()
    assert proc.value == ("ServiceTimeout", 7.0)
    assert svc.timeouts == 1
    assert effects(sim) == ([("j", "pay:1", "api", True)] if took_effect else [])


def test_outage_timeout_is_cut_by_the_client_timeout() -> None:
    sim = Simulation(1)
    svc = Service(sim, "api", latency=1.0, timeout=2.0)
    svc.set_outage("timeout", timeout_s=30.0)
    proc = call(sim, svc)
    sim.run()
    assert proc.value == ("ServiceTimeout", 2.0)


def test_hang_never_returns_until_interrupted_and_frees_its_slot() -> None:
    sim = Simulation(1)
    svc = Service(sim, "api", latency=1.0, capacity=1, timeout=5.0)
    svc.set_outage("hang")
    hung = call(sim, svc, key="k", effect=True)
    sim.run(until=10_000)
    assert hung.is_alive and svc.in_flight == 1
    svc.clear_outage()  # a hung connection stays hung
    sim.run(until=20_000)
    assert hung.is_alive
    hung.interrupt("crash")
    sim.run(until=20_001)
    assert hung.value == ("interrupted", 20_000)
    assert svc.in_flight == 0
    after = call(sim, svc)
    sim.run()
    assert after.value == ("ok", 20_002.0)
    assert effects(sim) == []


def test_client_timeout_on_slow_calls_and_on_queueing() -> None:
    sim = Simulation(1)
    svc = Service(sim, "api", latency=3.0, capacity=1, timeout=4.0)
    first, second = call(sim, svc), call(sim, svc)
    sim.run()
    assert first.value == ("ok", 3.0)
    assert second.value == ("ServiceTimeout", 4.0)  # 3 s queueing + 3 s latency > 4 s
    svc.set_extra_latency(2.0)
    third = call(sim, svc)
    sim.run()
    assert third.value == ("ServiceTimeout", 8.0)
    assert svc.timeouts == 2 and svc.in_flight == 0


def test_error_rate_fails_the_expected_share_without_shifting_latencies() -> None:
    def durations(p: float) -> list[tuple[str, float]]:
        sim = Simulation(9)
        svc = Service(sim, "api", latency={"dist": "exponential", "mean": 1.0})
        svc.set_error_rate(p)
        procs = [call(sim, svc, at=i * 100.0) for i in range(1000)]
        sim.run()
        return [(p.value[0], p.value[1] - i * 100.0) for i, p in enumerate(procs)]

    clean, faulty = durations(0.0), durations(0.3)
    failures = sum(outcome == "ServiceError" for outcome, _ in faulty)
    assert 240 <= failures <= 360
    assert [d for _, d in clean] == pytest.approx([d for _, d in faulty])
    with pytest.raises(ValueError):
        Service(Simulation(1), "x").set_error_rate(1.5)


def test_effect_needs_a_key() -> None:
    sim = Simulation(1)
    svc = Service(sim, "api")
    with pytest.raises(ValueError):
        next(svc.call("j", "op", effect=True))


def test_payment_dedupes_by_idempotency_key_within_the_window() -> None:
    sim = Simulation(1)
    pay = keyed(sim, latency=0.5, dedupe_window_s=100.0)
    kw = {"op": "capture", "key": "payment:1", "effect": True, "idempotency_key": "capture:1"}
    first = call(sim, pay, "j1", **kw)
    repeat = call(sim, pay, "j2", at=10.0, **kw)
    later = call(sim, pay, "j3", at=200.0, **kw)
    no_key = call(sim, pay, "j4", at=300.0, op="capture", key="payment:1", effect=True)
    sim.run()
    assert [p.value[0] for p in (first, repeat, later, no_key)] == ["ok", "replayed", "ok", "ok"]
    assert [e[0] for e in effects(sim)] == ["j1", "j3", "j4"]
    assert pay.replays == 1


def test_payment_concurrent_same_key_conflicts() -> None:
    sim = Simulation(1)
    pay = keyed(sim, latency=1.0)
    kw = {"op": "capture", "key": "p", "effect": True, "idempotency_key": "c"}
    a, b = call(sim, pay, "a", **kw), call(sim, pay, "b", at=0.5, **kw)
    sim.run()
    assert a.value == ("ok", 1.0)
    assert b.value == (IdempotencyConflict.__name__, 0.5)


def test_failed_payment_is_not_remembered_but_a_timed_out_one_that_took_effect_is() -> None:
    sim = Simulation(1)
    pay = keyed(sim, latency=1.0, timeout=5.0, effect_on_timeout=True)
    kw = {"op": "capture", "key": "payment:1", "effect": True, "idempotency_key": "capture:1"}
    pay.set_error_rate(1.0)
    failed = call(sim, pay, "a", **kw)
    sim.run()
    pay.set_error_rate(0.0)
    pay.set_outage("timeout")
    timed_out = call(sim, pay, "b", **kw)
    sim.run()
    pay.clear_outage()
    retried = call(sim, pay, "c", **kw)
    sim.run()
    assert [p.value[0] for p in (failed, timed_out, retried)] == [
        "ServiceError", "ServiceTimeout", "replayed"]
    assert effects(sim) == [("b", "payment:1", "payment", True)]


def test_without_idempotency_key_a_timed_out_capture_is_duplicated_by_the_retry() -> None:
    sim = Simulation(1)
    pay = keyed(sim, latency=1.0, timeout=5.0, effect_on_timeout=True)
    pay.set_outage("timeout")
    call(sim, pay, "a", op="capture", key="payment:1", effect=True)
    sim.run()
    pay.clear_outage()
    call(sim, pay, "a", op="capture", key="payment:1", effect=True)
    sim.run()
    assert [e[1] for e in effects(sim)] == ["payment:1", "payment:1"]


def test_calls_per_second_series_only_when_tracking() -> None:
    sim = Simulation(1)
    svc = Service(sim, "api", latency=0.0, track_load=True)
    for t in (0.1, 0.2, 2.5):
        call(sim, svc, at=t)
    sim.run()
    assert svc.calls_per_second_series() == [2, 0, 1]
    with pytest.raises(RuntimeError):
        Service(sim, "other").calls_per_second_series()


def test_streams_are_made_on_first_use_and_draw_as_if_made_at_build() -> None:
    """A service seeds its latency and error streams on first use; the numbers are
    those of the named streams, and an unused service seeds none."""
    from jobsim.sim.streams import derive_seed

    sim = Simulation(5)
    used, idle = Service(sim, "email"), Service(sim, "fraud")
    assert "_rng" not in vars(used) and "_faults" not in vars(idle)
    expect = random.Random(derive_seed(5, "service.email"))
    assert [used._rng.random() for _ in range(3)] == [expect.random() for _ in range(3)]
    assert used._faults is sim.streams["service.email.faults"]
    assert "service.fraud" not in sim.streams.names()
    with pytest.raises(AttributeError, match="no attribute '_nope'"):
        _ = idle._nope
