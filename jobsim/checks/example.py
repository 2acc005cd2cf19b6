"""The one schema of a violation example, shared by every checker.

Why: reports, ``jobsim check`` and the pytest plugin print examples from any checker;
a reader (or a script) must find the same field under the same name with the same type
whichever checker found it. Every example has ``jid`` (the job, or None for a run-level
finding), ``t`` (simulated seconds, or None when the moment is unknown) and ``what``
(a short phrase naming the violation). Any other key must be listed in ``KEYS`` with its
type; ``conforms`` is applied by ``result.verdict`` to every example a checker keeps, so
a checker that strays fails loudly (its verdict becomes ``unknown``) instead of drifting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_NUM = (int, float)
_OPT_NUM = (int, float, type(None))
_TEXT = (str,)
_OPT_TEXT = (str, type(None))
_LIST = (list, tuple)

REQUIRED: dict[str, tuple[type, ...]] = {"jid": _OPT_TEXT, "t": _OPT_NUM, "what": _TEXT}

# key -> the types its value may have (bool is an int; ints are accepted as numbers)
KEYS: dict[str, tuple[type, ...]] = {
    **REQUIRED,
    # what the example is about
    "key": (str, int, float, type(None)),  # an effect key or lock digest
    "rule": _TEXT,                         # an ordering rule, "before -> after"
    "queue": _TEXT, "worker": _OPT_TEXT, "holder": _OPT_TEXT, "handler": _TEXT,
    "state": _OPT_TEXT, "first": _OPT_TEXT, "then": _OPT_TEXT,
    "event": _TEXT, "from": _OPT_TEXT, "to": _OPT_TEXT, "terminal": (bool,),
    "reason": _OPT_TEXT, "policy": _OPT_TEXT, "name": _TEXT,
    "capsule": _TEXT,                      # a Sidekiq 7 capsule, by name
    # related jobs and times
    "jids": _LIST, "times": _LIST, "pending": _LIST, "deps": _LIST, "failed_deps": _LIST,
    "since": _NUM, "due": _OPT_NUM, "expected_due": _NUM, "died": _OPT_NUM,
    # measured against bound
    "count": _NUM, "calls": _NUM, "expected": (int, float, dict, type(None)),
    "attempts": _NUM, "max_retries": _OPT_NUM, "delay": _OPT_NUM, "bounds": _LIST,
    "wait": _NUM, "bound": _NUM, "waiting": _NUM, "waiting_in": _TEXT,
    "early_s": _NUM, "age": _OPT_NUM, "timeout": _OPT_NUM, "size": _NUM, "value": _NUM,
    "shares": (dict,), "p_value": _NUM, "jobs": _NUM, "width": _OPT_NUM,
    "peak": _NUM, "start": _OPT_NUM, "end": _OPT_NUM, "baseline": _NUM,
    "per_1000_jobs": _OPT_NUM, "due_from": _NUM, "due_to": _NUM,
}


def conforms(example: Mapping[str, Any]) -> str | None:
    """None when ``example`` follows the schema, else what is wrong with it."""
    for key in REQUIRED:
        if key not in example:
            return f"example lacks {key!r}: {dict(example)}"
    for key, value in example.items():
        types = KEYS.get(key)
        if types is None:
            return f"example key {key!r} is not in checks/example.py KEYS"
        if not isinstance(value, types):
            return f"example key {key!r} is a {type(value).__name__}, not {types}"
    return None
