"""Fetch: queue selection (strict, weighted, random) and basic vs reliable taking."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from jobsim.broker import MemoryBroker
from jobsim.system import Job
from jobsim.system.config import parse_queues
from jobsim.system.fetch import Fetcher, QueueSelector

from .conftest import Build, Events

# chi-square critical values at p = 0.001 by degrees of freedom
CHI2_CRIT_001 = {1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467}
WEIGHTS = [("critical", 6), ("default", 3), ("low", 1)]


class FetchTinyJob(Job):
    def perform(self) -> Any:
        yield self.sleep(1)


def broker_with(nonempty: Iterable[str]) -> MemoryBroker:
    broker = MemoryBroker()
    for name in nonempty:
        broker.push(name, {"jid": name, "queue": name})
    return broker


def draw(choose: Callable[[], str | None], n: int) -> Counter[str | None]:
    return Counter(choose() for _ in range(n))


def chi2_fit(counts: Counter[Any], probs: dict[str, float]) -> float:
    total = sum(counts.values())
    return sum((counts[k] - total * p) ** 2 / (total * p) for k, p in probs.items())


def chi2_homogeneity(a: Counter[Any], b: Counter[Any]) -> float:
    """Two-sample chi-square: do two draws come from the same distribution?"""
    na, nb = sum(a.values()), sum(b.values())
    stat = 0.0
    for key in set(a) | set(b):
        col = a[key] + b[key]
        for observed, n in ((a[key], na), (b[key], nb)):
            expected = col * n / (na + nb)
            stat += (observed - expected) ** 2 / expected
    return stat


def sidekiq_literal(spec: list[tuple[str, int]], broker: MemoryBroker,
                    rng: random.Random) -> str | None:
    """Sidekiq's BasicFetch#queues_cmd, literally: expand w times, shuffle, uniq, first
    non-empty (BRPOP takes from the first listed queue that has work)."""
    expanded = [name for name, weight in spec for _ in range(weight)]
    rng.shuffle(expanded)
    order = list(dict.fromkeys(expanded))
    return next((q for q in order if broker.queue_size(q)), None)


def test_strict_always_takes_the_first_nonempty_queue() -> None:
    spec, mode = parse_queues(["critical", "default", "low"])
    assert mode == "strict"
    selector = QueueSelector(spec, mode, random.Random(1))
    assert draw(lambda: selector.choose(broker_with(["critical", "low"])), 500) == {
        "critical": 500}
    assert selector.choose(broker_with(["default", "low"])) == "default"
    assert selector.choose(broker_with([])) is None


def test_strict_starves_lower_queue_in_a_run(build: Build, events: Events) -> None:
    sim, system = build(start=False, processes=1, concurrency=1, queues=["critical", "default"])
    system.client.push_bulk(FetchTinyJob, [[] for _ in range(5)], queue="default")
    system.client.push_bulk(FetchTinyJob, [[] for _ in range(5)], queue="critical")
    system.start()
    sim.run(until=100)
    order = [e[3] for e in events(sim, "start")]
    assert order == ["critical"] * 5 + ["default"] * 5


def test_weighted_shares_match_weights() -> None:
    spec, mode = parse_queues([list(q) for q in WEIGHTS])
    assert mode == "weighted"
    selector = QueueSelector(spec, mode, random.Random(11))
    broker = broker_with(["critical", "default", "low"])
    counts = draw(lambda: selector.choose(broker), 30_000)
    probs = {"critical": 0.6, "default": 0.3, "low": 0.1}
    assert chi2_fit(counts, probs) < CHI2_CRIT_001[2]
    for name, p in probs.items():
        assert abs(counts[name] / 30_000 - p) < 0.015


def test_all_weights_one_is_uniform() -> None:
    spec, mode = parse_queues([["a", 1], ["b", 1], ["c", 1], ["d", 1]])
    assert mode == "random"
    selector = QueueSelector(spec, mode, random.Random(5))
    broker = broker_with(["a", "b", "c", "d"])
    counts = draw(lambda: selector.choose(broker), 20_000)
    assert chi2_fit(counts, dict.fromkeys("abcd", 0.25)) < CHI2_CRIT_001[3]


def test_a_wrong_distribution_fails_the_fit() -> None:
    """The statistical check is not vacuous: strict order fails the weighted fit."""
    spec, _ = parse_queues([list(q) for q in WEIGHTS])
    selector = QueueSelector(spec, "strict", random.Random(1))
    broker = broker_with(["critical", "default", "low"])
    counts = draw(lambda: selector.choose(broker), 3_000)
    assert chi2_fit(counts, {"critical": 0.6, "default": 0.3, "low": 0.1}) > 1_000


@pytest.mark.parametrize("nonempty", [
    ["critical", "default", "low"], ["default", "low"], ["critical", "low"], ["low"], [],
])
def test_selector_distribution_equals_sidekiq_literal(nonempty: list[str]) -> None:
    spec = list(WEIGHTS)
    selector = QueueSelector(spec, "weighted", random.Random(21))
    literal_rng = random.Random(22)
    broker = broker_with(nonempty)
    ours = draw(lambda: selector.choose(broker), 20_000)
    theirs = draw(lambda: sidekiq_literal(spec, broker, literal_rng), 20_000)
    assert set(ours) == set(theirs) == (set(nonempty) or {None})
    if len(nonempty) > 1:
        assert chi2_homogeneity(ours, theirs) < CHI2_CRIT_001[len(nonempty) - 1]
        weight = dict(spec)
        live = sum(weight[q] for q in nonempty)
        assert chi2_fit(ours, {q: weight[q] / live for q in nonempty}) < CHI2_CRIT_001[
            len(nonempty) - 1]


def test_mixed_queue_syntax_is_rejected() -> None:
    with pytest.raises(ValueError, match="mix"):
        parse_queues(["a", ["b", 2]])
    with pytest.raises(ValueError, match="at least one"):
        parse_queues([])


def test_config_event_names_the_mode(build: Build, events: Events) -> None:
    sim, _ = build(queues=[["a", 1], ["b", 1]], fetch="reliable")
    ((_, _, _, config),) = events(sim, "config")
    assert config["mode"] == "random" and config["fetch"] == "reliable"
    assert config["queues"] == [["a", 1], ["b", 1]]


def test_basic_fetch_removes_the_job_from_storage() -> None:
    broker = MemoryBroker()
    for i in range(3):
        broker.push("default", {"jid": str(i)})
    fetcher = Fetcher(broker, QueueSelector([("default", 1)], "strict", random.Random(0)),
                      "p0", reliable=False)
    got = fetcher.fetch()
    assert got is not None and got[0]["jid"] == "0" and got[1] == "default"   # FIFO
    assert [p["jid"] for p in broker.queue_items("default")] == ["1", "2"]
    assert broker.private_workers() == []
    fetcher.acknowledge(got[0])
    assert broker.queue_size("default") == 2


def test_reliable_fetch_keeps_the_job_until_acknowledged() -> None:
    broker = MemoryBroker()
    broker.push("default", {"jid": "a"})
    fetcher = Fetcher(broker, QueueSelector([("default", 1)], "strict", random.Random(0)),
                      "p3", reliable=True)
    got = fetcher.fetch()
    assert got is not None
    assert broker.queue_size("default") == 0
    assert [p["jid"] for p in broker.private_items("p3")] == ["a"]
    fetcher.acknowledge(got[0])
    assert broker.private_items("p3") == []
    assert fetcher.fetch() is None


class CountingBroker(MemoryBroker):
    """Counts the storage calls a fetch makes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def pop(self, queue: str) -> Any:
        self.calls += 1
        return super().pop(queue)

    def queue_sizes(self, queues: Any) -> list[int]:
        self.calls += 1
        return super().queue_sizes(queues)


@pytest.mark.parametrize("mode", ["strict", "weighted"])
def test_an_idle_fetch_asks_storage_only_after_a_queue_write(mode: str) -> None:
    from jobsim.chaos.storage import FaultyBroker, StorageFaults

    store = CountingBroker()
    faults = StorageFaults()
    broker = FaultyBroker(store, faults, random.Random(0), "workers")
    fetcher = Fetcher(broker, QueueSelector(WEIGHTS, mode, random.Random(1)), "w1",
                      reliable=False)
    assert fetcher.fetch() is None
    asked = store.calls
    assert asked >= 1
    assert fetcher.fetch() is None and store.calls == asked    # nothing written: no call
    store.push("low", {"jid": "a", "queue": "low"})
    assert fetcher.fetch() == ({"jid": "a", "queue": "low"}, "low")
    assert fetcher.fetch() is None
    asked = store.calls
    faults.outage = True                                       # a fault on: always ask
    with pytest.raises(Exception, match="unavailable"):
        fetcher.fetch()
    assert store.calls == asked           # the outage refused the call before the store
    faults.outage = False                 # still nothing written: still nothing to ask
    assert fetcher.fetch() is None and store.calls == asked
    faults.duplicate_delivery_rate = 0.5
    assert fetcher.fetch() is None and store.calls > asked


def test_ordered_pops_take_the_queue_a_size_check_would_name() -> None:
    selector = QueueSelector(WEIGHTS, "strict", random.Random(1))
    for nonempty in (["low"], ["default", "low"], ["critical", "low"], []):
        broker = broker_with(nonempty)
        named = selector.choose(broker)
        got = Fetcher(broker_with(nonempty), selector, "w1", reliable=False).fetch()
        assert (got[1] if got else None) == named
