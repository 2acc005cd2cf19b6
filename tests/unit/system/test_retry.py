"""Retries: the retry option, retry_in decisions, recorded delays and their bounds."""

from __future__ import annotations

from typing import Any

import pytest

from jobsim import backoff
from jobsim.broker.base import DEAD, RETRY
from jobsim.sim.simulation import Simulation
from jobsim.system import Job

from .conftest import Build, Events

FAST = {"processes": 1, "concurrency": 2, "poll_interval_avg": 2.0}


class RetryAlwaysFailsJob(Job):
    backoff = "exponential:base=1,cap=1"

    def perform(self) -> Any:
        yield self.sleep(0.5)
        raise ValueError("always")


class RetryNoDeadJob(RetryAlwaysFailsJob):
    retry = 2
    dead = False


class RetryDecidesJob(Job):
    """retry_in returns whatever the first argument says (seconds, 'kill', 'discard')."""

    retry = 3
    backoff = "exponential:base=1,cap=1"

    def perform(self, decision: Any) -> Any:
        yield self.sleep(0.5)
        raise KeyError("nope")

    def retry_in(self, count: int, exc: BaseException) -> Any:
        decision = self.args[0]
        if decision == "raise":
            raise RuntimeError("broken retry_in")
        return decision + count if isinstance(decision, int) else decision


class RetrySidekiqDefaultJob(Job):
    retry = 3

    def perform(self) -> Any:
        yield self.sleep(0.1)
        raise ConnectionError("flaky")


class RetryTenSecondsJob(Job):
    retry = 1
    backoff = "exponential:base=10,cap=10"

    def perform(self) -> Any:
        yield self.sleep(0.1)
        raise TimeoutError("slow")


class RetryJitteredJob(RetryTenSecondsJob):
    jitter = 0.5


def canon(spec: str) -> str:
    """The canonical spelling the system records (defaults spelled out, keys sorted)."""
    return backoff.parse(spec).spec()


def job_kinds(sim: Simulation, jid: str) -> list[str]:
    return [e[1] for e in sim.history if e[2] == jid]


@pytest.mark.parametrize(("option", "executions", "final", "reason"), [
    (True, 26, "dead", "exhausted"),
    (4, 5, "dead", "exhausted"),
    (0, 1, "dead", "exhausted"),
    (False, 1, "discard", "retry_false"),
])
def test_retry_option_sets_executions_and_final_state(
        build: Build, events: Events, option: Any, executions: int, final: str,
        reason: str) -> None:
    sim, system = build(**FAST)
    jid = system.client.perform_async(RetryAlwaysFailsJob, retry=option)
    sim.run(until=2000)
    assert [e[5] for e in events(sim, "start", jid)] == list(range(1, executions + 1))
    assert [e[3:6] for e in events(sim, "failure", jid)] == [
        ("ValueError", n, 0) for n in range(1, executions + 1)]
    retries = events(sim, "retry", jid)
    assert [e[3] for e in retries] == list(range(executions - 1))
    limit = 25 if option is True else int(option)
    assert all(e[7] == limit for e in retries)
    assert job_kinds(sim, jid)[-1] == final
    assert events(sim, final, jid)[0][3] == reason
    in_dead = [p["jid"] for _, p in system.broker.zitems(DEAD)]
    assert in_dead == ([jid] if final == "dead" else [])
    assert system.broker.zsize(RETRY) == 0


def test_retries_are_promoted_and_run_again(build: Build, events: Events) -> None:
    sim, system = build(**FAST)
    jid = system.client.perform_async(RetryAlwaysFailsJob, retry=2)
    sim.run(until=500)
    assert job_kinds(sim, jid) == [
        "enqueue", "start", "failure", "retry", "promote", "start", "failure", "retry",
        "promote", "start", "failure", "dead"]
    assert {e[4] for e in events(sim, "promote", jid)} == {"retry"}


def test_dead_false_discards_when_exhausted(build: Build, events: Events) -> None:
    sim, system = build(**FAST)
    jid = system.client.perform_async(RetryNoDeadJob)
    sim.run(until=500)
    assert len(events(sim, "start", jid)) == 3
    assert events(sim, "discard", jid)[0][3] == "dead_false"
    assert system.broker.zsize(DEAD) == 0
    assert system.lifecycle.get(jid) == "discarded"


class RetryInSidekiqJob(RetryDecidesJob):
    """retry_in seconds on the default policy (Sidekiq 8.x)."""

    backoff = "sidekiq"


class RetryInSidekiq7Job(RetryDecidesJob):
    backoff = "sidekiq_7"


class RetryInLegacyJob(RetryDecidesJob):
    backoff = "sidekiq_6_2_1"


@pytest.mark.parametrize(("cls", "rule", "width"), [
    (RetryInSidekiqJob, "sidekiq", lambda c: 10 * (c + 1) - 1),      # rand(10 * (count+1))
    (RetryInSidekiq7Job, "sidekiq_7", lambda c: 9 * (c + 1)),        # rand(10) * (count+1)
    (RetryInLegacyJob, "sidekiq_6_2_1", lambda c: 0),                # verbatim up to 6.2.1
    (RetryDecidesJob, "sidekiq", lambda c: 10 * (c + 1) - 1),        # non-Sidekiq policy: 8.x
])
def test_retry_in_seconds_get_the_versions_random_term(
        build: Build, events: Events, cls: type[Job], rule: str, width: Any) -> None:
    sim, system = build(**FAST)
    jid = system.client.perform_async(cls, 40)
    sim.run(until=2000)
    retries = events(sim, "retry", jid)
    assert [(e[3], e[6], e[7]) for e in retries] == [
        (count, f"retry_in:rule={rule},seconds={40 + count}", 3) for count in range(3)]
    for retry in retries:
        count, delay = retry[3], retry[4]
        assert 40 + count <= delay <= 40 + count + width(count)
        assert backoff.parse(retry[6]).bounds(count) == (40 + count, 40 + count + width(count))
    starts = [e[0] for e in events(sim, "start", jid)]
    for retry, next_start in zip(retries, starts[1:], strict=True):
        t, due = retry[0], retry[5]
        assert due == t + retry[4]
        assert due <= next_start <= due + 1.5 * system.config.poll_average
    assert events(sim, "dead", jid)[0][3] == "exhausted"


def test_constant_retry_in_does_not_retry_in_lockstep(build: Build, events: Events) -> None:
    """Forty jobs failing together with retry_in 60 come back spread over Sidekiq's 0-9 s
    (count 0), not all at one instant: the reason Sidekiq adds the random term."""
    sim, system = build(processes=2, concurrency=20, poll_interval_avg=2.0)
    system.client.push_bulk(RetryInSidekiqJob, [[60] for _ in range(40)])
    sim.run(until=200)
    first = [e[4] for e in events(sim, "retry") if e[3] == 0]
    assert len(first) == 40
    assert min(first) >= 60 and max(first) <= 69
    assert len(set(first)) > 5


@pytest.mark.parametrize(("decision", "specs"), [
    (0, ["sidekiq", "retry_in:rule=sidekiq,seconds=1", "retry_in:rule=sidekiq,seconds=2"]),
    (-5, ["sidekiq"] * 3),
    (0.4, ["sidekiq"] * 3),                  # to_i makes it 0
])
def test_retry_in_at_or_below_zero_falls_back_to_the_policy(
        build: Build, events: Events, decision: Any, specs: list[str]) -> None:
    """Sidekiq truncates (to_i) and uses its default formula unless the result is > 0.
    (RetryDecidesJob returns decision + count for ints, the decision itself otherwise.)"""
    sim, system = build(**FAST)
    jid = system.client.perform_async(RetryInSidekiqJob, decision)
    sim.run(until=2000)
    retries = events(sim, "retry", jid)
    assert [e[6] for e in retries] == specs
    for retry in retries:
        lo, hi = backoff.parse(retry[6]).bounds(retry[3])
        assert lo <= retry[4] <= hi


def test_retry_in_float_seconds_are_truncated(build: Build, events: Events) -> None:
    sim, system = build(**FAST)
    jid = system.client.perform_async(RetryInLegacyJob, 30.9)
    sim.run(until=2000)
    retries = events(sim, "retry", jid)
    assert [e[4] for e in retries] == [30.0, 30.0, 30.0]     # 30.9 each time, truncated


@pytest.mark.parametrize(("decision", "final", "reason"), [
    ("kill", "dead", "kill"),
    ("discard", "discard", "discard"),
])
def test_retry_in_kill_and_discard(build: Build, events: Events, decision: str, final: str,
                                   reason: str) -> None:
    sim, system = build(**FAST)
    jid = system.client.perform_async(RetryDecidesJob, decision)
    sim.run(until=100)
    assert len(events(sim, "start", jid)) == 1         # retries were left, none used
    assert events(sim, "retry", jid) == []
    assert events(sim, final, jid)[0][3] == reason
    assert system.broker.zsize(DEAD) == (1 if final == "dead" else 0)


@pytest.mark.parametrize("decision", ["raise", None])
def test_retry_in_error_or_none_falls_back_to_the_policy(
        build: Build, events: Events, decision: Any) -> None:
    sim, system = build(**FAST)
    jid = system.client.perform_async(RetryDecidesJob, decision)
    sim.run(until=200)
    assert [e[6] for e in events(sim, "retry", jid)] == [canon("exponential:base=1,cap=1")] * 3


def test_recorded_delay_is_due_minus_t_and_within_policy_bounds(
        build: Build, events: Events) -> None:
    sim, system = build(processes=2, concurrency=5)
    jids = system.client.push_bulk(RetrySidekiqDefaultJob, [[] for _ in range(40)])
    sim.run(until=2000)
    retries = events(sim, "retry")
    assert len(retries) == 40 * 3
    for t, _, _, count, delay, due, spec, _limit in retries:
        assert spec == "sidekiq"
        assert due - t == pytest.approx(delay, rel=1e-12, abs=1e-9)
        lo, hi = backoff.parse(spec).bounds(count)
        assert lo <= delay <= hi
        assert delay == int(delay)                        # Sidekiq's integer seconds
    by_count = {c: {e[4] for e in retries if e[3] == c} for c in range(3)}
    assert len(by_count[2]) > 5                           # the random part is drawn
    assert all(system.lifecycle.get(j) == "dead" for j in jids)


def test_jitter_widens_the_delay_multiplicatively(build: Build, events: Events) -> None:
    sim, system = build(processes=2, concurrency=10)
    system.client.push_bulk(RetryTenSecondsJob, [[] for _ in range(200)])
    system.client.push_bulk(RetryJitteredJob, [[] for _ in range(200)])
    sim.run(until=200)
    plain = [e for e in events(sim, "retry") if e[6] == canon("exponential:base=10,cap=10")]
    jittered = [e for e in events(sim, "retry") if e not in plain]
    assert {e[4] for e in plain} == {10.0}
    assert len(jittered) == 200
    assert {e[6] for e in jittered} == {canon("exponential:base=10,cap=10,j=0.5")}
    assert backoff.parse(jittered[0][6]).bounds(0) == (5.0, 15.0)
    delays = [e[4] for e in jittered]
    assert all(5.0 <= d <= 15.0 for d in delays)
    assert min(delays) < 5.5 and max(delays) > 14.5       # the whole band is used
    assert sum(delays) / len(delays) == pytest.approx(10.0, abs=0.6)
    for t, _, _, _, delay, due, _, _ in jittered:
        assert due - t == pytest.approx(delay, rel=1e-12)


def test_per_push_jitter_option(build: Build, events: Events) -> None:
    sim, system = build(**FAST)
    system.client.perform_async(RetryTenSecondsJob, jitter=0.2)
    sim.run(until=5)
    ((_, _, _, _, delay, _, spec, _),) = events(sim, "retry")
    assert spec == canon("exponential:base=10,cap=10,j=0.2")
    assert 8.0 <= delay <= 12.0 and delay != 10.0
