"""Every broker answers every operation exactly as the memory broker does.

A Hypothesis state machine drives random operation sequences against MemoryBroker and a
fakeredis RedisBroker at once (and a real server when JOBSIM_REDIS_URL is set), comparing
each answer by its JSON spelling, so ``1``, ``1.0`` and ``true`` are told apart. Pools are
tiny on purpose: scores, jids, queues and payloads collide, which is where semantics differ.
A few direct tests pin the Sidekiq behaviours with hand-worked expectations.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import fakeredis
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from jobsim.broker.base import DEAD, Broker, BrokerError
from jobsim.broker.memory import MemoryBroker
from jobsim.broker.redis import RedisBroker

QUEUES = ("default", "critical", "low")
WORKERS = ("p0", "p1", "p2")
JIDS = ("j0", "j1", "j2", "j3")
ZSETS = ("schedule", "retry", DEAD)
KEYS = ("k1", "k2")  # shared by locks, counters and hashes: delete() must hit all three
FIELDS = ("f1", "f2")

queues = st.sampled_from(QUEUES)
workers = st.sampled_from(WORKERS)
jids = st.sampled_from(JIDS)
zsets = st.sampled_from(ZSETS)
keys = st.sampled_from(KEYS)
fields = st.sampled_from(FIELDS)
scores = st.sampled_from([0.0, 1.0, 1.5, 2.0, 10.0])
nows = st.sampled_from([0.0, 1.0, 2.0, 5.0, 20.0])
lock_nows = st.sampled_from([0.0, 1.0, 2.0])  # few instants: re-takes land on expiries
expiries = st.none() | st.sampled_from([1.0, 2.0])
values = st.sampled_from([0, 1, -2, 2.5, "3", "x", True, None, [1, 2], {"a": 1}])
payloads = st.fixed_dictionaries(
    {"jid": jids, "n": st.sampled_from([0, 1, 1.0, True, "1", [1]])},  # 1 == 1.0 == True
    optional={"retry_count": st.integers(0, 1)},
)


EQUAL_SPELLED_APART = ((0, 0.0, False), (1, 1.0, True))


def _lookalike(payload: dict) -> st.SearchStrategy[dict]:
    """The payload with "n" swapped for a value == to it but spelled apart (1 vs true)."""
    for group in EQUAL_SPELLED_APART:
        if any(spell(payload["n"]) == spell(v) for v in group):
            return st.sampled_from(group).map(lambda n: {**payload, "n": n})
    return st.just(payload)


def spell(value: Any) -> str:
    """Exact JSON spelling: equal only if the same types and values came back."""
    return json.dumps(value, sort_keys=True)


def outcome(call: Callable[[], Any]) -> tuple[str, str]:
    try:
        return ("ok", spell(call()))
    except Exception as exc:  # compared across brokers, never swallowed
        return ("raise", type(exc).__name__)


class BrokerMachine(RuleBasedStateMachine):
    """Applies each operation to every broker; the memory broker is the reference.

    The rules come in families (below); a machine per family makes rare interleavings
    (a lock re-taken exactly at its expiry) likely, and the union machine finds the
    cross-family ones (delete() across namespaces, snapshots of everything).
    """

    def __init__(self, others: list[Broker]) -> None:
        super().__init__()
        self.brokers: list[Broker] = [MemoryBroker(), *others]
        self.snapshots: list[list[Any]] = []

    def same(self, op: str, *args: Any) -> None:
        results = [outcome(lambda b=b: getattr(b, op)(*args)) for b in self.brokers]
        for broker, result in zip(self.brokers[1:], results[1:], strict=True):
            assert result == results[0], (
                f"{broker.name}.{op}{args!r} -> {result}, memory -> {results[0]}"
            )

    @invariant()
    def remembered_lengths_are_the_servers(self) -> None:
        """A Redis broker answers size reads and empty pops from the lengths it keeps
        (broker/redis.py): each must be the server's own LLEN at every step."""
        for broker in self.brokers[1:]:
            if isinstance(broker, RedisBroker):
                for queue, size in broker._sizes.items():
                    server = broker.client.llen(broker._q(queue))
                    assert size == server, f"{broker.name}: {queue} kept {size}, LLEN {server}"

    # ---- failover -------------------------------------------------------------------
    @rule()
    def snapshot(self) -> None:
        self.snapshots.append([b.snapshot() for b in self.brokers])

    @precondition(lambda self: bool(self.snapshots))
    @rule(data=st.data())
    def restore(self, data: st.DataObject) -> None:
        taken = data.draw(st.sampled_from(self.snapshots), label="snapshot")
        for broker, snap in zip(self.brokers, taken, strict=True):
            broker.restore(snap)

    def teardown(self) -> None:
        """Every observable piece of state agrees at the end."""
        self.same("queue_names")
        self.same("private_workers")
        for queue in QUEUES:
            self.same("queue_items", queue)
        for worker in WORKERS:
            self.same("private_items", worker)
        for zset in ZSETS:
            self.same("zitems", zset)
        for key in KEYS:
            self.same("lock_holder", key, 0.0)
            self.same("hgetall", key)
            self.same("incr", key, 0)


class QueueRules(BrokerMachine):
    """Queues and reliable fetch."""

    @rule(queue=queues, payload=payloads)
    def push(self, queue: str, payload: dict) -> None:
        self.same("push", queue, payload)

    @rule(queue=queues, batch=st.lists(payloads, max_size=4))
    def push_bulk(self, queue: str, batch: list[dict]) -> None:
        self.same("push_bulk", queue, batch)

    @rule(queue=queues, payload=payloads)
    def push_front(self, queue: str, payload: dict) -> None:
        self.same("push_front", queue, payload)

    @rule(queue=queues)
    def pop(self, queue: str) -> None:
        self.same("pop", queue)

    @rule(queue=queues, jid=jids)
    def remove_from_queue(self, queue: str, jid: str) -> None:
        self.same("remove_from_queue", queue, jid)

    @rule(queue=queues)
    def look_at_queue(self, queue: str) -> None:
        self.same("queue_size", queue)
        self.same("queue_sizes", [queue, "never_used", queue])
        self.same("queue_items", queue)
        self.same("queue_names")

    def busy(self, data: st.DataObject, names: list[str], pool: st.SearchStrategy[str]) -> str:
        """Mostly a non-empty queue or worker: random ones are usually empty."""
        return data.draw(st.sampled_from(names) | pool if names else pool)

    @rule(worker=workers, data=st.data())
    def pop_to_private(self, worker: str, data: st.DataObject) -> None:
        queue = self.busy(data, self.brokers[0].queue_names(), queues)
        self.same("pop_to_private", queue, worker)

    @precondition(lambda self: bool(self.brokers[0].private_workers()))
    @rule(data=st.data())
    def ack_held(self, data: st.DataObject) -> None:
        worker = data.draw(st.sampled_from(self.brokers[0].private_workers()), label="worker")
        same_object = st.sampled_from(self.brokers[0].private_items(worker))
        copied = same_object.map(lambda p: json.loads(json.dumps(p)))
        lookalike = same_object.flatmap(_lookalike)
        payload = data.draw(same_object | copied | lookalike, label="payload")
        self.same("ack", worker, payload)

    @rule(worker=workers, payload=payloads)
    def ack_any(self, worker: str, payload: dict) -> None:
        self.same("ack", worker, payload)

    @rule(worker=workers)
    def take_private(self, worker: str) -> None:
        self.same("take_private", worker)

    @rule(worker=workers)
    def look_at_private(self, worker: str) -> None:
        self.same("private_items", worker)
        self.same("private_workers")


class ZSetRules(BrokerMachine):
    """Schedule, retry and dead sets."""

    @rule(zset=zsets, score=scores, payload=payloads)
    def zadd(self, zset: str, score: float, payload: dict) -> None:
        self.same("zadd", zset, score, payload)

    @rule(zset=zsets, now=nows, limit=st.sampled_from([0, 1, 2, 1000]))
    def pop_due(self, zset: str, now: float, limit: int) -> None:
        self.same("pop_due", zset, now, limit)

    @rule(zset=zsets, jid=jids)
    def zremove_jid(self, zset: str, jid: str) -> None:
        self.same("zremove_jid", zset, jid)

    @rule(payload=payloads, now=nows, max_jobs=st.integers(0, 4),
          timeout_s=st.sampled_from([1.0, 5.0, 50.0]))
    def dead_add(self, payload: dict, now: float, max_jobs: int, timeout_s: float) -> None:
        self.same("dead_add", payload, now, max_jobs, timeout_s)

    @rule(zset=zsets)
    def look_at_zset(self, zset: str) -> None:
        self.same("zsize", zset)
        self.same("zitems", zset)


class KeyRules(BrokerMachine):
    """Locks, counters and hashes, which share key names."""

    @rule(key=keys, holder=jids, now=lock_nows, expires_at=expiries)
    def lock_acquire(self, key: str, holder: str, now: float, expires_at: float | None) -> None:
        self.same("lock_acquire", key, holder, now, expires_at)

    @rule(key=keys, holder=jids, expires_at=expiries)
    def lock_force(self, key: str, holder: str, expires_at: float | None) -> None:
        self.same("lock_force", key, holder, expires_at)

    @rule(key=keys, holder=jids)
    def lock_release(self, key: str, holder: str) -> None:
        self.same("lock_release", key, holder)

    @rule(key=keys, now=lock_nows)
    def lock_holder(self, key: str, now: float) -> None:
        self.same("lock_holder", key, now)

    @rule(key=keys, by=st.integers(-2, 3))
    def incr(self, key: str, by: int) -> None:
        self.same("incr", key, by)

    @rule(key=keys, field=fields, value=values)
    def hset(self, key: str, field: str, value: Any) -> None:
        self.same("hset", key, field, value)

    @rule(key=keys, field=fields, value=values)
    def hsetnx(self, key: str, field: str, value: Any) -> None:
        self.same("hsetnx", key, field, value)

    @rule(key=keys, field=fields)
    def hget_hdel(self, key: str, field: str) -> None:
        self.same("hget", key, field)
        self.same("hdel", key, field)

    @rule(key=keys, field=fields, by=st.integers(-2, 3))
    def hincr(self, key: str, field: str, by: int) -> None:
        self.same("hincr", key, field, by)

    @rule(key=keys)
    def hgetall(self, key: str) -> None:
        self.same("hgetall", key)

    @rule(key=keys)
    def delete(self, key: str) -> None:
        self.same("delete", key)


class AllRules(QueueRules, ZSetRules, KeyRules):
    """Every operation interleaved."""


MACHINES = [QueueRules, ZSetRules, KeyRules, AllRules]


def _run(factory: Callable[[], BrokerMachine]) -> None:
    profile = settings.default
    run_state_machine_as_test(
        factory,
        settings=settings(
            profile, stateful_step_count=min(profile.stateful_step_count, 50), deadline=None
        ),
    )


def _stock_fakeredis() -> RedisBroker:
    """The Redis broker on fakeredis's stock client: redis-py's command methods
    throughout, as on a real server, where the embedded broker takes its hot path."""
    broker = RedisBroker(client=fakeredis.FakeRedis(server=fakeredis.FakeServer(),
                                                    decode_responses=True))
    broker.name = "fakeredis (stock client)"
    return broker


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.__name__)
def test_fakeredis_matches_memory(machine: type[BrokerMachine]) -> None:
    _run(lambda: machine([RedisBroker(), _stock_fakeredis()]))


@pytest.mark.redis
@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.__name__)
def test_real_redis_matches_memory(machine: type[BrokerMachine], real_redis: RedisBroker) -> None:
    def factory() -> BrokerMachine:
        real_redis.flush()
        return machine([RedisBroker(), real_redis])

    _run(factory)


class _ForgetsPops(RedisBroker):
    """A planted bug: a pop that took a job leaves the remembered length as it was."""

    def _popped(self, queue: str, known: int | None, raw: Any) -> Any:
        return super()._popped(queue, None, raw)


def test_a_remembered_length_that_drifts_is_caught() -> None:
    """Negative control: the invariant (or the answers compared) finds the drift."""
    with pytest.raises(AssertionError):
        _run(lambda: QueueRules([_ForgetsPops()]))


def test_size_reads_and_empty_pops_of_known_queues_send_no_command() -> None:
    broker = RedisBroker()
    connection = broker.client.connection
    broker.push("default", {"jid": "a"})
    assert broker.queue_sizes(["default", "low"]) == [1, 0]      # read once (LLEN x 2)
    sent = connection.handed
    assert broker.queue_sizes(["default", "low"]) == [1, 0]
    assert broker.queue_size("low") == 0
    assert broker.pop("low") is None
    assert broker.pop_to_private("low", "p0") is None
    assert connection.handed == sent                             # answered here
    assert broker.pop("default") == {"jid": "a"}                 # one RPOP
    assert broker.queue_size("default") == 0
    assert connection.handed == sent + 1
    broker.restore(broker.snapshot())                            # forgets every length
    assert broker._sizes == {}


def test_a_command_that_fails_on_the_connection_forgets_every_length() -> None:
    """It may or may not have run on the server, so no kept length can be trusted."""
    broker = RedisBroker()
    broker.push("default", {"jid": "a"})
    assert broker.queue_sizes(["default", "low"]) == [1, 0]
    server = broker.client.connection._server
    server.connected = False
    with pytest.raises(BrokerError):
        broker.push("default", {"jid": "b"})
    assert broker._sizes == {}
    server.connected = True
    assert broker.queue_sizes(["default", "low"]) == [1, 0]     # asked again, and right


# ---- direct tests, every broker ---------------------------------------------------------


def test_equal_scores_pop_in_member_order(broker: Broker) -> None:
    for payload in ({"jid": "b"}, {"jid": "c", "x": 1}, {"jid": "a"}, {"a": 0, "jid": "z"}):
        broker.zadd("retry", 5.0, payload)
    broker.zadd("retry", 7.0, {"jid": "early-score-late-insert"})
    broker.zadd("retry", 4.0, {"jid": "y"})
    broker.zadd("retry", 4.0, {"jid": "x"})
    broker.zadd("retry", 9.0, {"jid": "x"})  # same member: score moves, no second copy
    assert broker.zsize("retry") == 7
    assert broker.pop_due("retry", 5.0, limit=3) == [{"jid": "y"}, {"a": 0, "jid": "z"},
                                                     {"jid": "a"}]
    assert broker.pop_due("retry", 100.0) == [
        {"jid": "b"}, {"jid": "c", "x": 1}, {"jid": "early-score-late-insert"}, {"jid": "x"},
    ]
    assert broker.zsize("retry") == 0


def test_dead_set_trims_by_age_then_size(broker: Broker) -> None:
    def add(jid: str, now: float) -> list[tuple[dict, str]]:
        return broker.dead_add({"jid": jid}, now, max_jobs=3, timeout_s=100.0)

    assert add("d1", 0.0) == []
    assert add("d2", 10.0) == []
    assert add("d3", 20.0) == [({"jid": "d1"}, "size")]  # keeps max_jobs - 1 = 2
    assert add("d4", 30.0) == [({"jid": "d2"}, "size")]
    # cutoff 120 - 100 = 20: d3 (score 20, inclusive) ages out; d4 at 30 stays.
    assert add("d5", 120.0) == [({"jid": "d3"}, "age")]
    assert add("d6", 125.0) == [({"jid": "d4"}, "size")]
    # cutoff 124: d5 ages out, d6 (125) stays; two left, so the size rule has nothing to do.
    assert add("d7", 224.0) == [({"jid": "d5"}, "age")]
    assert [p["jid"] for _, p in broker.zitems(DEAD)] == ["d6", "d7"]
    # cutoff 230: both age out, oldest first.
    assert add("d8", 330.0) == [({"jid": "d6"}, "age"), ({"jid": "d7"}, "age")]
    assert broker.zitems(DEAD) == [(330.0, {"jid": "d8"})]


def test_lock_expiry_uses_the_callers_clock(broker: Broker) -> None:
    assert broker.lock_acquire("u", "j1", now=0.0, expires_at=10.0)
    assert not broker.lock_acquire("u", "j2", now=9.99, expires_at=None)
    assert broker.lock_holder("u", now=9.99) == "j1"
    assert broker.lock_holder("u", now=10.0) is None  # expired exactly at expires_at
    assert broker.lock_acquire("u", "j2", now=10.0, expires_at=None)
    assert broker.lock_holder("u", now=1e12) == "j2"  # None never expires
    assert not broker.lock_release("u", "j1")
    assert broker.lock_force("u", "j3", expires_at=None) == "j2"
    assert broker.lock_release("u", "j3")
    assert broker.lock_holder("u", now=0.0) is None


def test_queue_order_and_reliable_fetch(broker: Broker) -> None:
    broker.push("q", {"jid": "1"})
    broker.push_bulk("q", [{"jid": "2"}, {"jid": "3"}])
    broker.push_front("q", {"jid": "0"})
    assert [p["jid"] for p in broker.queue_items("q")] == ["0", "1", "2", "3"]
    assert broker.pop_to_private("q", "p0") == {"jid": "0"}
    assert broker.pop_to_private("q", "p0") == {"jid": "1"}
    broker.push("q", {"jid": "0"})  # a duplicate delivery of the first job
    assert broker.pop_to_private("q", "p1") == {"jid": "2"}
    assert broker.private_workers() == ["p0", "p1"]
    assert broker.ack("p0", {"jid": "0"})
    assert not broker.ack("p0", {"jid": "0"})
    assert broker.take_private("p0") == [{"jid": "1"}]
    assert broker.private_workers() == ["p1"]
    assert broker.remove_from_queue("q", "3") == {"jid": "3"}
    assert broker.queue_items("q") == [{"jid": "0"}]
    assert broker.queue_names() == ["q"]


def test_values_keep_their_types_and_snapshot_rolls_back(broker: Broker) -> None:
    broker.hset("h", "a", {"nested": [1, 2.5, True, None, "s"]})
    broker.hset("h", "b", 3)
    assert broker.hincr("h", "b", 2) == 5
    assert broker.incr("h") == 1  # counters, hashes and locks are separate namespaces
    snap = broker.snapshot()
    broker.hset("h", "c", 1)
    broker.push("q", {"jid": "later"})
    broker.zadd("schedule", 1.0, {"jid": "later"})
    broker.restore(snap)
    assert broker.hgetall("h") == {"a": {"nested": [1, 2.5, True, None, "s"]}, "b": 5}
    assert broker.queue_names() == []
    assert broker.zsize("schedule") == 0
    broker.delete("h")
    assert broker.hgetall("h") == {}
    assert broker.incr("h") == 1
