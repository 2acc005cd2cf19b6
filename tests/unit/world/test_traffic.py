"""A service's traffic as running-total gauges, and the report's per-bin reading of them."""

from __future__ import annotations

from jobsim.history.history import History
from jobsim.report import timeseries
from jobsim.sim.simulation import Simulation
from jobsim.world.resources import Sampler
from jobsim.world.services import Service
from jobsim.world.traffic import Traffic

from .test_services import call


def test_gauges_are_running_totals_and_the_longest_call_per_interval() -> None:
    sim = Simulation(0)
    svc = Service(sim, "pay", latency=1.0, timeout=2.5)
    traffic = Traffic([svc, Service(sim, "idle", latency=1.0)])
    sampler = Sampler(sim, [traffic.gauges], interval=10.0)
    call(sim, svc, at=1.0)                       # 1 s
    sim.run(until=5.0)
    svc.set_extra_latency(2.0)              # 3 s: past the 2.5 s client timeout
    call(sim, svc, at=12.0)
    sim.run(until=35.0)
    sampler.final()                              # the end: every gauge once more
    samples = [(e[0], e[3], e[4]) for e in sim.history.of_kind("sample")]
    assert not any("idle" in name for _, name, _ in samples)      # never called: nothing
    at = {(t, name): v for t, name, v in samples}
    assert at[(10.0, "traffic.pay.calls")] == 1
    assert at[(10.0, "traffic.pay.latency_total_s")] == 1.0
    assert at[(20.0, "traffic.pay.calls")] == 2
    assert at[(20.0, "traffic.pay.timeouts")] == 1
    assert at[(20.0, "traffic.pay.latency_total_s")] == 3.5       # 1 + 2.5 (timed out)
    assert at[(20.0, "traffic.pay.latency_max_s")] == 2.5
    assert (30.0, "traffic.pay.calls") not in at                  # unchanged: not recorded
    assert at[(35.0, "traffic.pay.calls")] == 2


def test_the_report_reads_calls_and_mean_duration_per_bin() -> None:
    events = [(0.0, "config", None, {"queues": ["default"]})]
    for t, calls, total in ((10.0, 4, 2.0), (20.0, 4, 2.0), (30.0, 10, 20.0)):
        events += [(t, "sample", None, f"traffic.pay.{k}", v) for k, v in
                   (("calls", calls), ("ended", calls), ("latency_total_s", total))]
    series = timeseries.build(History([*events, (30.0, "horizon", None)]), bins=3)
    pay = series.services["pay"]
    assert pay["calls"] == [4, 0, 6]
    assert pay["latency_mean_s"] == [0.5, None, 3.0]     # (20 - 2) / (10 - 4)
