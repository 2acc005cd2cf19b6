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


def test_a_bin_shorter_than_the_sampling_interval_shows_the_interval_it_is_in() -> None:
    """A one-minute run has 300 bins of 0.2 s and a sample every 10 s: read at the
    sample's instant, 49 bins in 50 had no call and no duration, and the report's
    duration lines, broken at every gap, were not drawn at all."""
    events = [(0.0, "config", None, {"queues": ["default"]})]
    for t, calls, total, longest in ((10.0, 20, 10.0, 0.9), (20.0, 60, 50.0, 2.0),
                                     (25.0, 70, 60.0, 1.5)):     # the final read, off grid
        events += [(t, "sample", None, f"traffic.pay.{k}", v) for k, v in
                   (("calls", calls), ("ended", calls), ("latency_total_s", total),
                    ("latency_max_s", longest))]
    pay = timeseries.build(History([*events, (25.0, "horizon", None)]), bins=10).services["pay"]
    assert pay["calls"] == [5.0, 5.0, 5.0, 5.0, 10.0, 10.0, 10.0, 10.0, 5.0, 5.0]
    assert pay["latency_mean_s"] == [0.5] * 4 + [1.0] * 4 + [1.0] * 2
    assert pay["latency_max_s"] == [0.9] * 4 + [2.0] * 4 + [1.5] * 2
    assert sum(pay["calls"]) == 70
