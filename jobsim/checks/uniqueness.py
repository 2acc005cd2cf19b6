"""Uniqueness: one holder per lock digest at a time, and no hold outlives its TTL.

Why: a uniqueness lock is only worth its promise: while job A holds digest D, no other
job may take D, and a lock with a TTL is free once the TTL has run out. A lock that
always "succeeds", or one whose expiry is misread, breaks that promise silently: the
second copy runs and nothing fails. This checker replays the ``lock`` events (and the
``unique_conflict`` events that name a holder) of a history:

- ``overlap``: job B acquires D while A holds it: A's hold had not been released, and
  its end (an ``expire`` of A) came before A's TTL ran out (or A had no TTL). A ``force``
  (``on_conflict: replace``) is a declared takeover and ends A's hold legally.
- ``past_ttl``: A's hold is still treated as held after its TTL: a conflict naming A, or
  A's ``release``, later than A's acquire plus the TTL.

Each hold is judged by its own TTL: the ``ttl`` option when given (it overrides), else
the TTL its ``acquire`` or ``force`` event carries (a job class's own ``unique`` TTL, or
the run's default), else the run's ``safeguards.unique.ttl`` (histories recorded before
lock events carried a TTL; seconds; none: the lock never expires).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobsim.checks.options import Option
from jobsim.checks.result import MAX_EXAMPLES, CheckResult, verdict
from jobsim.history.events import index
from jobsim.history.history import History

OPTIONS = {
    "ttl": Option("positive", "lock TTL in seconds for every hold (default: each hold's "
                              "own, from its lock event)"),
}
_KEY, _OP, _TTL = index("lock", "key"), index("lock", "op"), index("lock", "ttl")
_CONFLICT_KEY = index("unique_conflict", "key")
_CONFLICT_HOLDER = index("unique_conflict", "holder")
_EPS = 1e-9


class _Locks:
    def __init__(self, ttl: float | None, forced_ttl: bool) -> None:
        self.ttl = ttl                  # the option's, or the run's default
        self.forced_ttl = forced_ttl    # the option was given: it overrides every hold's own
        self.held: dict[str, tuple[str, float, float | None]] = {}  # digest -> (holder, since, ttl)
        self.examples: list[dict[str, Any]] = []
        self.overlaps = self.past_ttl = self.acquires = self.forced = self.conflicts = 0
        self.digests: set[str] = set()

    @staticmethod
    def expired(hold: tuple[str, float, float | None], t: float) -> bool:
        ttl = hold[2]
        return ttl is not None and t >= hold[1] + ttl - _EPS

    def hold_ttl(self, ev: tuple[Any, ...]) -> float | None:
        own = ev[_TTL] if len(ev) > _TTL else None
        return self.ttl if self.forced_ttl or own is None else float(own)

    def lock(self, ev: tuple[Any, ...]) -> None:
        t, jid, key, op = ev[0], ev[2], ev[_KEY], ev[_OP]
        self.digests.add(key)
        current = self.held.get(key)
        if op in ("acquire", "force"):
            self.acquires += 1
            if current is not None and current[0] != jid:
                if op == "force":
                    self.forced += 1
                elif not self.expired(current, t):
                    self._flag("overlap", "lock taken while held", t, jid, key, current)
            if current is None or current[0] != jid:
                self.held[key] = (jid, t, self.hold_ttl(ev))
        elif op == "expire":
            # An expiry before the TTL frees nothing: the hold stands, and the next
            # holder's acquire is the overlap it hides.
            if current is not None and current[0] == jid and self.expired(current, t):
                del self.held[key]
        elif op == "release" and current is not None and current[0] == jid:
            if self.expired(current, t):
                self._flag("past_ttl", "released after its TTL", t, jid, key, current)
            del self.held[key]

    def conflict(self, ev: tuple[Any, ...]) -> None:
        self.conflicts += 1
        key, holder = ev[_CONFLICT_KEY], ev[_CONFLICT_HOLDER]
        current = self.held.get(key)
        if current is not None and current[0] == holder and self.expired(current, ev[0]):
            self._flag("past_ttl", "conflict with an expired hold", ev[0], ev[2], key, current)

    def _flag(self, kind: str, what: str, t: float, jid: str, key: str,
              current: tuple[str, float, float | None]) -> None:
        if kind == "overlap":
            self.overlaps += 1
        else:
            self.past_ttl += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append({"jid": jid, "t": t, "what": what, "key": key,
                                  "holder": current[0], "since": current[1]})


def _ttl(config: Mapping[str, Any]) -> float | None:
    unique = (config.get("safeguards") or {}).get("unique") or {}
    ttl = unique.get("ttl")
    return None if ttl is None else float(ttl)


def check(history: History, config: Mapping[str, Any] | None = None,
          ttl: float | None = None) -> CheckResult:
    """Verdict on overlapping holds of one digest and holds past their TTL."""
    cfg = (next((e[3] for e in history.events if e[1] == "config"), None) or {}
           if config is None else config)
    locks = _Locks(ttl if ttl is not None else _ttl(cfg), forced_ttl=ttl is not None)
    for ev in history.events:
        kind = ev[1]
        if kind == "lock":
            locks.lock(ev)
        elif kind == "unique_conflict":
            locks.conflict(ev)
    return verdict(
        "uniqueness", locks.examples, locks.overlaps + locks.past_ttl,
        digests=len(locks.digests), acquires=locks.acquires, forced=locks.forced,
        conflicts=locks.conflicts,
        overlaps=locks.overlaps, past_ttl=locks.past_ttl, ttl_s=locks.ttl,
        held_at_end=len(locks.held),
    )
