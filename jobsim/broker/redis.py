"""Redis broker: the Sidekiq key layout behind the Broker protocol, via the redis-py API.

Embedded (``fakeredis``, no server) by default, or a real server by URL. It exists to prove
that the memory broker's semantics are Redis's: tests/conformance drives both with the
same operations and compares every answer.

Key layout (every key carries ``prefix``):

* ``queue:NAME`` list, LPUSH in at the head, RPOP out at the tail; ``queues`` set of names.
* ``private:WORKER`` list per worker (reliable fetch): LMOVE queue RIGHT -> private LEFT,
  so the tail holds the oldest fetch; ``privates`` set of workers.
* ``schedule``, ``retry``, ``dead`` sorted sets; members are ``canonical(payload)``, so
  equal scores order by member exactly as MemoryBroker's heap does.
* ``lock:KEY`` string holding JSON ``{holder, expires_at}``, ``counter:KEY`` integer,
  ``hash:KEY`` hash of JSON-encoded values: three namespaces, as MemoryBroker keeps three
  dicts, so one name may be a lock, a counter and a hash at once.

On a real server (``connect``) every run gets its own prefix, ``jobsim:TOKEN:``, with
TOKEN random, claimed by ``SET jobsim:TOKEN.lock ... NX EX``: two runs on one database
never share a key, and ``close`` deletes only the run's own keys and its lock, so
whatever else the database holds is left alone. The prefix never reaches the history
(queue names are stored without it), so digests match the memory broker's.

Queue lengths are remembered. The run owns its prefix, and every write to a queue list
goes through this class, so once a queue's length has been read (LLEN) or seen to be 0
(a pop that found nothing), each push, pop and removal keeps it exact here (``_sizes``).
A size read of a known queue is then answered without a command, and a pop of a queue
known to be empty returns None without one: the same answers the server would give, so
the same history, with fewer round trips (a weighted fetch read three lengths before
every pop; a thread that finished just after the queue emptied popped nothing).
Replacing the keyspace (``restore``, ``flush``) and any command that failed on the
connection (it may or may not have run) forget every length.

Every job is stored as its canonical JSON, so LREM/ZREM match any equal-spelled payload.
Expiry is a timestamp compared with the caller's ``now``: never a Redis TTL, never a
blocking command, so a run gives the same history on every broker. Needs Redis >= 6.2
(LMOVE, SET ... GET). Decoded payloads come back with their keys in sorted order.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec
import redis

from jobsim.broker.base import (
    DEAD,
    DEAD_MAX_JOBS,
    DEAD_TIMEOUT_S,
    BrokerError,
    Payload,
    canonical,
    canonical_bytes,
)
from jobsim.broker.namespace import NAMESPACE, claim, lock_key
from jobsim.broker.url import RedisURL

_QUEUES = "queues"
_PRIVATES = "privates"
_BULK_CHUNK = 1000
_F = TypeVar("_F", bound=Callable[..., Any])
_KeyDump = tuple[str, str, Any]
# A stored payload back to its dict: every payload is ``canonical`` JSON, which msgspec
# reads as the json module does (same dicts, ints, floats and key order) in a fifth of
# the time. Lock and hash values are json.dumps spellings and keep json.loads.
_load = msgspec.json.Decoder().decode


def _guard(fn: _F) -> _F:
    """Turn connection failures into BrokerError: the job system only knows that one."""

    @functools.wraps(fn)
    def guarded(self: RedisBroker, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            self._sizes.clear()     # a write may or may not have landed
            raise BrokerError(f"redis: {exc}") from exc

    return guarded  # type: ignore[return-value]


def _guarded(cls: type) -> type:
    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_"):
            setattr(cls, name, _guard(value))
    return cls


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def connect(target: RedisURL, flush: bool = False) -> RedisBroker:
    """A broker on a real server, under a prefix of its own that a ``SET NX`` lock
    claims. ``flush``: empty the database first (FLUSHDB), refused while another
    jobsim run holds a lock there. Errors are BrokerError naming the redacted URL."""
    client = redis.Redis.from_url(target.url, decode_responses=True,
                                  socket_connect_timeout=5, socket_timeout=60)
    try:
        client.ping()
        if flush:
            _flush_database(client, target)
        token = claim(client, target)
    except redis.exceptions.RedisError as exc:
        client.close()
        raise BrokerError(f"{target.redacted}: {_reason(exc)}") from None
    broker = RedisBroker(client=client, prefix=f"{NAMESPACE}{token}:")
    broker.lock_key = lock_key(token)
    return broker


def _flush_database(client: Any, target: RedisURL) -> None:
    held = next(iter(client.scan_iter(match=_glob_escape(NAMESPACE) + "*.lock", count=1000)),
                None)
    if held is not None:
        raise BrokerError(f"{target.redacted}: --flush refused: another jobsim run holds "
                          f"this database ({held})")
    client.flushdb()


def _reason(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@_guarded
class RedisBroker:
    """Broker over redis-py; see ``base.Broker`` for the contract and the module doc."""

    def __init__(self, client: Any = None, prefix: str = "") -> None:
        """``client``: a redis-py client (decode_responses=True); by default a private
        embedded fakeredis server, reached in process (``broker.embedded``). For a real
        server use ``connect``."""
        embedded = client is None
        if client is None:
            from jobsim.broker.embedded import embedded_client

            client = embedded_client()
        if not client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("RedisBroker needs a client made with decode_responses=True")
        self.client = client
        fake = embedded or type(client).__module__.startswith("fakeredis")
        self.name = "fakeredis" if fake else "redis"
        self.prefix = prefix
        self.lock_key: str | None = None     # set by ``connect``: released by ``close``
        # Names already SADDed into ``queues``/``privates`` since the keyspace was last
        # replaced: saves one command on every push and fetch.
        self._known: set[str] = set()
        self._sizes: dict[str, int] = {}   # queue -> its length, where known (module doc)
        self.queue_writes = 0      # counted here, not in Redis: see base.Broker
        # The embedded client's hot path (``InProcessConnection.answer``): push, pop,
        # fetch, ack and size reads hand fakeredis's command step their fields as bytes,
        # with no redis-py command method, reply callback or decoding around it. The
        # same commands, and a real server's client never has it.
        self._answer: Callable[[list[bytes]], Any] | None = (
            client.connection.answer if embedded else None)
        self._queue_keys: dict[str, bytes] = {}
        self._private_keys: dict[str, bytes] = {}

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _qb(self, queue: str) -> bytes:
        """``_q(queue)`` encoded as redis-py encodes it (UTF-8), remembered: queues
        are few. For the embedded hot path, as ``_pb`` is for ``_p``."""
        encoded = self._queue_keys.get(queue)
        if encoded is None:
            encoded = self._queue_keys[queue] = self._q(queue).encode()
        return encoded

    def _pb(self, worker: str) -> bytes:
        encoded = self._private_keys.get(worker)
        if encoded is None:
            encoded = self._private_keys[worker] = self._p(worker).encode()
        return encoded

    def _register(self, set_name: str, member: str, pipe: Any) -> None:
        marker = f"{set_name}\0{member}"
        if marker not in self._known:
            pipe.sadd(self._k(set_name), member)
            self._known.add(marker)

    def _nonempty(self, set_name: str, key_of: Callable[[str], str]) -> list[str]:
        names = sorted(self.client.smembers(self._k(set_name)))
        if not names:
            return []
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.llen(key_of(name))
        return [name for name, size in zip(names, pipe.execute(), strict=True) if size]

    # ---- queues -------------------------------------------------------------------
    def _q(self, queue: str) -> str:
        return f"{self.prefix}queue:{queue}"

    def _push(self, queue: str, values: list[str], front: bool) -> None:
        self.queue_writes += 1
        pipe = self.client.pipeline(transaction=True)
        self._register(_QUEUES, queue, pipe)
        command = pipe.rpush if front else pipe.lpush
        for start in range(0, len(values), _BULK_CHUNK):
            command(self._q(queue), *values[start:start + _BULK_CHUNK])
        pipe.execute()
        known = self._sizes.get(queue)
        if known is not None:
            self._sizes[queue] = known + len(values)

    def push(self, queue: str, payload: Payload) -> None:
        if f"{_QUEUES}\0{queue}" in self._known:
            self.queue_writes += 1
            if self._answer is not None:
                self._answer([b"LPUSH", self._qb(queue), canonical_bytes(payload)])
            else:
                self.client.lpush(self._q(queue), canonical(payload))
            known = self._sizes.get(queue)
            if known is not None:
                self._sizes[queue] = known + 1
        else:
            self._push(queue, [canonical(payload)], front=False)

    def push_bulk(self, queue: str, payloads: list[Payload]) -> None:
        if payloads:
            self._push(queue, [canonical(p) for p in payloads], front=False)

    def push_front(self, queue: str, payload: Payload) -> None:
        self._push(queue, [canonical(payload)], front=True)

    def pop(self, queue: str) -> Payload | None:
        known = self._sizes.get(queue)
        if known == 0:
            return None
        if self._answer is not None:
            raw = self._answer([b"RPOP", self._qb(queue)])
        else:
            raw = self.client.rpop(self._q(queue))
        return self._popped(queue, known, raw)

    def _popped(self, queue: str, known: int | None, raw: Any) -> Payload | None:
        """A pop's answer, and the queue's length it tells."""
        if raw is None:
            self._sizes[queue] = 0
            return None
        if known is not None:
            self._sizes[queue] = known - 1
        return _load(raw)

    def queue_size(self, queue: str) -> int:
        known = self._sizes.get(queue)
        if known is not None:
            return known
        if self._answer is not None:
            size = int(self._answer([b"LLEN", self._qb(queue)]))
        else:
            size = int(self.client.llen(self._q(queue)))
        self._sizes[queue] = size
        return size

    def queue_sizes(self, queues: Sequence[str]) -> list[int]:
        """One pipelined LLEN per queue: one round trip (not atomic, nor need it be:
        the simulation is the only client and runs one command at a time). One queue:
        a plain LLEN, the same round trip without a pipeline's own cost. Embedded:
        one LLEN after another, as the pipeline would run them, on the hot path. Lengths
        already known are not asked (module doc)."""
        sizes = self._sizes
        known = [sizes.get(queue) for queue in queues]
        if None not in known:
            return known  # type: ignore[return-value]
        if self._answer is not None:
            answer = self._answer
            found = [int(answer([b"LLEN", self._qb(queue)])) for queue in queues]
        elif len(queues) == 1:
            found = [int(self.client.llen(self._q(queues[0])))]
        else:
            pipe = self.client.pipeline(transaction=False)
            for queue in queues:
                pipe.llen(self._q(queue))
            found = [int(n) for n in pipe.execute()]
        sizes.update(zip(queues, found, strict=True))
        return found

    def queue_names(self) -> list[str]:
        return self._nonempty(_QUEUES, self._q)

    def queue_items(self, queue: str) -> list[Payload]:
        return [_load(raw) for raw in reversed(self.client.lrange(self._q(queue), 0, -1))]

    def remove_from_queue(self, queue: str, jid: str) -> Payload | None:
        # Scan from the head (the back of the queue), as LREM does.
        for raw in self.client.lrange(self._q(queue), 0, -1):
            payload = _load(raw)
            if payload.get("jid") == jid:
                removed = int(self.client.lrem(self._q(queue), 1, raw))
                known = self._sizes.get(queue)
                if known is not None:
                    self._sizes[queue] = known - removed
                return payload
        return None

    # ---- reliable fetch -----------------------------------------------------------
    def _p(self, worker: str) -> str:
        return f"{self.prefix}private:{worker}"

    def pop_to_private(self, queue: str, worker: str) -> Payload | None:
        known = self._sizes.get(queue)
        if known == 0:
            return None
        marker = f"{_PRIVATES}\0{worker}"
        if marker not in self._known:
            self.client.sadd(self._k(_PRIVATES), worker)
            self._known.add(marker)
        if self._answer is not None:
            raw = self._answer([b"LMOVE", self._qb(queue), self._pb(worker),
                                b"RIGHT", b"LEFT"])
        else:
            raw = self.client.lmove(self._q(queue), self._p(worker), "RIGHT", "LEFT")
        return self._popped(queue, known, raw)

    def ack(self, worker: str, payload: Payload) -> bool:
        # The tail holds the oldest fetch: a negative count removes the oldest copy.
        if self._answer is not None:
            return bool(self._answer([b"LREM", self._pb(worker), b"-1",
                                      canonical_bytes(payload)]))
        return bool(self.client.lrem(self._p(worker), -1, canonical(payload)))

    def private_items(self, worker: str) -> list[Payload]:
        return [_load(raw) for raw in reversed(self.client.lrange(self._p(worker), 0, -1))]

    def take_private(self, worker: str) -> list[Payload]:
        pipe = self.client.pipeline(transaction=True)
        pipe.lrange(self._p(worker), 0, -1)
        pipe.delete(self._p(worker))
        raws, _ = pipe.execute()
        return [_load(raw) for raw in reversed(raws)]

    def private_workers(self) -> list[str]:
        return self._nonempty(_PRIVATES, self._p)

    # ---- sorted sets --------------------------------------------------------------
    def zadd(self, zset: str, score: float, payload: Payload) -> None:
        self.client.zadd(self._k(zset), {canonical(payload): score})

    def pop_due(self, zset: str, now: float, limit: int = 1000) -> list[Payload]:
        if limit <= 0:
            return []
        key = self._k(zset)
        members = self.client.zrangebyscore(key, "-inf", now, start=0, num=limit)
        if members:
            self.client.zrem(key, *members)
        return [_load(m) for m in members]

    def zsize(self, zset: str) -> int:
        return int(self.client.zcard(self._k(zset)))

    def zitems(self, zset: str) -> list[tuple[float, Payload]]:
        pairs = self.client.zrange(self._k(zset), 0, -1, withscores=True)
        return [(float(score), _load(member)) for member, score in pairs]

    def zremove_jid(self, zset: str, jid: str) -> Payload | None:
        """The first member with this jid in (score, member) order."""
        for member in self.client.zrange(self._k(zset), 0, -1):
            payload = _load(member)
            if payload.get("jid") == jid:
                self.client.zrem(self._k(zset), member)
                return payload
        return None

    def dead_add(
        self, payload: Payload, now: float,
        max_jobs: int = DEAD_MAX_JOBS, timeout_s: float = DEAD_TIMEOUT_S,
    ) -> list[tuple[Payload, str]]:
        key, cutoff = self._k(DEAD), now - timeout_s
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(key, {canonical(payload): now})
        pipe.zrangebyscore(key, "-inf", cutoff)
        pipe.zremrangebyscore(key, "-inf", cutoff)
        pipe.zcard(key)
        _, aged, _, size = pipe.execute()
        trimmed = [(_load(m), "age") for m in aged]
        excess = size - max(max_jobs - 1, 0)
        if excess > 0:
            pipe = self.client.pipeline(transaction=True)
            pipe.zrange(key, 0, excess - 1)
            pipe.zremrangebyrank(key, 0, excess - 1)
            oldest, _ = pipe.execute()
            trimmed += [(_load(m), "size") for m in oldest]
        return trimmed

    # ---- locks --------------------------------------------------------------------
    def _lock(self, key: str) -> str:
        return f"{self.prefix}lock:{key}"

    @staticmethod
    def _lock_value(holder: str, expires_at: float | None) -> str:
        return json.dumps({"holder": holder, "expires_at": expires_at})

    def lock_acquire(self, key: str, holder: str, now: float, expires_at: float | None) -> bool:
        if self.lock_holder(key, now) is not None:
            return False
        self.client.set(self._lock(key), self._lock_value(holder, expires_at))
        return True

    def lock_force(self, key: str, holder: str, expires_at: float | None) -> str | None:
        previous = self.client.set(
            self._lock(key), self._lock_value(holder, expires_at), get=True
        )
        return None if previous is None else json.loads(previous)["holder"]

    def lock_release(self, key: str, holder: str) -> bool:
        raw = self.client.get(self._lock(key))
        if raw is None or json.loads(raw)["holder"] != holder:
            return False
        self.client.delete(self._lock(key))
        return True

    def lock_holder(self, key: str, now: float) -> str | None:
        raw = self.client.get(self._lock(key))
        if raw is None:
            return None
        held = json.loads(raw)
        if held["expires_at"] is not None and held["expires_at"] <= now:
            self.client.delete(self._lock(key))
            return None
        return held["holder"]

    # ---- counters and hashes ------------------------------------------------------
    def _h(self, key: str) -> str:
        return f"{self.prefix}hash:{key}"

    def incr(self, key: str, by: int = 1) -> int:
        return int(self.client.incrby(f"{self.prefix}counter:{key}", by))

    def hset(self, key: str, field: str, value: Any) -> None:
        self.client.hset(self._h(key), field, json.dumps(value))

    def hsetnx(self, key: str, field: str, value: Any) -> bool:
        return bool(self.client.hsetnx(self._h(key), field, json.dumps(value)))

    def hget(self, key: str, field: str) -> Any:
        raw = self.client.hget(self._h(key), field)
        return None if raw is None else json.loads(raw)

    def hdel(self, key: str, field: str) -> bool:
        return bool(self.client.hdel(self._h(key), field))

    def hgetall(self, key: str) -> dict[str, Any]:
        return {f: json.loads(v) for f, v in self.client.hgetall(self._h(key)).items()}

    def hincr(self, key: str, field: str, by: int = 1) -> int:
        try:
            return int(self.client.hincrby(self._h(key), field, by))
        except redis.exceptions.ResponseError:
            # Not an integer spelling (2.5, "3", true): MemoryBroker's int(value) + by.
            value = int(self.hget(key, field)) + by
            self.hset(key, field, value)
            return value

    def delete(self, key: str) -> None:
        self.client.delete(self._lock(key), f"{self.prefix}counter:{key}", self._h(key))

    # ---- failover and housekeeping ------------------------------------------------
    def _keys(self) -> list[str]:
        pattern = _glob_escape(self.prefix) + "*"
        return sorted(self.client.scan_iter(match=pattern, count=1000))

    def snapshot(self) -> tuple[_KeyDump, ...]:
        """Every key under the prefix as (key, type, value), read type by type."""
        keys = self._keys()
        pipe = self.client.pipeline(transaction=True)
        for key in keys:
            pipe.type(key)
        types = pipe.execute()
        readers: dict[str, Callable[[str], Any]] = {
            "string": pipe.get,
            "list": lambda k: pipe.lrange(k, 0, -1),
            "set": pipe.smembers,
            "zset": lambda k: pipe.zrange(k, 0, -1, withscores=True),
            "hash": pipe.hgetall,
        }
        for key, kind in zip(keys, types, strict=True):
            readers[kind](key)
        values = pipe.execute()
        return tuple(zip(keys, types, values, strict=True))

    def restore(self, snapshot: tuple[_KeyDump, ...]) -> None:
        """Replace the whole keyspace under the prefix with the snapshot."""
        self.queue_writes += 1
        pipe = self.client.pipeline(transaction=True)
        for key in self._keys():
            pipe.delete(key)
        for key, kind, value in snapshot:
            if kind == "string":
                pipe.set(key, value)
            elif kind == "list":
                pipe.rpush(key, *value)
            elif kind == "set":
                pipe.sadd(key, *value)
            elif kind == "zset":
                pipe.zadd(key, dict(value))
            else:
                pipe.hset(key, mapping=value)
        pipe.execute()
        self._known.clear()
        self._sizes.clear()

    def close(self) -> None:
        """End the run: delete its keys and its lock, disconnect. Nothing else is
        touched; an embedded server is simply dropped."""
        if self.lock_key is None:
            return
        self.flush()
        self.client.delete(self.lock_key)
        self.lock_key = None
        self.client.close()

    def flush(self) -> None:
        """Delete every key under the prefix (tests on a shared real server)."""
        keys = self._keys()
        for start in range(0, len(keys), _BULK_CHUNK):
            self.client.delete(*keys[start:start + _BULK_CHUNK])
        self._known.clear()
        self._sizes.clear()
