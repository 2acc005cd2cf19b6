"""Binning of a run's history: states over time, queue depth, waits, counters, faults."""

from __future__ import annotations

from jobsim.history.history import History
from jobsim.report import timeseries

NONE = None


def test_end_time_and_bin_width_come_from_the_horizon(history: History) -> None:
    series = timeseries.build(history, bins=10)
    assert timeseries.end_time(history) == 100.0
    assert series.width == 10.0
    assert series.queues == ["critical", "default"]  # configured order


def test_states_over_time_count_jobs_per_state_at_each_bin_end(history: History) -> None:
    s = timeseries.build(history, bins=10).states
    assert s["enqueued"] == [3, 1, 1, 2, 1, 0, 0, 0, 0, 0]
    assert s["processing"] == [0] * 10          # every start ended within its bin
    assert s["retrying"] == [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert s["succeeded"] == [0, 1, 1, 1, 2, 2, 2, 2, 2, 2]  # the dup run changes nothing
    assert s["discarded"] == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    totals = [sum(s[name][i] for name in s) for i in range(10)]
    assert totals == [3] * 10                   # a job is in exactly one state


def test_queue_depth_is_the_peak_within_each_bin(history: History) -> None:
    d = timeseries.build(history, bins=10).depth
    # default: a and b wait; a leaves at 12, comes back at 35, leaves at 41; b goes at 55
    assert d["default"] == [2, 2, 1, 2, 2, 1, 0, 0, 0, 0]
    # critical: c waits, starts at 13; its duplicate copy waits 17..22
    assert d["critical"] == [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]


def test_waits_land_in_the_bin_of_the_start(history: History) -> None:
    lat = timeseries.build(history, bins=10).latency
    assert lat["default"][50][:5] == [NONE, 11.0, NONE, NONE, 6.0]
    assert lat["critical"][99][:3] == [NONE, 10.0, 5.0]   # the copy waited 17 -> 22


def test_counters_and_duplicates(history: History) -> None:
    c = timeseries.build(history, bins=10).counts
    assert c["executions"][:5] == [0, 2, 1, 0, 1]
    assert c["failures"][1] == c["retries"][1] == 1
    assert c["retried"] == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert c["effects"][:3] == [0, 1, 1]
    assert c["dup_effects"] == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert c["dup_runs"] == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]


def test_fault_windows_and_crashes(history: History) -> None:
    series = timeseries.build(history, bins=10)
    assert series.faults == [(50.0, 70.0, "latency payments")]
    assert series.crashes == [60.0]


def test_an_unhealed_fault_runs_to_the_end() -> None:
    history = History([
        (0.0, "config", None, {"queues": [["default", 1]]}),
        (5.0, "fault_start", None, "partition", "db", {}),
        (40.0, "horizon", None),
    ])
    assert timeseries.build(history, bins=4).faults == [(5.0, 40.0, "partition db")]


def test_percentiles_are_nearest_rank() -> None:
    events = [(0.0, "config", None, {"queues": [["q", 1]]})]
    for i in range(100):                       # waits 1..100 s, all started in bin 0
        events.append((0.0, "enqueue", f"j{i}", "q", "Job", True, True))
        events.append((float(i + 1), "start", f"j{i}", "q", "p0", 1, 0))
    events.append((1000.0, "horizon", None))
    lat = timeseries.build(History(events), bins=2).latency["q"]
    assert (lat[50][0], lat[95][0], lat[99][0]) == (50.0, 95.0, 99.0)
    assert lat[50][1] is None


def test_a_deferred_or_scheduled_job_waits_under_its_own_class() -> None:
    """A capture deferred until its authorization, or a job pushed with perform_in,
    is born by a defer or schedule event: the wait-per-class chart names its class,
    never "(unknown)"."""
    history = History([
        (0.0, "config", None, {"queues": [["q", 1]]}),
        (0.0, "enqueue", "a", "q", "Authorize", 10, True, [{}]),
        (0.0, "defer", "c", "q", "Capture", 10, ["a"], [{}]),
        (0.0, "schedule", "s", "q", "Remind", 10, True, 5.0, [{}]),
        (1.0, "start", "a", "q", "p0", 1, 0),
        (2.0, "success", "a", 0),
        (2.0, "release", "c", "q"),
        (3.0, "start", "c", "q", "p0", 1, 0),
        (5.0, "promote", "s", "q", "schedule"),
        (6.0, "start", "s", "q", "p0", 1, 0),
        (10.0, "horizon", None),
    ])
    waits = timeseries.build(history, bins=1).class_latency
    assert sorted(waits) == ["Authorize", "Capture", "Remind"]
    assert waits["Capture"][99] == [1.0] and waits["Remind"][99] == [1.0]
