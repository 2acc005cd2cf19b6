"""Dead set: death handlers run exactly once per death, the set stays bounded in size and
in age, and no dead job leaves it without a record.

Why: death handlers are where users page a human or compensate (refund, notify); a
missing call loses that signal and a doubled call doubles the compensation. The dead set
is the last copy of a failed job's arguments: growing without bound exhausts Redis, an
entry aged out early loses a job someone may still want to retry, and an entry vanishing
without a ``trim`` event is data lost silently (docs/semantics.md, Dead set).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jobsim.checks.result import MAX_EXAMPLES, CheckResult, verdict
from jobsim.history.history import History

NAME = "dead_set"
# Discards that still run death handlers: Sidekiq's `retry: false` (JobRetry#global), a
# retry_in hook returning :discard, and an exhausted job with `dead: false` (handlers run
# in retries_exhausted, only the morgue is skipped). A replaced unique job owes none.
HANDLED_DISCARDS = frozenset({"retry_false", "discard", "dead_false"})
# Deaths recorded with DeadSet#kill(notify_failure: false): sidekiq-unique-jobs' reject.
SILENT_DEATHS = frozenset({"reject"})
AGE = "age"  # the reason a trim for age is recorded with (jobsim.system.dead)

Copy = tuple[float, int]  # (death time = its score in the set, add number)


@dataclass
class _Replay:
    configured: bool = False
    handlers: list[str] = field(default_factory=list)
    max_jobs: int | None = None
    timeout: float | None = None
    owed: Counter[Any] = field(default_factory=Counter)  # jid -> handler calls owed each
    died_at: dict[Any, float] = field(default_factory=dict)
    calls: Counter[tuple[Any, Any]] = field(default_factory=Counter)
    members: dict[Any, deque[Copy]] = field(default_factory=dict)  # jid -> copies, oldest first
    by_age: deque[tuple[float, int, Any]] = field(default_factory=deque)  # not yet aged out
    gone: set[int] = field(default_factory=set)  # add numbers trimmed (lazily off by_age)
    adds: int = 0
    last_add: float | None = None
    bound: float = -math.inf  # the last add's ZREMRANGEBYSCORE bound: scores <= it were due
    size: int = 0
    max_rest: int = 0
    max_transient: int = 0
    deaths: int = 0
    trimmed: Counter[str] = field(default_factory=Counter)
    early_age_trims: int = 0
    survived_timeout: int = 0
    horizon: bool = False
    horizon_t: float | None = None
    held: set[Any] = field(default_factory=set)
    examples: list[dict[str, Any]] = field(default_factory=list)
    violations: int = 0

    def flag(self, example: dict[str, Any]) -> None:
        self.violations += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(example)


def check(history: History, config: Mapping[str, Any] | None = None) -> CheckResult:
    """Four properties, one pass over the history.

    (a) Each handled death owes one ``death_handler`` event per handler named in the
        config event: every ``dead`` (except SILENT_DEATHS reasons) and every discard in
        HANDLED_DISCARDS. One violation per (job, handler) pair called too few times
        ("missing"), too often ("duplicate"), or called at all when nothing was owed
        ("unexpected", which includes handlers not in the config).
    (b) Size bound, measured at rest. Sidekiq's DeadSet#kill adds, then trims to
        ``dead_max_jobs - 1`` entries in one MULTI, so the size may touch
        ``dead_max_jobs`` only between a ``dead`` event and its ``trim`` events. Rest
        points are just before each ``dead`` event and at the horizon; each rest point
        above ``dead_max_jobs - 1`` is one violation ("over_bound").
    (c) Age rule. Each add first runs ``ZREMRANGEBYSCORE dead -inf (now - timeout)``
        (inclusive), with the death time as score. A ``trim`` for "age" is legal only if
        the copy it removes died at or before that bound ("early_age_trim"); at each rest
        point and at the end, an entry that died at or before the last add's bound and
        is still in the set should have been trimmed ("survived_timeout", once per
        entry). The timeout is the config event's ``dead_timeout_s``.
    (d) A ``trim`` of a job not in the set is a violation ("trim_not_dead"). When a
        horizon exists, every job still in the set must be ``held`` with where="dead"
        ("dropped" if not: it left silently), and every held-dead job must be in the set
        ("held_not_dead").
    Without a config event (a hand-made history) (a) is skipped and (b), (c) have no bound.
    """
    r = _Replay()
    for event in history.events:
        _STEP.get(event[1], _ignore)(r, event)
    _survivors(r)  # the last add's age rule, horizon or not (its trims follow it at once)
    if r.horizon:
        _rest(r, r.size, r.horizon_t, None)
        for jid, copies in r.members.items():
            if copies and jid not in r.held:
                r.flag({"what": "dropped", "jid": jid, "t": r.died_at.get(jid)})
        for jid in sorted(r.held - {j for j, c in r.members.items() if c}, key=str):
            r.flag({"what": "held_not_dead", "jid": jid, "t": None})
    if r.configured:
        _settle_handlers(r)
    return verdict(NAME, r.examples, r.violations, deaths=r.deaths,
                   handlers=list(r.handlers), handler_calls=sum(r.calls.values()),
                   dead_max_jobs=r.max_jobs, max_size=r.max_rest,
                   max_size_transient=r.max_transient, final_size=r.size,
                   dead_timeout_s=r.timeout, early_age_trims=r.early_age_trims,
                   survived_timeout=r.survived_timeout,
                   trimmed=dict(sorted(r.trimmed.items())), horizon=r.horizon,
                   held_dead=len(r.held))


def _config(r: _Replay, event: tuple[Any, ...]) -> None:
    cfg = event[3] or {}
    r.configured = True
    r.handlers = list(cfg.get("death_handlers") or [])
    r.max_jobs = cfg.get("dead_max_jobs")
    r.timeout = cfg.get("dead_timeout_s")


def _dead(r: _Replay, event: tuple[Any, ...]) -> None:
    t, _, jid, reason = event
    _rest(r, r.size, t, jid)
    r.deaths += 1
    r.size += 1
    r.max_transient = max(r.max_transient, r.size)
    r.adds = add = r.adds + 1
    r.last_add = t
    if r.timeout is not None:
        r.bound = t - r.timeout  # as the store computes it, so the edge agrees exactly
    copies = r.members.get(jid)
    if copies is None:
        r.members[jid] = deque(((t, add),))
    else:
        copies.append((t, add))
    r.by_age.append((t, add, jid))
    r.died_at.setdefault(jid, t)
    if reason not in SILENT_DEATHS:
        r.owed[jid] += 1


def _discard(r: _Replay, event: tuple[Any, ...]) -> None:
    if event[3] in HANDLED_DISCARDS:
        r.owed[event[2]] += 1
        r.died_at.setdefault(event[2], event[0])


def _handler(r: _Replay, event: tuple[Any, ...]) -> None:
    r.calls[(event[2], event[3])] += 1


def _trim(r: _Replay, event: tuple[Any, ...]) -> None:
    """Remove the job's oldest copy: both trims take the lowest scores first."""
    t, _, jid, reason = event
    copies = r.members.get(jid)
    if not copies:
        r.flag({"what": "trim_not_dead", "jid": jid, "t": t, "reason": reason})
        return
    died, add = copies.popleft()
    r.gone.add(add)
    r.size -= 1
    r.trimmed[reason] += 1
    if reason == AGE and r.timeout is not None and died > r.bound:
        r.early_age_trims += 1
        r.flag(_aged(r, "early_age_trim", jid, t, died))


def _horizon(r: _Replay, event: tuple[Any, ...]) -> None:
    r.horizon = True
    r.horizon_t = event[0]


def _held(r: _Replay, event: tuple[Any, ...]) -> None:
    if event[3] == "dead":
        r.held.add(event[2])


def _ignore(r: _Replay, event: tuple[Any, ...]) -> None:
    """Events this checker does not read."""


_STEP = {"config": _config, "dead": _dead, "discard": _discard, "death_handler": _handler,
         "trim": _trim, "horizon": _horizon, "held": _held}


def _rest(r: _Replay, size: int, t: Any, jid: Any) -> None:
    if size > r.max_rest:
        r.max_rest = size
    if r.max_jobs is not None and size > r.max_jobs - 1:
        r.flag({"what": "over_bound", "jid": jid, "t": t, "size": size,
                "bound": r.max_jobs - 1})
    if r.by_age and r.by_age[0][0] <= r.bound:
        _survivors(r)


def _survivors(r: _Replay) -> None:
    """Flag each entry the last add should have aged out, once, oldest first (entries
    already trimmed are dropped from ``by_age`` here, lazily)."""
    by_age, gone, cutoff = r.by_age, r.gone, r.bound
    while by_age and by_age[0][0] <= cutoff:
        died, add, jid = by_age.popleft()
        if add in gone:
            gone.discard(add)
            continue
        r.survived_timeout += 1
        r.flag(_aged(r, "survived_timeout", jid, r.last_add, died))


def _aged(r: _Replay, problem: str, jid: Any, t: Any, died: float) -> dict[str, Any]:
    """An age-rule example: the add at ``t``, the copy's death time and age then."""
    age = None if r.last_add is None else r.last_add - died
    return {"what": problem, "jid": jid, "t": t, "died": died, "age": age,
            "timeout": r.timeout}


def _settle_handlers(r: _Replay) -> None:
    """Compare calls with what each death owed, handler by handler."""
    configured = set(r.handlers)
    for jid, owed in r.owed.items():
        for handler in r.handlers:
            calls = r.calls.get((jid, handler), 0)
            if calls != owed:
                problem = "missing" if calls < owed else "duplicate"
                r.flag({"what": problem, "jid": jid, "t": r.died_at.get(jid),
                        "handler": handler, "calls": calls, "expected": owed})
    for (jid, handler), calls in r.calls.items():
        if r.owed.get(jid, 0) == 0 or handler not in configured:
            r.flag({"what": "unexpected", "jid": jid, "t": r.died_at.get(jid),
                    "handler": handler, "calls": calls, "expected": 0})
