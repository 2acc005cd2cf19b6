"""The embedded fakeredis server's client, connected in process: no RESP, no pool.

The Redis broker's default store is a private ``fakeredis.FakeServer`` that nothing else
connects to. Through fakeredis's stock client every command was packed into RESP bytes by
redis-py, parsed back into the same arguments by fakeredis, queued as a reply, and wrapped
in redis-py's pool checkout, retry and metrics: two thirds of a command's time, none of
it Redis's semantics (docs/performance.md, "fakeredis per command").

Here the wire is left out and nothing else is. A command still goes through redis-py's
command method (the arguments) and reply callback (the answer), and through fakeredis's
own command step: the ACL check, the arity check, the signature's argument types and key
types (WRONGTYPE), the command itself, the RESP2 reply shape, the write-back, watches and
keyspace notifications (``FakeSocket._run_command``), the server lock and clock as
``FakeSocket._process_command`` sets them. A connection inside MULTI, or with client
replies switched off, and any command outside ``KEYSPACE`` (MULTI, EXEC, SELECT, CLIENT,
AUTH, ACL, scripts, pub/sub ...) take ``_process_command`` itself, whole; only its reply
queue is skipped.

The broker's own hot path (push, pop, fetch, ack, size reads) goes one step further:
``InProcessConnection.answer`` takes the command's fields as bytes and returns the RESP2
answer undecoded, leaving out redis-py's command method and reply callback too, never
fakeredis's command step. Of the step's checks, two are not repeated on the direct path:
the arity (``_process_command`` checks it, then the signature's ``apply`` again) and,
while this connection's user can be refused nothing, the ACL (``_acl_check`` says why
that verdict cannot go stale).

``embedded_client`` is the only way in, always on a new FakeServer; a real server is
reached with ``redis.Redis`` untouched (``broker.redis.connect``). The fakeredis
internals used here are pinned in pyproject (fakeredis 2.41.x), and
tests/conformance/test_embedded_client.py fails if the in-process path stops being taken or
answers anything differently from fakeredis's stock client.
"""

from __future__ import annotations

import collections
import time
from typing import Any

import fakeredis
import redis
from fakeredis import _msgs
from fakeredis._clients._sync import FakeRedisConnection
from fakeredis._helpers import NoResponse, SimpleError, decode_command_bytes

# Commands that only read or write keys of the selected database: the broker's and
# their neighbours. Each runs through the socket's own command step (module doc).
KEYSPACE = frozenset((
    "get", "set", "getset", "getdel", "incr", "incrby", "decr", "decrby", "append",
    "strlen", "mget", "mset", "setnx", "del", "unlink", "exists", "type", "scan", "keys",
    "lpush", "rpush", "lpushx", "rpushx", "lpop", "rpop", "lmove", "rpoplpush", "llen",
    "lrange", "lindex", "lrem", "lset", "ltrim",
    "sadd", "srem", "smembers", "sismember", "scard",
    "zadd", "zrem", "zcard", "zscore", "zrange", "zrangebyscore", "zrevrange",
    "zrevrangebyscore", "zremrangebyscore", "zremrangebyrank", "zcount",
    "hset", "hsetnx", "hget", "hdel", "hgetall", "hincrby", "hexists", "hlen", "hkeys",
    "hvals", "hmget",
))


# Answers that ``BaseFakeSocket._decode_result`` returns unchanged.
_PLAIN = frozenset((bytes, int, float, type(None)))


class _Fields(list[bytes]):
    """One command's arguments as bytes: what fakeredis's RESP parser would produce."""


class InProcessConnection(FakeRedisConnection):
    """A fakeredis connection that hands each command's arguments to the fake socket."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handed = 0     # commands handed over in process (tests read both counts)
        self.direct = 0     # of which ran through the socket's command step
        self._replies: collections.deque[Any] = collections.deque()
        self._steps: dict[bytes, Any] = {}      # command name -> (func, sig) or None
        self._steps_of: Any = None              # ... for this socket
        self._acl_open: Any = None              # socket whose ACL can refuse nothing

    # ---- sending -----------------------------------------------------------------
    def pack_command(self, *args: Any) -> list[Any]:
        return [self._fields(args)]

    def pack_commands(self, commands: Any) -> list[Any]:
        return [self._fields(args) for args in commands]

    def _fields(self, args: tuple[Any, ...]) -> _Fields:
        name = args[0]
        # As redis-py's serializer: a name holding a space ("CONFIG GET") is two fields.
        head = name.encode().split() if isinstance(name, str) else bytes(name).split()
        encoder = self.encoder
        encode, encoding, errors = encoder.encode, encoder.encoding, encoder.encoding_errors
        head += [arg.encode(encoding, errors) if type(arg) is str else bytes(encode(arg))
                 for arg in args[1:]]
        return _Fields(head)

    def send_command(self, *args: Any, **kwargs: Any) -> None:
        if not self._sock:
            self.connect()
        self._hand(self._sock, self._fields(args))

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self._sock:
            self.connect()
        sock = self._sock
        for item in [command] if isinstance(command, (str, bytes)) else command:
            if type(item) is _Fields:
                self._hand(sock, item)
            else:       # bytes packed elsewhere: fakeredis's parser, as the stock client
                self._acl_open = None
                sock.sendall(item)
                self._take_queued(sock)

    def _hand(self, sock: Any, fields: list[bytes]) -> None:
        # FakeSocket.sendall's refusal first, as for bytes.
        if not self._server.connected or sock._killed:
            raise self._connection_error_class(_msgs.CONNECTION_ERROR_MSG)
        self.handed += 1
        step = self._steps.get(fields[0]) if sock is self._steps_of else None
        if step is None:
            step = self._step(sock, fields[0])
        if not step or not self._plain(sock):
            self._acl_open = None       # AUTH, ACL SETUSER, RESET ... may change it
            sock._process_command(fields)
            self._take_queued(sock)
            return
        result = self._direct(sock, step, fields)
        if not isinstance(result, NoResponse):
            self._replies.append(result)

    def _direct(self, sock: Any, step: Any, fields: list[bytes]) -> Any:
        """A keyspace command through the socket's own command step, as
        ``_process_command`` runs it outside MULTI: its RESP2 answer, undecoded, or
        redis-py's error for an error answer.

        Two checks of ``_process_command`` are not repeated. The arity is checked by the
        signature's ``apply`` inside ``_run_command`` (``_process_command`` checks it
        once more just before): same lock, same error, nothing written before it. The
        ACL is checked while the user may be refused something (``_acl_check``)."""
        self.direct += 1
        func, sig = step
        server = sock._server
        try:
            if self._acl_open is not sock or len(server.sockets) != 1:
                self._acl_check(sock, fields)
            with server.lock:
                now = time.time()
                for db in server.dbs.values():
                    db.time = now
                result = sock._run_command(func, sig, fields[1:], False)
        except SimpleError as exc:
            result = exc
        return result if type(result) in _PLAIN else sock._decode_result(result)

    def _acl_check(self, sock: Any, fields: list[bytes]) -> None:
        """fakeredis's ACL check of the command, then whether this connection's user can
        be refused anything at all. When it cannot (the default user, unrestricted:
        ``validate_command`` returns before looking at the command), later keyspace
        commands skip the check while that stays true. It stays true while the
        socket is the server's only one (the embedded server is private) and runs
        only keyspace commands: a rule or the user changes only through a command
        (ACL SETUSER, AUTH, HELLO, RESET ...), each of which takes the whole step,
        which forgets the verdict (``_hand``)."""
        info = sock._client_info
        acl = sock._server.acl
        username = info.user
        acl.validate_command(username, info, fields)
        user = acl._user_acl.get(username)
        self._acl_open = (sock if user is None or (user.enabled and user.unrestricted())
                          else None)

    def answer(self, fields: list[bytes]) -> Any:
        """One command, its fields already bytes (``[b"RPOP", b"queue:q"]``), answered
        as ``read_response(disable_decoding=True)`` would: bytes, int, list or None, an
        error raised. The broker's hot path: no redis-py command method, reply callback
        or decoding, and the same command step as ``send_command`` then
        ``read_response``, which it takes whole whenever a reply is pending, the
        connection is inside MULTI (``_plain``) or the command is not a KEYSPACE one."""
        sock = self._sock
        step = self._steps.get(fields[0]) if sock is self._steps_of else None
        if (not step or self._replies or not self._server.connected or sock._killed
                or sock._transaction is not None
                or sock._reply_off or sock._reply_skip or sock._reply_skip_next):
            return self._answer_queued(fields)
        self.handed += 1
        result = self._direct(sock, step, fields)
        if isinstance(result, redis.exceptions.RedisError):
            raise result
        return result

    def _answer_queued(self, fields: list[bytes]) -> Any:
        if not self._sock:
            self.connect()
        self._hand(self._sock, fields)
        return self.read_response(disable_decoding=True)

    @staticmethod
    def _plain(sock: Any) -> bool:
        """Outside MULTI and with replies on: there _process_command runs the command at
        once and queues its reply, and nothing else; the direct step does the same."""
        return (sock._transaction is None
                and not (sock._reply_off or sock._reply_skip or sock._reply_skip_next))

    def _step(self, sock: Any, head: bytes) -> Any:
        """(func, sig) of a KEYSPACE command on this socket, else False."""
        if sock is not self._steps_of:
            self._steps, self._steps_of = {}, sock
        name, step = decode_command_bytes(head), False
        if name in KEYSPACE:
            try:
                step = sock._name_to_func(name)
            except SimpleError:     # not on this server type: the full step says so
                step = False
        self._steps[head] = step
        return step

    def _take_queued(self, sock: Any) -> None:
        responses = sock.responses
        while responses is not None and not responses.empty():
            self._replies.append(responses.get_nowait())

    # ---- receiving ---------------------------------------------------------------
    def read_response(self, disable_decoding: bool = False, **kwargs: Any) -> Any:
        replies = self._replies
        if not replies:     # nothing was answered: wait on the socket as the stock client
            return super().read_response(disable_decoding=disable_decoding, **kwargs)
        response = replies.popleft()
        if isinstance(response, redis.exceptions.RedisError):
            raise response
        return response if disable_decoding else self._decode(response)

    def disconnect(self, *args: Any, **kwargs: Any) -> None:
        self._replies.clear()
        super().disconnect(*args, **kwargs)


class EmbeddedPipeline(redis.client.Pipeline):
    """A pipeline on the client's one connection, without pool, retry or metrics."""

    held: InProcessConnection

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        stack = self.command_stack
        if self.watching or self.scripts or self.connection is not None:
            return super().execute(raise_on_error)      # WATCH, scripts: redis-py's way
        if not stack:
            return []
        run = (self._execute_transaction if self.transaction or self.explicit_transaction
               else self._execute_pipeline)
        try:
            return list(run(self.held, stack, raise_on_error))
        finally:
            self.reset()


class EmbeddedRedis(fakeredis.FakeRedis):
    """A redis-py client of one private fake server, holding one in-process connection."""

    connection: InProcessConnection

    def execute_command(self, *args: Any, **options: Any) -> Any:
        # redis-py's _execute_command without the pool, the retry and the metrics: one
        # connection, that cannot drop, of a client no two threads share.
        conn = self.connection
        conn.send_command(*args)
        return self.parse_response(conn, args[0], **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> EmbeddedPipeline:
        pipe = EmbeddedPipeline(self.connection_pool, self.response_callbacks, transaction,
                                shard_hint)
        pipe.held = self.connection
        return pipe


def embedded_client() -> EmbeddedRedis:
    """A client of a new private FakeServer, decoding replies as the broker needs."""
    return EmbeddedRedis(server=fakeredis.FakeServer(), decode_responses=True,
                         single_connection_client=True,
                         connection_class=InProcessConnection)
