"""The poller: interval distribution, first-poll window, due promotion to the back."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from jobsim.broker.base import RETRY, SCHEDULE
from jobsim.system import Job, JobSystem

from .conftest import Build, Events

CHI2_9DF_001 = 27.877      # chi-square critical value, 9 degrees of freedom, p = 0.001


class SchedTickJob(Job):
    def perform(self, label: str) -> Any:
        yield self.sleep(1)


def uniform_fit(samples: list[float], lo: float, hi: float, bins: int = 10) -> float:
    counts = [0] * bins
    for x in samples:
        counts[min(int((x - lo) / (hi - lo) * bins), bins - 1)] += 1
    expected = len(samples) / bins
    return sum((c - expected) ** 2 / expected for c in counts)


@pytest.mark.parametrize(("processes", "avg", "lo", "hi"), [
    (3, None, 7.5, 22.5),       # below 10 processes: U(0.5 I, 1.5 I), I = 5 s x 3
    (10, None, 0.0, 100.0),     # from 10 up: U(0, 2 I), I = 5 s x 10
    (12, 4.0, 0.0, 8.0),        # a configured average replaces 5 s x processes
    (2, 30.0, 15.0, 45.0),
])
def test_poll_interval_distribution(build: Build, processes: int, avg: float | None,
                                    lo: float, hi: float) -> None:
    _, system = build(start=False, processes=processes, poll_interval_avg=avg)
    poller = system.workers[0].poller
    samples = [poller.interval() for _ in range(20_000)]
    assert lo <= min(samples) < lo + 0.01 * (hi - lo)
    hi_seen = max(samples)
    assert hi - 0.01 * (hi - lo) < hi_seen <= hi
    assert sum(samples) / len(samples) == pytest.approx((lo + hi) / 2, rel=0.02)
    assert uniform_fit(samples, lo, hi) < CHI2_9DF_001


def record_polls(system: JobSystem) -> dict[str, list[float]]:
    """Wrap every poller's enqueue_due to log when it ran."""
    log: dict[str, list[float]] = {}
    for worker in system.workers:
        poller, times = worker.poller, log.setdefault(worker.id, [])

        def logged(poller: Any = poller, times: list[float] = times) -> int:
            times.append(system.sim.now)
            return type(poller).enqueue_due(poller)

        poller.enqueue_due = logged  # type: ignore[method-assign]
    return log


def test_first_poll_window_and_gaps_in_a_run(build: Build) -> None:
    sim, system = build(start=False, processes=20, concurrency=1)
    log = record_polls(system)
    system.start()
    sim.run(until=2000)
    firsts = [times[0] for times in log.values()]
    assert all(10 <= t <= 15 for t in firsts)      # Sidekiq's initial_wait: 10 + U(0, 5)
    assert len(set(firsts)) == 20                  # not in lockstep
    assert max(firsts) - min(firsts) > 2
    gaps = [b - a for times in log.values() for a, b in pairwise(times)]
    assert all(0 <= g <= 200 for g in gaps)        # U(0, 2 x 100 s) at 20 processes
    assert sum(gaps) / len(gaps) == pytest.approx(100, rel=0.15)


def test_a_configured_average_skips_the_ten_second_wait(build: Build) -> None:
    """Sidekiq waits 10 s for heartbeats only when the average depends on the process
    count; with poll_interval_average set, the first poll is after U(0, 5) s."""
    sim, system = build(start=False, processes=4, concurrency=1, poll_interval_avg=20.0)
    log = record_polls(system)
    system.start()
    sim.run(until=100)
    firsts = [times[0] for times in log.values()]
    assert all(0 <= t <= 5 for t in firsts)


def test_cluster_polls_about_every_five_seconds(build: Build) -> None:
    sim, system = build(start=False, processes=4, concurrency=1)
    log = record_polls(system)
    system.start()
    sim.run(until=4000)
    polls = sum(len(times) for times in log.values())
    assert polls == pytest.approx(4000 / 5, rel=0.1)
    for times in log.values():
        gaps = [b - a for a, b in pairwise(times)]
        assert all(10 <= g <= 30 for g in gaps)    # U(0.5 I, 1.5 I), I = 20 s


def test_due_job_is_promoted_to_the_back_of_its_queue(build: Build, events: Events) -> None:
    sim, system = build(start=False)
    scheduled = system.client.perform_in(10, SchedTickJob, "late")
    later = system.client.perform_in(100, SchedTickJob, "later")
    first, second = system.client.push_bulk(SchedTickJob, [["a"], ["b"]])
    sim.run(until=20)
    assert system.workers[0].poller.enqueue_due() == 1
    queued = system.broker.queue_items("default")
    assert [p["jid"] for p in queued] == [first, second, scheduled]
    assert "at" not in queued[-1] and queued[-1]["enqueued_at"] == 20
    assert events(sim, "promote") == [(20, "promote", scheduled, "default", "schedule")]
    assert [p["jid"] for _, p in system.broker.zitems(SCHEDULE)] == [later]
    assert system.lifecycle.get(scheduled) == "enqueued"


def test_promotion_of_an_unowned_entry_is_a_copy(build: Build, events: Events) -> None:
    sim, system = build(start=False)
    jid = system.client.perform_async(SchedTickJob, "x")
    payload = system.broker.queue_items("default")[0]
    system.broker.zadd(RETRY, 5, {**payload, "retry_count": 0})   # a stray duplicate
    sim.run(until=6)
    system.workers[0].poller.enqueue_due()
    assert events(sim, "copy") == [(6, "copy", jid, "default", "retry")]
    assert events(sim, "promote") == []
    assert system.broker.queue_size("default") == 2


def test_scheduled_job_runs_after_due_within_a_poll(build: Build, events: Events) -> None:
    sim, system = build(processes=2, concurrency=2)
    jids = [system.client.perform_at(30 + 7 * i, SchedTickJob, str(i)) for i in range(20)]
    sim.run(until=500)
    bound = 1.5 * system.config.poll_average
    for i, jid in enumerate(jids):
        (start,) = events(sim, "start", jid)
        assert 30 + 7 * i <= start[0] <= 30 + 7 * i + bound


def test_skewed_clock_promotes_early(build: Build, events: Events) -> None:
    sim, system = build(processes=1, concurrency=1)
    system.workers[0].skew = 50.0
    jid = system.client.perform_at(100, SchedTickJob, "x")
    sim.run(until=200)
    ((t, *_),) = events(sim, "promote", jid)
    assert 50 <= t <= 50 + 1.5 * system.config.poll_average


def test_one_poll_moves_everything_due(build: Build, events: Events) -> None:
    """Sidekiq's Enq loops until nothing is due: a retry storm is not rationed per poll."""
    sim, system = build(start=False)
    jids = system.client.push_bulk(SchedTickJob, [[str(i)] for i in range(2500)], at=10)
    sim.run(until=11)
    assert system.workers[0].poller.enqueue_due() == 2500
    assert system.broker.zsize(SCHEDULE) == 0
    assert [p["jid"] for p in system.broker.queue_items("default")] == [
        e[2] for e in events(sim, "promote")]
    assert len(set(jids)) == 2500
