"""jobsim's rq flavour against a real RQ ``SimpleWorker`` (rq 2.x) on fakeredis.

One job that always raises, enqueued with ``Retry(max, interval)``. The real side runs
``SimpleWorker.work(burst=True)`` until the queue is empty, reads which registry holds
the job (and its score in the ScheduledJobRegistry), then moves the clock to that score
and lets RQ's own ``RQScheduler.enqueue_scheduled_jobs`` put the job back, and repeats.
RQ reads the time through ``rq.utils.now`` / ``current_timestamp``; the test replaces
the names ``rq.job``, ``rq.registry`` and ``rq.scheduler`` imported with one fake clock
that only moves when the test moves it, so the offsets are exact whole seconds.

The jobsim side runs the same job in simulated time and reads the same sequence from
its history: after each failure, scheduled (with the retry delay) or failed. Negative
controls: the same comparison with jobsim's rule changed (the last interval repeating
instead of the first; failures discarded instead of kept in the failed registry) must
disagree with RQ.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from needs import need

from jobsim.broker import make_broker
from jobsim.sim.simulation import Simulation
from jobsim.system import Job, JobSystem, SystemConfig
from jobsim.system.flavors import FlavorConfig, RQOptions
from jobsim.system.flavors.rq import RQRetry

State = tuple[str, int | None, int | None]   # (registry, scheduled offset, retries_left)


class AlwaysDivides(Job):
    """Raises ZeroDivisionError at once, as ``operator.truediv(1, 0)`` does in RQ."""

    def perform(self, *args: Any) -> None:
        raise ZeroDivisionError("division by zero")


class _Clock:
    def __init__(self) -> None:
        self.t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        return self.t

    def timestamp(self) -> int:
        return int(self.t.timestamp())


def rq_states(monkeypatch: pytest.MonkeyPatch, retry_max: int,
              interval: list[int]) -> list[State]:
    """The registry holding the job after each burst of the real worker."""
    try:
        import fakeredis
        import rq.job
        import rq.registry
        import rq.scheduler
        from rq import Queue, Retry, SimpleWorker
    except ImportError:
        need(False, "rq is not installed: make install (its dev extras) installs it")
    clock = _Clock()
    for module in (rq.job, rq.registry, rq.scheduler):
        if hasattr(module, "now"):
            monkeypatch.setattr(module, "now", clock.now)
        if hasattr(module, "current_timestamp"):
            monkeypatch.setattr(module, "current_timestamp", clock.timestamp)
    conn = fakeredis.FakeRedis()
    queue = Queue("default", connection=conn)
    import operator
    job = queue.enqueue(operator.truediv, 1, 0, retry=Retry(max=retry_max, interval=interval))
    scheduler = rq.scheduler.RQScheduler([queue], connection=conn)
    states: list[State] = []
    for _ in range(retry_max + 2):
        SimpleWorker([queue], connection=conn).work(burst=True, with_scheduler=False)
        job.refresh()
        scheduled = queue.scheduled_job_registry
        if job.id in scheduled:
            score = int(conn.zscore(scheduled.key, job.id))
            states.append(("scheduled", score - clock.timestamp(), job.retries_left))
            clock.t = dt.datetime.fromtimestamp(score, dt.UTC)
            scheduler.acquire_locks()
            scheduler.enqueue_scheduled_jobs()
        elif job.id in queue.failed_job_registry:
            states.append(("failed", None, job.retries_left))
            break
        else:
            states.append(("queued" if job.id in queue.job_ids else "elsewhere", None,
                           job.retries_left))
    return states


def jobsim_states(retry_max: int, interval: list[int], retry: type[RQRetry] = RQRetry,
                  broker: str = "memory") -> list[State]:
    """The same sequence from a run of jobsim's rq flavour."""
    sim = Simulation(seed=3)
    opts = RQOptions(retry_max=retry_max, retry_interval=tuple(interval))
    system = JobSystem(sim, make_broker(broker),
                       SystemConfig(concurrency=1, flavor=FlavorConfig("rq", rq=opts)))
    system.retry = retry(system, opts)
    system.start()
    jid = system.client.perform_async(AlwaysDivides)
    sim.run(until=sum(interval) * retry_max + 60)
    states: list[State] = []
    for event in sim.history.events:
        if event[2] != jid:
            continue
        if event[1] == "retry":
            _, _, _, count, delay, _due, _policy, limit = event
            states.append(("scheduled", int(delay), limit - count - 1))
        elif event[1] == "dead":
            states.append(("failed" if event[3] == "failed" else event[3], None, 0))
    return states


CASES = [(3, [1, 2, 3]), (5, [1, 2, 3]), (2, [4]), (4, [2, 7])]


@pytest.mark.parametrize(("retry_max", "interval"), CASES)
def test_registry_states_and_offsets_match_a_real_simple_worker(
        monkeypatch: pytest.MonkeyPatch, retry_max: int, interval: list[int]) -> None:
    real = rq_states(monkeypatch, retry_max, interval)
    assert real[-1][0] == "failed" and len(real) == retry_max + 1
    assert jobsim_states(retry_max, interval) == real


def test_the_fakeredis_broker_gives_the_same_sequence(monkeypatch: pytest.MonkeyPatch) -> None:
    real = rq_states(monkeypatch, 3, [1, 2, 3])
    assert jobsim_states(3, [1, 2, 3], broker="fakeredis") == real


class _LastRepeats(RQRetry):
    """The rule changed: intervals[min(count, len - 1)], the last interval repeating."""

    def __init__(self, system: Any, opts: RQOptions) -> None:
        super().__init__(system, opts)
        from jobsim import backoff
        self.schedule = backoff.policy("fixed", intervals=opts.retry_interval)


class _DiscardsFailures(RQRetry):
    """The rule changed: a job out of retries is discarded, not kept as failed."""

    def settle(self, failed: Any, exc: Any, now: float, reason: str) -> None:
        left = failed.get("retries_left", self.opts.retry_max)
        if left > 0:
            self._retry(failed, left, now)
        else:
            self.system.dead.discard(failed, "discard", exc)


@pytest.mark.parametrize("changed", [_LastRepeats, _DiscardsFailures])
def test_negative_control_a_changed_rule_disagrees_with_rq(
        monkeypatch: pytest.MonkeyPatch, changed: type[RQRetry]) -> None:
    real = rq_states(monkeypatch, 5, [1, 2, 3])
    assert jobsim_states(5, [1, 2, 3], retry=changed) != real
