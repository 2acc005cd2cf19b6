"""priority: strict order, weighted shares (chi-square), latency bounds, queue stats."""

from __future__ import annotations

import math

import pytest

from jobsim.checks.priority import (
    MIN_FETCHES,
    QueueTracker,
    check,
    chi2_sf,
    percentile,
    queue_latency_stats,
)
from jobsim.history.history import History


def config(mode: str = "strict", queues: list | None = None, **extra: object) -> tuple:
    cfg = {"mode": mode, "queues": queues or [["critical", 1], ["default", 1]], **extra}
    return (0, "config", None, cfg)


def enq(t: float, jid: str, queue: str) -> tuple:
    return (t, "enqueue", jid, queue, "Job", True, True)


def start(t: float, jid: str, queue: str, dup: int = 0) -> tuple:
    return (t, "start", jid, queue, "p0", 1, dup)


def test_strict_order_holds() -> None:
    history = History([
        config(), enq(0, "a", "default"), start(1, "a", "default"),
        enq(2, "b", "critical"), enq(2, "c", "default"),
        start(3, "b", "critical"), start(4, "c", "default"),
    ])
    result = check(history)
    assert result.ok, result.examples
    assert result.stats["queues"]["critical"]["fetched"] == 1


def test_strict_fetch_below_waiting_work_is_a_violation() -> None:
    history = History([
        config(), enq(0, "a", "critical"), enq(0, "b", "default"), enq(0, "c", "default"),
        start(1, "b", "default"), start(2, "a", "critical"), start(3, "c", "default"),
    ])
    result = check(history)
    assert result.violations == 1
    assert result.examples[0]["jid"] == "b"
    assert result.examples[0]["waiting_in"] == "critical"


def test_strict_same_instant_push_is_not_yet_visible() -> None:
    history = History([
        config(), enq(0, "b", "default"), enq(0, "d", "default"),
        enq(1, "a", "critical"), start(1, "b", "default"),  # concurrent: either order legal
        start(2, "d", "default"),  # a has waited since t=1: violation
    ])
    result = check(history)
    assert result.violations == 1
    assert result.examples[0]["jid"] == "d"


def test_discarded_waiting_job_leaves_its_queue() -> None:
    history = History([
        config(), enq(0, "a", "critical"), (1, "discard", "a", "replaced"),
        enq(0, "b", "default"), start(2, "b", "default"),
    ])
    assert check(history).ok


def test_latency_bound_from_config_and_from_option() -> None:
    history = History([
        config(latency_bounds={"critical": 5.0}), enq(0, "a", "critical"),
        start(10, "a", "critical"), enq(10, "b", "critical"), start(12, "b", "critical"),
    ])
    result = check(history)
    assert result.violations == 1
    assert result.examples[0]["jid"] == "a"
    assert result.examples[0]["wait"] == 10
    assert check(history, latency_bounds={"critical": 20.0}).ok


def test_a_job_never_fetched_is_judged_by_its_wait_at_the_horizon() -> None:
    """A queue nobody serves must not pass the bound its served neighbour keeps."""
    events = [config(latency_bounds={"default": 5.0}), enq(0, "a", "default"),
              enq(0, "b", "critical"), (9, "retry", "r", 1, 1.0, 10.0, "sidekiq", 25),
              (10, "horizon", None)]
    starved = History([*events, (10, "held", "a", "queue:default"),
                       (10, "held", "r", "retry")])
    result = check(starved)
    assert result.violations == 1
    assert result.examples[0] == {"jid": "a", "t": 10, "queue": "default", "wait": 10,
                                       "bound": 5.0,
                                       "what": "still waiting past its latency bound"}
    assert check(starved, latency_bounds={"default": 20.0}).ok
    # the same job held somewhere other than a queue waits for no fetch
    assert check(History([*events, (10, "held", "a", "schedule")])).ok


def test_requeue_restarts_the_wait() -> None:
    history = History([
        config(), enq(0, "a", "default"), start(10, "a", "default"),
        (20, "requeue", "a", "default", "p0"), start(23, "a", "default"),
    ])
    stats = queue_latency_stats(history)["default"]
    assert stats["fetched"] == 2
    assert stats["latency_max_s"] == 10
    assert stats["latency_mean_s"] == pytest.approx(6.5)


def test_queue_latency_stats_nearest_rank_and_depth() -> None:
    events = [config()] + [enq(0, f"j{i}", "default") for i in range(20)]
    events += [start(i + 1, f"j{i}", "default") for i in range(20)]
    stats = queue_latency_stats(History(events))
    assert set(stats) == {"critical", "default"}
    d = stats["default"]
    assert (d["latency_p50_s"], d["latency_p95_s"], d["latency_p99_s"]) == (10, 19, 20)
    assert d["max_depth"] == 20
    assert d["fetched"] == 20
    assert stats["critical"]["fetched"] == 0


def test_percentile_nearest_rank() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) == 0.0


def test_chi2_sf_known_values() -> None:
    assert chi2_sf(3.84, 1) == pytest.approx(0.0500, abs=1e-4)
    assert chi2_sf(9.21, 2) == pytest.approx(0.0100, abs=1e-4)
    assert chi2_sf(0.0, 3) == 1.0
    assert chi2_sf(100.0, 1) == pytest.approx(1.5239706e-23, rel=1e-5)
    for x in (0.1, 1.0, 2.5, 7.0, 30.0):  # closed forms for dof 1 and 2
        assert chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-9)
        assert chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-9)
    # dof 4: Q(2, y) = exp(-y) (1 + y), y = x / 2; covers both series and fraction branches
    for x in (1.0, 5.0, 20.0):
        assert chi2_sf(x, 4) == pytest.approx(math.exp(-x / 2) * (1 + x / 2), rel=1e-9)


WEIGHTS = [["critical", 6], ["default", 3], ["low", 1]]
PATTERN = ["critical"] * 6 + ["default"] * 3 + ["low"]


def weighted_history(picks: list[str], mode: str = "weighted") -> History:
    """Every queue is kept non-empty; ``picks`` says which queue each fetch served."""
    events = [config(mode, WEIGHTS)]
    events += [enq(0, f"{q}{i}", q) for q, _ in WEIGHTS for i in range(len(picks) + 1)]
    taken = dict.fromkeys(PATTERN, 0)
    for t, q in enumerate(picks, 1):
        events.append(start(t, f"{q}{taken[q]}", q))
        taken[q] += 1
    return History(events)


def test_weighted_shares_matching_weights_hold() -> None:
    result = check(weighted_history(PATTERN * 20))
    assert result.ok
    weighted = result.stats["weighted"]
    assert weighted["n"] == 200
    assert weighted["p_value"] > 0.99
    assert weighted["shares"]["critical"] == pytest.approx(0.6)


def test_weighted_shares_starving_a_queue_is_a_violation() -> None:
    picks = (["critical"] * 7 + ["default"] * 3) * 20  # low never served
    result = check(weighted_history(picks))
    assert result.violations == 1
    assert result.examples[0]["what"] == "weighted shares off"
    assert result.stats["weighted"]["p_value"] < 0.001


def test_weighted_needs_enough_fetches_and_random_mode_expects_equal_shares() -> None:
    few = ["critical"] * (MIN_FETCHES - 1)
    assert check(weighted_history(few)).ok
    result = check(weighted_history(PATTERN * 20, mode="random"))
    assert not result.ok
    assert result.stats["weighted"]["expected"]["low"] == pytest.approx(1 / 3)


def test_a_fetch_takes_the_copy_visible_in_its_own_queue() -> None:
    history = History([
        config(), enq(0, "a", "default"),
        (4, "requeue", "a", "critical", "p0"),     # a second visible copy, another queue
        start(10, "a", "critical"), start(12, "a", "default"),
    ])
    stats = queue_latency_stats(history)
    assert stats["critical"]["latency_max_s"] == 6      # waited from its requeue at 4
    assert stats["default"]["latency_max_s"] == 12      # the older copy, from 0
    assert stats["default"]["max_depth"] == stats["critical"]["max_depth"] == 1


def _fed_every_event(history: History) -> dict:
    """The reference: QueueTracker.feed called for every event, no fast path."""
    tracker = QueueTracker()
    for ev in history.events:
        tracker.feed(ev)
    return tracker.stats(["critical", "default"])


def test_queue_latency_fast_path_agrees_with_feeding_every_event() -> None:
    history = History([
        config(), enq(0, "a", "critical"), enq(0, "b", "default"), enq(1, "c", "default"),
        start(2, "a", "critical"), (3, "failure", "a", "Boom", 1, 0),
        (3, "retry", "a", 0, 5.0, 8.0, "sidekiq", 25),
        (8, "promote", "a", "critical", "retry"), (9, "discard", "c", "replaced"),
        start(9, "a", "critical"), (10, "success", "a", 0), (10, "effect", "a", "k", "s", True),
        (11, "sample", None, "pool.db.in_use", 1), start(12, "b", "default"),
        (13, "requeue", "b", "critical", "p0"), start(15, "b", "critical"),
        start(16, "c", "default"),                  # a stray copy: nothing visible to take
    ])
    fast = queue_latency_stats(history)
    assert fast == _fed_every_event(history)
    assert fast["critical"]["fetched"] == 3 and fast["critical"]["latency_max_s"] == 2
    assert fast["default"]["fetched"] == 2 and fast["default"]["latency_max_s"] == 12
    # Negative control: without the discard, c's copy was still visible at 16.
    kept = History([ev for ev in history.events if ev[1] != "discard"])
    assert queue_latency_stats(kept) != fast
