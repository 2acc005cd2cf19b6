"""Uniqueness locks, after sidekiq-unique-jobs (docs/semantics.md, Uniqueness and idempotency).

Why: a fan-out pushed twice (a client retry after a timeout, a double click) must not
run twice. A lock keyed by a digest of (class, queue, unique args) is taken at push
and/or around perform; a conflicting job follows ``on_conflict``.

| lock                      | taken            | released                                |
|---------------------------|------------------|-----------------------------------------|
| until_executing           | push             | just before perform                     |
| until_executed            | push             | after a successful perform, or at TTL   |
| until_expired             | push             | only at TTL                             |
| while_executing           | perform starts   | when perform ends (key ``DIGEST:RUN``)  |
| until_and_while_executing | both             | both                                    |

What these locks do *not* do, faithfully: a duplicate delivery of the same jid passes
every lock (locks are held per jid and are re-entrant, as in sidekiq-unique-jobs); a job
waiting to retry keeps its lock; a dead or discarded job releases it; a SIGKILLed job
without a TTL leaves its lock stuck forever (the library needs its reaper for that),
and a push refused by storage after the lock was taken leaves it stuck too.

Conflicts at push: ``drop``/``log`` skip the push (``unique_conflict`` is recorded for
the skipped jid, which never gets an ``enqueue``); ``raise`` raises ``UniqueConflict``
(a ``PushError``: nothing was pushed); ``reject`` sends the job to the dead set without
death handlers (``notify_failure: false``); ``replace`` deletes the holder from its
queue, schedule or retry set (``discard`` reason ``replaced``) and takes the lock;
``reschedule`` tries the same push again every 5 s until the lock is free. At perform
(the ``:RUN`` lock): drop/log discard the job (reason ``unique_conflict``), raise fails it
through the retry machinery, reject kills it, replace runs it anyway, and reschedule
discards it and pushes a new job with the same arguments 5 s later.

History: ``lock(key, op, holder)`` with op ``acquire``, ``release``, ``force`` or
``expire`` (a holder's TTL ran out; recorded when that is observed: someone else took
the lock or the holder tried to release it), so lock intervals can be checked.
Expiry is a timestamp from the simulation clock passed to storage, never a Redis TTL.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobsim.broker.base import RETRY, SCHEDULE, Broker, BrokerError, Payload
from jobsim.system.client import PushError, PushTimeout
from jobsim.system.job import Job, UnknownJob

if TYPE_CHECKING:
    from jobsim.system.system import JobSystem

LOCKS = ("none", "until_executing", "until_executed", "until_expired", "while_executing",
         "until_and_while_executing")
STRATEGIES = ("drop", "log", "raise", "reject", "replace", "reschedule")
PUSH_LOCKS = frozenset({"until_executing", "until_executed", "until_expired",
                        "until_and_while_executing"})
RUN_LOCKS = frozenset({"while_executing", "until_and_while_executing"})
DEFAULTS: dict[str, Any] = {"lock": "until_executed", "ttl": None, "on_conflict": "drop",
                            "args": None}
RESCHEDULE_DELAY_S = 5.0
RUN_SUFFIX = ":RUN"
DIGEST_FIELD = "lock_digest"          # sidekiq-unique-jobs keeps the digest in the payload
_BUILT = frozenset({"jid", "class", "args", "queue", "created_at", "enqueued_at", "at",
                    DIGEST_FIELD})


class UniqueConflict(PushError):
    """A uniqueness lock is held by another job (``on_conflict: raise``)."""

    def __init__(self, key: str, holder: str) -> None:
        super().__init__(f"unique lock {key} is held by job {holder}")
        self.key = key
        self.holder = holder


def lock_digest(cls_name: str, queue: str, unique_args: list[Any]) -> str:
    """sha256 of the canonical JSON of (class, queue, unique args): stable across runs,
    processes and brokers (never Python's ``hash()``)."""
    text = json.dumps([cls_name, queue, unique_args], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Rule:
    """One job class's resolved uniqueness options."""

    cls_name: str
    lock: str
    ttl: float | None
    on_conflict: str
    positions: tuple[int, ...] | None       # indexes into args; None = every argument
    defaults: tuple[Any, ...] = ()          # perform's default for each position

    def key(self, payload: Payload) -> str:
        args = payload["args"]
        if self.positions is None:
            chosen = list(args)
        else:
            chosen = [args[i] if i < len(args) else d
                      for i, d in zip(self.positions, self.defaults, strict=True)]
        return lock_digest(self.cls_name, payload["queue"], chosen)


def resolve(cls: type[Job], options: Mapping[str, Any]) -> Rule | None:
    """The class's own ``unique`` dict wins over the scenario's options; lock none: off."""
    own = cls.unique is not None
    spec = check_options(cls.unique if own else options, f"{cls.__name__}.unique" if own
                         else "unique")
    if spec["lock"] == "none":
        return None
    positions, defaults = _positions(cls, spec["args"])
    ttl = None if spec["ttl"] is None else float(spec["ttl"])
    return Rule(cls.__name__, spec["lock"], ttl, spec["on_conflict"], positions, defaults)


def check_options(options: Mapping[str, Any], where: str = "unique") -> dict[str, Any]:
    """Options with defaults filled in; a ValueError names the bad key."""
    spec = {**DEFAULTS, **options}
    unknown = set(spec) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}")
    if spec["lock"] not in LOCKS:
        raise ValueError(f"{where}.lock: {spec['lock']!r} is not one of {list(LOCKS)}")
    if spec["on_conflict"] not in STRATEGIES:
        raise ValueError(f"{where}.on_conflict: {spec['on_conflict']!r} is not one of "
                         f"{list(STRATEGIES)}")
    return spec


def _positions(cls: type[Job], names: Any) -> tuple[tuple[int, ...] | None, tuple[Any, ...]]:
    """Map perform's parameter names to argument positions (inspect.signature)."""
    if names is None:
        return None, ()
    params = list(inspect.signature(cls.perform).parameters.values())[1:]   # drop self
    index = {p.name: i for i, p in enumerate(params)
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)}
    missing = [n for n in names if n not in index]
    if missing:
        raise ValueError(f"unique.args: {cls.__name__}.perform has no parameter(s) {missing}; "
                         f"it takes {sorted(index)}")
    positions = tuple(index[n] for n in names)
    defaults = tuple(None if params[i].default is inspect.Parameter.empty
                     else params[i].default for i in positions)
    return positions, defaults


class UniqueLocks:
    """Client middleware (push-time locks) and server hooks (run-time locks, release)."""

    def __init__(self, system: JobSystem, options: Mapping[str, Any]) -> None:
        self.system = system
        self.options = check_options(options)             # bad options fail at install
        self._rules: dict[str, Rule | None] = {}
        self._held: dict[str, tuple[str, float | None]] = {}   # key -> what we last took

    def rule(self, cls_name: str) -> Rule | None:
        if cls_name not in self._rules:
            try:
                cls = self.system.library.resolve(cls_name)
            except UnknownJob:
                self._rules[cls_name] = None
            else:
                self._rules[cls_name] = resolve(cls, self.options)
        return self._rules[cls_name]

    # ---- lock primitives --------------------------------------------------------------
    def _record(self, holder: str, key: str, op: str, ttl: float | None = None) -> None:
        """A ``lock`` event; acquire and force carry the hold's TTL, so the uniqueness
        check judges each hold by its own class's TTL."""
        self.system.sim.record("lock", holder, key, op, holder, ttl)

    def acquire(self, broker: Broker, key: str, jid: str, ttl: float | None) -> str | None:
        """Take ``key`` for ``jid``; None when taken (or already ours), else the holder."""
        now = self.system.sim.now
        expires = None if ttl is None else now + ttl
        if broker.lock_acquire(key, jid, now, expires):
            old = self._held.get(key)
            if old is not None and old[0] != jid:
                self._record(old[0], key, "expire")
            self._held[key] = (jid, expires)
            self._record(jid, key, "acquire", ttl)
            return None
        holder = broker.lock_holder(key, now)
        return None if holder in (jid, None) else holder

    def force(self, broker: Broker, key: str, jid: str, ttl: float | None) -> None:
        expires = None if ttl is None else self.system.sim.now + ttl
        broker.lock_force(key, jid, expires)
        self._held[key] = (jid, expires)
        self._record(jid, key, "force", ttl)

    def release(self, broker: Broker, key: str, jid: str) -> None:
        """Release if ``jid`` holds it; a storage error leaves the lock (stuck until TTL).
        A hold whose TTL has run out is gone, as a Redis key with an expiry is: the
        unlock finds nothing, and the history says ``expire``, not ``release``."""
        old = self._held.get(key)
        now = self.system.sim.now
        try:
            if old is not None and old[0] == jid and old[1] is not None and old[1] <= now:
                broker.lock_holder(key, now)          # drops the expired key
                released = False
            else:
                released = broker.lock_release(key, jid)
        except BrokerError:
            return
        if released:
            self._held.pop(key, None)
            self._record(jid, key, "release")
        elif old is not None and old[0] == jid:     # our TTL ran out before we let go
            del self._held[key]
            self._record(jid, key, "expire")

    # ---- client middleware ------------------------------------------------------------
    def before_push(self, payload: Payload) -> Payload | None:
        rule = self.rule(payload["class"])
        if rule is None:
            return payload
        key = payload[DIGEST_FIELD] = rule.key(payload)   # not stored yet: ours to change
        if rule.lock not in PUSH_LOCKS:
            return payload
        jid = payload["jid"]
        try:
            holder = self.acquire(self.system.client.broker, key, jid, rule.ttl)
        except BrokerError as exc:
            raise PushError(f"push of {jid}: unique lock {key} unavailable: {exc}") from exc
        if holder is None:
            return payload
        return self._conflict_at_push(payload, rule, key, holder)

    def _conflict_at_push(self, payload: Payload, rule: Rule, key: str, holder: str
                          ) -> Payload | None:
        system, jid, strategy = self.system, payload["jid"], rule.on_conflict
        system.sim.record("unique_conflict", jid, key, strategy, holder)
        if strategy == "raise":
            raise UniqueConflict(key, holder)
        if strategy == "reject":
            system.dead.kill(payload, "reject", None, handlers=False)
        elif strategy == "replace":
            self._replace(payload, rule, key, holder)
            return payload
        elif strategy == "reschedule":
            system.sim.process(self._push_later(payload))
        return None

    def _replace(self, payload: Payload, rule: Rule, key: str, holder: str) -> None:
        """Delete the waiting holder (its release frees the lock), then take the lock."""
        system = self.system
        broker = system.client.broker
        state = system.lifecycle.get(holder)
        removed = None
        if state == "enqueued":
            removed = broker.remove_from_queue(payload["queue"], holder)
        elif state in ("scheduled", "retrying"):
            removed = broker.zremove_jid(SCHEDULE if state == "scheduled" else RETRY, holder)
        if removed is not None:
            system.dead.discard(removed, "replaced", None, handlers=False)
        if self.acquire(broker, key, payload["jid"], rule.ttl) is not None:
            self.force(broker, key, payload["jid"], rule.ttl)   # the holder is running

    def _push_later(self, payload: Payload) -> Generator[Any, Any, None]:
        """on_conflict reschedule at push: the same push again, 5 s later (same jid)."""
        yield self.system.sim.timeout(RESCHEDULE_DELAY_S)
        options = {k: v for k, v in payload.items() if k not in _BUILT}
        at = payload.get("at")
        with contextlib.suppress(PushError, PushTimeout):
            cls = self.system.library.resolve(payload["class"])
            self.system.client.push(cls, list(payload["args"]),
                                    queue=payload["queue"], jid=payload["jid"], at=at,
                                    **options)

    # ---- server hooks -------------------------------------------------------------
    def before_perform(self, payload: Payload, worker: str) -> bool:
        rule = self.rule(payload["class"])
        if rule is None:
            return True
        broker, jid = self.system.broker, payload["jid"]
        key = payload.get(DIGEST_FIELD) or rule.key(payload)
        if rule.lock in ("until_executing", "until_and_while_executing"):
            self.release(broker, key, jid)
        if rule.lock in RUN_LOCKS:
            holder = self.acquire(broker, key + RUN_SUFFIX, jid, rule.ttl)
            if holder is not None:
                return self._conflict_at_run(payload, worker, rule, key + RUN_SUFFIX, holder)
        return True

    def after_perform(self, payload: Payload, ok: bool) -> None:
        rule = self.rule(payload["class"])
        if rule is None:
            return
        key = payload.get(DIGEST_FIELD) or rule.key(payload)
        if rule.lock in RUN_LOCKS:
            self.release(self.system.broker, key + RUN_SUFFIX, payload["jid"])
        if ok and rule.lock == "until_executed":
            self.release(self.system.broker, key, payload["jid"])

    def on_terminal(self, payload: Payload, state: str) -> None:
        """A dead or discarded job gives its locks back (sidekiq-unique-jobs' death hook)."""
        rule = self.rule(payload["class"])
        if rule is None:
            return
        key = payload.get(DIGEST_FIELD) or rule.key(payload)
        if rule.lock in PUSH_LOCKS:
            self.release(self.system.broker, key, payload["jid"])
        if rule.lock in RUN_LOCKS:
            self.release(self.system.broker, key + RUN_SUFFIX, payload["jid"])

    def _conflict_at_run(self, payload: Payload, worker: str, rule: Rule, key: str,
                         holder: str) -> bool:
        """Another job runs with the same digest. Returns whether to perform anyway."""
        system, jid, strategy = self.system, payload["jid"], rule.on_conflict
        system.sim.record("unique_conflict", jid, key, strategy, holder)
        if strategy == "replace":
            self.force(system.broker, key, jid, rule.ttl)
            return True
        dup = self._is_dup(payload, worker)
        if strategy == "raise":
            self._fail(payload, worker, dup, UniqueConflict(key, holder))
        elif dup:
            pass                              # a copy owns no state: it just does not run
        elif strategy == "reject":
            system.dead.kill(payload, "reject", None, handlers=False)
        elif strategy == "reschedule":
            system.dead.discard(payload, "rescheduled", None, handlers=False)
            cls = system.library.resolve(payload["class"])
            system.client.perform_in(RESCHEDULE_DELAY_S, cls,
                                     *payload["args"], queue=payload["queue"])
        else:                                 # drop, log
            system.dead.discard(payload, "unique_conflict", None, handlers=False)
        return False

    def _is_dup(self, payload: Payload, worker: str) -> bool:
        """The processor's own verdict: is this execution a duplicate copy?"""
        for proc in self.system.process(worker).processors:
            if proc.current is not None and proc.current[0] is payload:
                return proc.current[2]
        return self.system.lifecycle.get(payload["jid"]) != "processing"

    def _fail(self, payload: Payload, worker: str, dup: bool, exc: Exception) -> None:
        """Fail the execution as if perform had raised ``exc``: it goes through retry."""
        system = self.system
        prior = payload.get("retry_count")
        attempt = 1 if prior is None else prior + 2
        system.sim.record("failure", payload["jid"], type(exc).__name__, attempt, int(dup))
        if not dup:
            cls = self.system.library.resolve(payload["class"])
            system.retry.handle(payload, cls, cls(), exc, system.process(worker).now())


def install(system: JobSystem, options: Mapping[str, Any]) -> UniqueLocks:
    """Install uniqueness locks: a client middleware plus the server hooks."""
    locks = UniqueLocks(system, dict(options))
    system.client.middleware.append(locks)
    hooks = system.hooks
    hooks.before_perform.append(locks.before_perform)
    hooks.after_perform.append(locks.after_perform)
    hooks.on_terminal.append(locks.on_terminal)
    return locks
