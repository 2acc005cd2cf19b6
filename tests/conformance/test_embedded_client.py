"""The embedded broker's in-process client answers exactly as fakeredis's stock client.

``jobsim.broker.embedded`` skips RESP and hands commands to fakeredis's own command step,
relying on fakeredis internals. These tests fail if that path stops being taken (a
fakeredis or redis-py upgrade that silently falls back to the wire, or to nothing) or
if it answers anything differently: random command sequences, pipelines and MULTI/EXEC
included, run on the stock client and on the embedded one, compared answer by answer
and key by key. A mutant that ignores MULTI shows the comparison can fail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fakeredis
import pytest
import redis
from fakeredis._socket._base import BaseFakeSocket
from hypothesis import given
from hypothesis import strategies as st

from jobsim.broker.base import BrokerError
from jobsim.broker.embedded import EmbeddedRedis, InProcessConnection, embedded_client
from jobsim.broker.redis import RedisBroker

KEYS = ("k1", "k2", "k3")     # shared by every type: WRONGTYPE answers are part of the test
keys = st.sampled_from(KEYS)
members = st.sampled_from(["a", "b", "c", "1", "2.5", ""])
counts = st.integers(-2, 2)
scores = st.sampled_from([0, 1, 1.5, -2.0, float("inf")])
sides = st.sampled_from(["LEFT", "RIGHT"])

Op = tuple[str, Callable[[Any], Any]]


def _op(name: str, call: Callable[..., Any], *args: st.SearchStrategy[Any]) -> Any:
    return st.tuples(*args).map(lambda a: (f"{name}{a!r}", lambda c: call(c, *a)))


SINGLE = st.one_of(
    _op("set", lambda c, k, v: c.set(k, v), keys, members),
    _op("set get", lambda c, k, v: c.set(k, v, get=True), keys, members),
    _op("set nx ex", lambda c, k, v: c.set(k, v, nx=True, ex=100), keys, members),
    _op("get", lambda c, k: c.get(k), keys),
    _op("incrby", lambda c, k, n: c.incrby(k, n), keys, counts),
    _op("append", lambda c, k, v: c.append(k, v), keys, members),
    _op("delete", lambda c, k, j: c.delete(k, j), keys, keys),
    _op("exists/type", lambda c, k: (c.exists(k), c.type(k)), keys),
    _op("lpush", lambda c, k, v: c.lpush(k, v, v + "x"), keys, members),
    _op("rpush", lambda c, k, v: c.rpush(k, v), keys, members),
    _op("rpop", lambda c, k: c.rpop(k), keys),
    _op("lpop count", lambda c, k, n: c.lpop(k, n), keys, st.integers(1, 3)),
    _op("lmove", lambda c, k, j, a, b: c.lmove(k, j, a, b), keys, keys, sides, sides),
    _op("llen/lrange", lambda c, k: (c.llen(k), c.lrange(k, 0, -1)), keys),
    _op("lrem", lambda c, k, n, v: c.lrem(k, n, v), keys, counts, members),
    _op("sadd", lambda c, k, v: c.sadd(k, v), keys, members),
    _op("smembers", lambda c, k: c.smembers(k), keys),
    _op("zadd", lambda c, k, v, s: c.zadd(k, {v: s}), keys, members, scores),
    _op("zrangebyscore", lambda c, k, s: c.zrangebyscore(k, "-inf", s, start=0, num=2),
        keys, scores),
    _op("zrange ws", lambda c, k: c.zrange(k, 0, -1, withscores=True), keys),
    _op("zrem/zcard", lambda c, k, v: (c.zrem(k, v), c.zcard(k)), keys, members),
    _op("zremrangebyrank", lambda c, k: c.zremrangebyrank(k, 0, 0), keys),
    _op("hset", lambda c, k, f, v: c.hset(k, f, v), keys, members, members),
    _op("hsetnx/hget", lambda c, k, f, v: (c.hsetnx(k, f, v), c.hget(k, f)),
        keys, members, members),
    _op("hincrby", lambda c, k, f, n: c.hincrby(k, f, n), keys, members, counts),
    _op("hdel/hgetall", lambda c, k, f: (c.hdel(k, f), c.hgetall(k)), keys, members),
    # The rest of KEYSPACE, the commands the broker does not send today.
    _op("getset/getdel", lambda c, k, v: (c.getset(k, v), c.getdel(k)), keys, members),
    _op("mset/mget", lambda c, k, v: (c.mset({k: v}), c.mget(*KEYS)), keys, members),
    _op("setnx/incr/decr/strlen", lambda c, k, v: (c.setnx(k, v), c.incr(k), c.decr(k),
                                                   c.strlen(k)), keys, members),
    _op("unlink", lambda c, k: c.unlink(k), keys),
    _op("keys/scan", lambda c: (c.keys("k*"), c.scan(0, match="k*"))),
    _op("pushx/rpoplpush", lambda c, k, j, v: (c.lpushx(k, v), c.rpushx(k, v),
                                               c.rpoplpush(k, j)), keys, keys, members),
    _op("lindex/lset/ltrim", lambda c, k, v: (c.lindex(k, 0), c.lset(k, 0, v),
                                              c.ltrim(k, 0, 1)), keys, members),
    _op("scard/sismember", lambda c, k, v: (c.scard(k), c.sismember(k, v)), keys, members),
    _op("zscore/zcount/zrev", lambda c, k, v: (
        c.zscore(k, v), c.zcount(k, "-inf", "+inf"), c.zrevrange(k, 0, -1),
        c.zrevrangebyscore(k, "+inf", 0), c.zremrangebyscore(k, 1, 1)), keys, members),
    _op("hexists/hlen/hkeys/hvals/hmget", lambda c, k, f: (
        c.hexists(k, f), c.hlen(k), c.hkeys(k), c.hvals(k), c.hmget(k, [f, "a"])),
        keys, members),
    _op("arity", lambda c, k: c.execute_command("LPUSH", k), keys),
    _op("unknown", lambda c: c.execute_command("NOSUCHCOMMAND")),
    _op("select", lambda c, db: c.execute_command("SELECT", db), st.sampled_from([0, 1])),
    _op("expire/persist", lambda c, k: (c.expire(k, 100), c.persist(k)), keys),
)


def _raw(fields: list[bytes]) -> Callable[[Any], Any]:
    """The broker's hot path: ``answer`` on the embedded connection, the undecoded
    reply (no callback: the name is bytes) on the stock client."""

    def call(client: Any) -> Any:
        if isinstance(client, EmbeddedRedis):
            return client.connection.answer(list(fields))
        return client.execute_command(*fields, NEVER_DECODE=True)

    return call


def _raw_op(*parts: st.SearchStrategy[bytes]) -> Any:
    return st.tuples(*parts).map(lambda f: (f"answer{list(f)!r}", _raw(list(f))))


def _b(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return strategy.map(lambda v: str(v).encode())


RAW = st.one_of(
    _raw_op(st.just(b"LPUSH"), _b(keys), _b(members)),
    _raw_op(st.just(b"RPOP"), _b(keys)),
    _raw_op(st.just(b"LLEN"), _b(keys)),
    _raw_op(st.just(b"LMOVE"), _b(keys), _b(keys), st.just(b"RIGHT"), st.just(b"LEFT")),
    _raw_op(st.just(b"LREM"), _b(keys), st.just(b"-1"), _b(members)),
    _raw_op(st.just(b"LPUSH"), _b(keys)),                           # arity
    _raw_op(st.just(b"PING")),                                      # not KEYSPACE
)
# Rules that refuse commands (every list command; every key but k1) and one that lifts
# them: the embedded client skips the ACL check only while nothing can be refused.
# (fakeredis's ACL lets "+@all -rpop" run RPOP: each rule here refuses on both clients.)
ACL_RULES = [("-@all", "+acl", "+ping", "+select"), ("resetkeys", "~k1"), ("+@all", "allkeys")]
ACL = st.sampled_from(ACL_RULES).map(
    lambda r: (f"acl setuser default {r}",
               lambda c: c.execute_command("ACL", "SETUSER", "default", *r)))


@st.composite
def pipelines(draw: st.DrawFn) -> Op:
    transaction, raise_on_error = draw(st.booleans()), draw(st.booleans())
    ops = draw(st.lists(SINGLE, min_size=1, max_size=3))
    bad = draw(st.sampled_from([None, "NOSUCHCOMMAND"]))

    def run(client: Any) -> Any:
        pipe = client.pipeline(transaction=transaction)
        for _, call in ops:
            call(pipe)
        if bad:
            pipe.execute_command(bad)
        return pipe.execute(raise_on_error=raise_on_error)

    return (f"pipeline(tx={transaction}, {[n for n, _ in ops]}, {bad})", run)


OPS = st.one_of(SINGLE, SINGLE, RAW, RAW, ACL, pipelines())


def outcome(call: Callable[[Any], Any], client: Any) -> str:
    try:
        return f"ok {call(client)!r}"
    except Exception as exc:   # compared between clients, never swallowed
        return f"raise {type(exc).__name__}: {exc}"


def keyspace(client: Any) -> list[Any]:
    """Every key of both databases with its type and value, read through redis-py."""
    dump: list[Any] = []
    client.execute_command("ACL", "SETUSER", "default", "+@all", "allkeys")
    for db in (1, 0):                       # ends on 0, where the clients start
        client.execute_command("SELECT", db)
        for key in KEYS:
            kind = client.type(key)
            value = {"string": lambda k: client.get(k),
                     "list": lambda k: client.lrange(k, 0, -1),
                     "set": lambda k: sorted(client.smembers(k)),
                     "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
                     "hash": lambda k: client.hgetall(k),
                     "none": lambda k: None}[kind](key)
            dump.append((db, key, kind, value))
    return dump


def stock_client() -> Any:
    return fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)


def first_difference(ops: list[Op], other: Any) -> str | None:
    stock = stock_client()
    for name, call in ops:
        a, b = outcome(call, stock), outcome(call, other)
        if a != b:
            return f"{name}: stock {a} / embedded {b}"
    a, b = keyspace(stock), keyspace(other)
    return None if a == b else f"keyspace: stock {a} / embedded {b}"


@given(st.lists(OPS, max_size=25))
def test_every_answer_and_key_matches_the_stock_client(ops: list[Op]) -> None:
    client = embedded_client()
    assert first_difference(ops, client) is None
    assert client.connection.direct > 0         # the keyspace read at least


class IgnoresMulti(InProcessConnection):
    """Mutant: runs keyspace commands at once even inside MULTI."""

    @staticmethod
    def _plain(sock: Any) -> bool:
        return True


def test_negative_control_a_client_that_ignores_multi_is_caught() -> None:
    mutant = EmbeddedRedis(server=fakeredis.FakeServer(), decode_responses=True,
                           single_connection_client=True, connection_class=IgnoresMulti)
    queued = [("multi lpush", lambda c: c.pipeline(transaction=True).lpush("k1", "a").execute())]
    assert first_difference(queued, mutant) is not None
    assert first_difference(queued, embedded_client()) is None


class TrustsTheAcl(InProcessConnection):
    """Mutant: never checks the ACL, as if every user could run every command."""

    def _acl_check(self, sock: Any, fields: list[bytes]) -> None:
        self._acl_open = sock


def test_negative_control_a_client_that_skips_the_acl_is_caught() -> None:
    mutant = EmbeddedRedis(server=fakeredis.FakeServer(), decode_responses=True,
                           single_connection_client=True, connection_class=TrustsTheAcl)
    ops = [("acl -@all", lambda c: c.execute_command("ACL", "SETUSER", "default", "-@all",
                                                     "+acl", "+select")),
           ("answer rpop", _raw([b"RPOP", b"k1"]))]
    assert first_difference(ops, mutant) is not None
    assert first_difference(ops, embedded_client()) is None


class KeepsTheAclVerdict(InProcessConnection):
    """Mutant: keeps 'nothing can be refused' across a rule change."""

    def _hand(self, sock: Any, fields: list[bytes]) -> None:
        verdict = self._acl_open
        super()._hand(sock, fields)
        self._acl_open = self._acl_open or verdict


RULE_CHANGE = [("get", lambda c: c.get("k1")),          # the ACL is found open
               ("acl -@all", lambda c: c.execute_command("ACL", "SETUSER", "default", "-@all",
                                                         "+acl", "+select")),
               ("set", lambda c: c.set("k1", "a")),
               ("answer rpop", _raw([b"RPOP", b"k1"]))]


def test_a_rule_change_is_seen_by_the_next_command() -> None:
    assert first_difference(RULE_CHANGE, embedded_client()) is None
    mutant = EmbeddedRedis(server=fakeredis.FakeServer(), decode_responses=True,
                           single_connection_client=True, connection_class=KeepsTheAclVerdict)
    assert first_difference(RULE_CHANGE, mutant) is not None


class ReturnsErrors(InProcessConnection):
    """Mutant: hands an error answer back instead of raising it."""

    def answer(self, fields: list[bytes]) -> Any:
        try:
            return super().answer(fields)
        except redis.exceptions.ResponseError as exc:
            return exc


# Each twice: the first of a name takes the whole step and learns it, the second the
# direct one.
ERRORS = [("set", lambda c: c.set("k1", "a"))] + 2 * [
    ("answer lpush wrongtype", _raw([b"LPUSH", b"k1", b"x"])),
    ("answer lpush arity", _raw([b"LPUSH", b"k1"])),
    ("answer lmove syntax", _raw([b"LMOVE", b"k2", b"k3", b"UP", b"LEFT"]))]


def test_an_error_answer_is_raised_as_the_stock_client_raises_it() -> None:
    assert first_difference(ERRORS, embedded_client()) is None
    mutant = EmbeddedRedis(server=fakeredis.FakeServer(), decode_responses=True,
                           single_connection_client=True, connection_class=ReturnsErrors)
    assert first_difference(ERRORS, mutant) is not None


class AnswersThroughMulti(InProcessConnection):
    """Mutant: its hot path runs a learnt keyspace command at once, MULTI or not."""

    def answer(self, fields: list[bytes]) -> Any:
        sock = self._sock
        step = self._steps.get(fields[0]) if sock is self._steps_of else None
        if not step:
            return self._answer_queued(fields)
        return self._direct(sock, step, fields)


IN_MULTI = [("learn", _raw([b"LPUSH", b"k1", b"a"])),
            ("multi", lambda c: c.execute_command("MULTI")),
            ("answer lpush", _raw([b"LPUSH", b"k1", b"b"])),
            ("exec", lambda c: c.execute_command("EXEC"))]


def test_an_answer_inside_multi_is_queued() -> None:
    assert first_difference(IN_MULTI, embedded_client()) is None
    mutant = EmbeddedRedis(server=fakeredis.FakeServer(), decode_responses=True,
                           single_connection_client=True, connection_class=AnswersThroughMulti)
    assert first_difference(IN_MULTI, mutant) is not None


def test_the_broker_never_feeds_fakeredis_a_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every broker operation runs in process on one connection, keyspace commands
    through the direct step; the RESP parser is never reached."""

    def wire(self: Any, data: Any) -> None:
        raise AssertionError(f"RESP reached fakeredis: {data!r}")

    monkeypatch.setattr(BaseFakeSocket, "sendall", wire)
    broker = RedisBroker()
    conn = broker.client.connection
    assert isinstance(broker.client, EmbeddedRedis) and isinstance(conn, InProcessConnection)
    assert broker.name == "fakeredis"

    def counted(call: Callable[[], Any]) -> tuple[Any, int, int]:
        handed, direct = conn.handed, conn.direct
        return call(), conn.handed - handed, conn.direct - direct

    # The first push registers the queue: MULTI, SADD, LPUSH, EXEC, fakeredis's full step.
    assert counted(lambda: broker.push("q", {"jid": "a"})) == (None, 4, 0)
    assert counted(lambda: broker.push("q", {"jid": "b"})) == (None, 1, 1)
    assert counted(lambda: broker.pop_to_private("q", "w")) == ({"jid": "a"}, 2, 2)
    assert counted(lambda: broker.ack("w", {"jid": "a"})) == (True, 1, 1)
    assert counted(lambda: broker.queue_sizes(["q", "r"])) == ([1, 0], 2, 2)
    assert counted(lambda: broker.queue_sizes(["q"])) == ([1], 0, 0)   # a known length
    broker.zadd("retry", 1.0, {"jid": "c"})
    assert broker.pop_due("retry", 2.0) == [{"jid": "c"}]
    assert broker.lock_acquire("k", "me", 0.0, None) and broker.hincr("h", "f") == 1
    broker.restore(broker.snapshot())
    assert broker.queue_items("q") == [{"jid": "b"}]
    assert len(broker.client.connection_pool._in_use_connections) == 1   # no second one


def test_a_disconnected_server_is_a_broker_error() -> None:
    broker = RedisBroker()
    broker.push("q", {"jid": "a"})
    broker.client.connection._server.connected = False
    with pytest.raises(BrokerError, match="redis"):
        broker.pop("q")
