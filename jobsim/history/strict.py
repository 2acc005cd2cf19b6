"""What a complete, well-typed saved history is, for ``jobsim check``.

Why: a checker fed a damaged history judges nothing, and says PASS. An empty file, a
file cut at a line boundary, or one holding only its configuration has no violation
in it, so every check used to pass. A history is complete when its first event is
``config``, it has exactly one ``horizon`` (the run reached its end), only the final
inventory's ``held`` events follow it, times never go back, and every field has the
type its kind gives it (``TYPES``, one entry per kind of ``events.FIELDS``). Anything
else is refused as "not a complete history".

A history cut inside the ``held`` lines that follow the horizon is still complete by
this rule; the digest in the metrics.json saved beside it catches that cut.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Final

from jobsim.history.events import FIELDS

Event = tuple[Any, ...]
Check = Callable[[Any], bool]


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _opt_str(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)
            and math.isfinite(v))


def _opt_num(v: Any) -> bool:
    return v is None or _num(v)


def _retry(v: Any) -> bool:
    """Sidekiq's ``retry`` option: true, false, or a number of retries."""
    return isinstance(v, bool | int)


def _dict(v: Any) -> bool:
    return isinstance(v, dict)


def _opt_dict(v: Any) -> bool:
    return v is None or isinstance(v, dict)


def _strs(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _opt_list(v: Any) -> bool:
    """A job's args: a list, or None in a history saved before args were recorded."""
    return v is None or isinstance(v, list)


def _value(v: Any) -> bool:
    return v is None or _num(v) or isinstance(v, bool | str)


# Events about the system rather than a job: their jid is null; every other kind's is a
# string.
SYSTEM_KINDS: Final = frozenset({"config", "horizon", "crash", "shutdown", "stop",
                                 "restart", "fault_start", "fault_end", "sample"})

TYPES: Final[dict[str, dict[str, Check]]] = {
    "config": {"config": _dict},
    "horizon": {},
    "held": {"where": _str},
    "enqueue": {"queue": _str, "cls": _str, "retry": _retry, "ack": _bool, "args": _opt_list},
    "schedule": {"queue": _str, "cls": _str, "retry": _retry, "ack": _bool, "at": _num,
                 "args": _opt_list},
    "enqueue_failed": {"queue": _str, "cls": _str, "error": _str},
    "defer": {"queue": _str, "cls": _str, "retry": _retry, "deps": _strs, "args": _opt_list},
    "release": {"queue": _str},
    "cancel": {"reason": _str, "dep": _opt_str},
    "unique_conflict": {"key": _str, "strategy": _str, "holder": _opt_str},
    "lock": {"key": _str, "op": _str, "holder": _opt_str, "ttl": _opt_num},
    "promote": {"queue": _str, "source": _str},
    "requeue": {"queue": _str, "worker": _str},
    "recover": {"queue": _str, "worker": _str, "count": _int},
    "copy": {"queue": _str, "reason": _str},
    "start": {"queue": _str, "worker": _str, "attempt": _int, "dup": _int},
    "success": {"dup": _int},
    "failure": {"error": _str, "attempt": _int, "dup": _int},
    "retry": {"count": _int, "delay": _num, "due": _num, "policy": _str,
              "max_retries": _int},
    "dead": {"reason": _str},
    "discard": {"reason": _str},
    "trim": {"reason": _str},
    "death_handler": {"handler": _str, "ok": _bool, "error": _opt_str},
    "effect": {"key": _str, "service": _str, "once": _bool},
    "crash": {"worker": _str},
    "shutdown": {"worker": _str, "timeout": _opt_num},
    "stop": {"worker": _str},
    "restart": {"worker": _str},
    "fault_start": {"fault": _str, "target": _opt_str, "params": _opt_dict},
    "fault_end": {"fault": _str, "target": _opt_str},
    "sample": {"name": _str, "value": _value},
}


_CHECKS = {kind: tuple((name, TYPES[kind][name]) for name in names)
           for kind, names in FIELDS.items()}


class Incomplete(ValueError):
    """Not a complete history: the reason, and the 1-based event (line) it is about."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason if line is None else f"line {line}: {reason}")


def problem(event: Event) -> str | None:
    """Why one event is ill-typed, or None."""
    t, kind, jid, *values = event
    if not _num(t) or t < 0:
        return f"{kind}: 't' must be a finite number >= 0, got {_show(t)}"
    if kind in SYSTEM_KINDS:
        if jid is not None:
            return f"{kind}: 'jid' must be null, got {_show(jid)}"
    elif not isinstance(jid, str):
        return f"{kind}: 'jid' must be a string, got {_show(jid)}"
    for (name, check), value in zip(_CHECKS[kind], values, strict=True):
        if not check(value):
            return f"{kind}: field {name!r} has the wrong type: {_show(value)}"
    return None


def verify(events: Sequence[Event]) -> None:
    """Raise ``Incomplete`` unless ``events`` form one complete, well-typed run."""
    if not events:
        raise Incomplete("no events (empty file)")
    if events[0][1] != "config":
        raise Incomplete(f"the first event must be 'config', got {events[0][1]!r}", 1)
    horizon = None
    last = 0.0
    for line, event in enumerate(events, 1):
        why = problem(event)
        if why:
            raise Incomplete(why, line)
        kind, t = event[1], event[0]
        if t < last:
            raise Incomplete(f"time goes back from {last} to {t}", line)
        last = t
        if kind == "config" and line != 1:
            raise Incomplete("a second 'config' event (two runs in one file?)", line)
        if kind == "horizon":
            if horizon is not None:
                raise Incomplete(f"a second 'horizon' event (the first is on line {horizon})",
                                 line)
            horizon = line
        elif (horizon is not None) != (kind == "held"):
            raise Incomplete(f"{kind!r} after the horizon (only 'held' may follow it)"
                             if horizon else "'held' before the horizon", line)
    if horizon is None:
        raise Incomplete(f"no 'horizon' event: the run was cut short after {len(events)} "
                         "events")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
