"""MemoryBroker internals the conformance suite cannot see: lazy heap deletion, reference
storage on the hot path, snapshot independence, and the Redis-spelling rules it adopts."""

from __future__ import annotations

from jobsim.broker.base import DEAD, Broker
from jobsim.broker.memory import MemoryBroker


def test_is_a_broker_and_stores_payloads_by_reference() -> None:
    broker = MemoryBroker()
    assert isinstance(broker, Broker)
    payload = {"jid": "j1"}
    broker.push("q", payload)
    assert broker.pop_to_private("q", "p0") is payload  # no copy, no JSON on the hot path
    assert broker.ack("p0", payload)
    assert broker.private_items("p0") == []


def test_moved_score_leaves_a_stale_heap_entry_that_never_fires() -> None:
    broker = MemoryBroker()
    broker.zadd("retry", 1.0, {"jid": "a"})
    broker.zadd("retry", 50.0, {"jid": "a"})  # same member, later score
    assert broker.pop_due("retry", 10.0) == []
    assert broker.zitems("retry") == [(50.0, {"jid": "a"})]
    broker.zadd("retry", 1.0, {"jid": "a"})  # and back again: one copy, popped once
    assert broker.pop_due("retry", 10.0) == [{"jid": "a"}]
    assert broker.pop_due("retry", 100.0) == []
    assert broker.zsize("retry") == 0


def test_removed_then_re_added_member_pops_once() -> None:
    broker = MemoryBroker()
    broker.zadd("schedule", 3.0, {"jid": "a"})
    assert broker.zremove_jid("schedule", "a") == {"jid": "a"}
    assert broker.pop_due("schedule", 10.0) == []
    broker.zadd("schedule", 3.0, {"jid": "a"})
    assert broker.pop_due("schedule", 10.0) == [{"jid": "a"}]
    assert broker.zsize("schedule") == 0


def test_zremove_jid_takes_the_lowest_score_as_redis_order_does() -> None:
    broker = MemoryBroker()
    broker.zadd("retry", 9.0, {"jid": "a", "retry_count": 1})
    broker.zadd("retry", 2.0, {"jid": "a", "retry_count": 2})
    assert broker.zremove_jid("retry", "a") == {"jid": "a", "retry_count": 2}
    assert broker.zremove_jid("retry", "a") == {"jid": "a", "retry_count": 1}
    assert broker.zremove_jid("retry", "a") is None


def test_ack_matches_the_stored_spelling_not_python_equality() -> None:
    broker = MemoryBroker()
    broker.push("q", {"jid": "a", "n": 1})
    broker.pop_to_private("q", "p0")
    assert not broker.ack("p0", {"jid": "a", "n": True})  # 1 == True, but LREM says no
    assert broker.ack("p0", {"n": 1, "jid": "a"})  # key order does not matter
    assert broker.private_workers() == []


def test_dead_set_with_max_jobs_zero_or_one_keeps_nothing() -> None:
    broker = MemoryBroker()
    assert broker.dead_add({"jid": "a"}, 0.0, max_jobs=0) == [({"jid": "a"}, "size")]
    assert broker.dead_add({"jid": "b"}, 1.0, max_jobs=1) == [({"jid": "b"}, "size")]
    assert broker.zsize(DEAD) == 0


def test_snapshot_is_independent_of_later_changes_and_restores_twice() -> None:
    broker = MemoryBroker()
    broker.push("q", {"jid": "a"})
    broker.pop_to_private("q", "p0")
    broker.push("q", {"jid": "b"})
    broker.zadd("retry", 5.0, {"jid": "r"})
    broker.lock_acquire("u", "a", 0.0, None)
    broker.hset("h", "f", [1])
    broker.incr("c")
    snap = broker.snapshot()
    for _ in range(2):
        broker.pop("q")
        broker.take_private("p0")
        broker.pop_due("retry", 10.0)
        broker.lock_release("u", "a")
        broker.hset("h", "f", 2)
        broker.incr("c")
        broker.restore(snap)
        assert broker.queue_items("q") == [{"jid": "b"}]
        assert broker.private_items("p0") == [{"jid": "a"}]
        assert broker.pop_due("retry", 10.0) == [{"jid": "r"}]
        assert broker.lock_holder("u", 1e9) == "a"
        assert broker.hget("h", "f") == [1]
        assert broker.incr("c", 0) == 1
