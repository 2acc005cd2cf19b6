"""The client: how application code enqueues jobs (perform_async, perform_in, bulk).

Payloads are Sidekiq's: jid, class, args, queue, retry, created_at, enqueued_at (and
``at`` while scheduled). Arguments must be JSON-native, as Sidekiq 7+ enforces, because
the payload must survive a trip through Redis unchanged; anything else is rejected at
push time naming the class and the argument.

A push that times out is ambiguous: it may have been applied. The client records it as
``enqueue`` with ``ack=False`` (the checker treats it as "maybe") and raises
``PushTimeout``; the caller decides whether to push again, as an application would.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

from jobsim.broker.base import SCHEDULE, BrokerError, Payload
from jobsim.system.jids import JidSource
from jobsim.system.job import Job

if TYPE_CHECKING:
    from jobsim.system.system import JobSystem


class ArgumentError(TypeError):
    """A job argument that would not survive JSON: rejected at push time."""


class PushError(RuntimeError):
    """The push failed and the client knows it was not applied."""


class PushTimeout(RuntimeError):
    """The push timed out: it may or may not have been applied."""

    def __init__(self, jid: str, message: str) -> None:
        super().__init__(jid, message)     # both in args: simpy rebuilds it from them
        self.jid = jid
        self.message = message

    def __str__(self) -> str:
        return self.message


class ClientMiddleware(Protocol):
    def before_push(self, payload: Payload) -> Payload | str | None:
        """Return the payload to push (possibly changed), None to skip the push, or the
        jid (a str) when the middleware took the job into its own custody (deferred)."""
        ...


class RouteAll:
    """Send every job to one queue, whatever its class says: how an application with a
    single Sidekiq queue is configured. Follow-up jobs enqueued by jobs are routed too."""

    def __init__(self, queue: str) -> None:
        self.queue = queue

    def before_push(self, payload: Payload) -> Payload:
        if payload["queue"] == self.queue:
            return payload
        return {**payload, "queue": self.queue}


def check_json_native(cls_name: str, value: Any, path: str) -> None:
    """Raise ArgumentError unless ``value`` round-trips through JSON unchanged."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return
    if kind is float:
        if not math.isfinite(value):
            raise ArgumentError(f"{cls_name}: argument {path} is {value!r}; JSON has no NaN/inf")
        return
    if kind is list:
        for i, item in enumerate(value):
            of = type(item)
            if of is str or of is int or of is bool or item is None:
                continue                    # the common case, without a call or a path
            check_json_native(cls_name, item, f"{path}[{i}]")
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise ArgumentError(f"{cls_name}: argument {path} has non-string key {key!r}")
            check_json_native(cls_name, item, f"{path}[{key!r}]")
        return
    raise ArgumentError(
        f"{cls_name}: argument {path} is a {kind.__name__} ({value!r}); job arguments must "
        "be JSON-native: str, int, float, bool, None, list, or dict with str keys"
    )


class PushTemplate:
    """One workload entry's pushes, checked once: the payload every push of ``cls`` with
    these options starts from (``Client.template``). ``args`` is the entry's one shared
    args list when the class's ``make_args`` ignores the index (already checked), else
    None and each push brings, and has checked, its own."""

    __slots__ = ("args", "cls", "proto")

    def __init__(self, cls: type[Job], proto: Payload, args: list[Any] | None) -> None:
        self.cls = cls
        self.proto = proto
        self.args = args


class Client:
    """Pushes jobs into a JobSystem's storage and records each push in the history."""

    def __init__(self, system: JobSystem) -> None:
        self.system = system
        self.broker = system.broker      # the application's own connection to storage
        self.middleware: list[ClientMiddleware] = []
        self.new_jid = JidSource(system.sim.streams["jid"])
        """Sidekiq's 12 random bytes in hex, from a seeded stream (``jids.py``)."""

    # ---- public API ---------------------------------------------------------------
    def perform_async(self, cls: type[Job], *args: Any, **options: Any) -> str | None:
        return self.push(cls, list(args), **options)

    def perform_in(self, delay: float, cls: type[Job], *args: Any, **options: Any) -> str | None:
        return self.push(cls, list(args), at=self.system.sim.now + delay, **options)

    def perform_at(self, at: float, cls: type[Job], *args: Any, **options: Any) -> str | None:
        return self.push(cls, list(args), at=at, **options)

    def push(self, cls: type[Job], args: list[Any], *, queue: str | None = None,
             at: float | None = None, jid: str | None = None, **options: Any) -> str | None:
        """Push one job; returns its jid, or None when a middleware skipped it."""
        return self._submit(self.build(cls, args, queue=queue, at=at, jid=jid, **options))

    def _submit(self, payload: Payload) -> str | None:
        """A built payload through the middleware (which may skip it, or take it into
        custody and answer its jid), then into storage; returns its jid or None."""
        for middleware in self.middleware:
            payload = middleware.before_push(payload)  # type: ignore[assignment]
            if payload is None or isinstance(payload, str):
                return payload
        self.store(payload)
        return payload["jid"]

    def push_bulk(self, cls: type[Job], args_list: list[list[Any]], **options: Any) -> list[str]:
        """Push many jobs of one class (Sidekiq's push_bulk): one storage call when no
        middleware needs to see each job."""
        if self.middleware or options.get("at") is not None:
            jids = [self.push(cls, args, **options) for args in args_list]
            return [j for j in jids if j is not None]
        return self._store_bulk([self.build(cls, args, **options) for args in args_list])

    # ---- a workload entry's pushes: checked once per entry, not per push ----------
    def template(self, cls: type[Job], options: dict[str, Any],
                 args: list[Any] | None = None) -> PushTemplate:
        """What ``push(cls, args, **options)`` would build, with its class, queue, retry
        and options checked now, once: every push from the template builds the same
        payload (key order included) and refuses what ``push`` refuses. ``args``: one
        list every push shares, checked here too."""
        if "at" in options or "jid" in options:
            raise TypeError("a push template takes no 'at' or 'jid': push those one by one")
        proto = self.build(cls, [], jid="-", **options)   # a placeholder: no id drawn
        if args is not None:
            check_json_native(proto["class"], args, "args")
        return PushTemplate(cls, proto, args)

    def _from_template(self, template: PushTemplate, args: list[Any] | None) -> Payload:
        """A payload from ``template``: ``args`` (None: the template's shared, checked
        args) are checked here unless shared."""
        payload = template.proto.copy()
        system = self.system
        # the library names the class at every push, as build does: a class added
        # mid-run can make a bare name ambiguous
        name = payload["class"] = system.library.payload_name(template.cls)
        if args is None:
            payload["args"] = template.args
        else:
            check_json_native(name, args, "args")
            payload["args"] = args
        payload["jid"] = self.new_jid()
        payload["created_at"] = payload["enqueued_at"] = system.sim.env.now
        return payload

    def push_template(self, template: PushTemplate, args: list[Any] | None = None
                      ) -> str | None:
        """``push`` from a template: same payload, middleware, storage and records."""
        payload = self._from_template(template, args)
        if self.middleware:
            return self._submit(payload)
        self.store(payload)              # _submit without middleware: once an arrival
        return payload["jid"]

    def push_template_bulk(self, template: PushTemplate, args_list: list[list[Any] | None]
                           ) -> list[str]:
        """``push_bulk`` from a template (None in ``args_list``: the shared args)."""
        if self.middleware:
            jids = [self.push_template(template, args) for args in args_list]
            return [j for j in jids if j is not None]
        return self._store_bulk([self._from_template(template, a) for a in args_list])

    def _store_bulk(self, payloads: list[Payload]) -> list[str]:
        """One storage call for payloads of one queue, then their records."""
        if not payloads:
            return []
        queue = payloads[0]["queue"]
        try:
            self.broker.push_bulk(queue, payloads)
        except BrokerError as exc:
            for p in payloads:
                self._record_failed_push(p, exc)
            raise self._push_exception(payloads[0], exc) from exc
        move = self.system.lifecycle.move
        for p in payloads:
            move("enqueue", p["jid"], queue, p["class"], p["retry"], True, p["args"])
        self.system.notify(queue, len(payloads))
        return [p["jid"] for p in payloads]

    # ---- internals ----------------------------------------------------------------
    def build(self, cls: type[Job], args: list[Any], *, queue: str | None = None,
              at: float | None = None, jid: str | None = None, **options: Any) -> Payload:
        """A validated payload; options are per-push overrides of the class options."""
        name = self.system.library.payload_name(cls)
        check_json_native(name, args, "args")
        now = self.system.sim.now
        payload: Payload = {
            "jid": jid or self.new_jid(),
            "class": name,
            "args": args,
            "queue": queue or cls.queue,
            "retry": options.pop("retry", cls.retry),
            "created_at": now,
        }
        for key, value in options.items():
            if value is not None:
                check_json_native(name, value, key)
                payload[key] = value
        if at is not None and at > now:
            payload["at"] = at
        else:
            payload["enqueued_at"] = now
        return payload

    def store(self, payload: Payload) -> None:
        """Write a built payload to its queue or the schedule set, and record it. A
        storage failure becomes what the client can know (``_push_exception``)."""
        system, jid, queue = self.system, payload["jid"], payload["queue"]
        at = payload.get("at")
        try:
            if at is None:
                self.broker.push(queue, payload)
            else:
                self.broker.zadd(SCHEDULE, at, payload)
        except BrokerError as exc:
            self._record_failed_push(payload, exc)
            raise self._push_exception(payload, exc) from exc
        lifecycle = system.lifecycle
        if jid in lifecycle.state:
            system.sim.record("copy", jid, queue, "repush")
        elif at is None:
            lifecycle.move("enqueue", jid, queue, payload["class"], payload["retry"], True,
                           payload["args"])
        else:
            lifecycle.move("schedule", jid, queue, payload["class"], payload["retry"], True,
                           at, payload["args"])
        if at is None:
            system.idle.notify(1, queue)   # system.notify(queue, 1), one call less

    @staticmethod
    def _push_exception(payload: Payload, exc: BrokerError) -> Exception:
        if getattr(exc, "ambiguous", False):
            return PushTimeout(payload["jid"], f"push of {payload['jid']} timed out: {exc}")
        return PushError(f"push of {payload['jid']} failed: {exc}")

    def _record_failed_push(self, payload: Payload, exc: BrokerError) -> None:
        """A timeout is recorded as an unacknowledged push; a refusal as a failed one."""
        system, jid, queue = self.system, payload["jid"], payload["queue"]
        if not getattr(exc, "ambiguous", False):
            system.sim.record("enqueue_failed", jid, queue, payload["class"], type(exc).__name__)
        elif system.lifecycle.get(jid) is None:
            at = payload.get("at")
            if at is None:
                system.lifecycle.move("enqueue", jid, queue, payload["class"],
                                      payload["retry"], False, payload["args"])
            else:
                system.lifecycle.move("schedule", jid, queue, payload["class"],
                                      payload["retry"], False, at, payload["args"])
