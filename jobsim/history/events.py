"""Every kind of history event, its fields, and the lifecycle state it moves a job to.

This module is the one place the history's vocabulary is defined. The job system writes
these events; checkers and reports read them. Neither side imports the other, so this
table is the contract between them.

An event is stored as a flat tuple ``(t, kind, jid, *fields)`` (see ``history.py``);
``FIELDS[kind]`` names the positional fields after ``jid``. ``jid`` is ``None`` for
events about the system rather than a job (crashes, faults, configuration).

State changes are not recorded twice: an event whose kind appears in ``STATE_OF`` *is*
the transition into that state. ``states.TRANSITIONS`` lists the legal moves.
"""

from __future__ import annotations

from typing import Final

# kind -> (field names, one-line meaning). Order of fields is the storage order.
KINDS: Final[dict[str, tuple[tuple[str, ...], str]]] = {
    # ---- run framing -------------------------------------------------------------
    "config": (("config",), "run configuration (dict): queues, mode, fetch, processes, ..."),
    "horizon": ((), "the simulation stopped here; 'held' events follow"),
    "held": (("where",), "storage still held this job at the horizon (queue:X, retry, ...)"),
    # ---- client ------------------------------------------------------------------
    "enqueue": (
        ("queue", "cls", "retry", "ack", "args"),
        "pushed to a queue with its args; ack=False: the client saw an error and never"
        " learned the outcome",
    ),
    "schedule": (
        ("queue", "cls", "retry", "ack", "at", "args"),
        "pushed to the schedule set with its args, due at 'at' (perform_in / perform_at)",
    ),
    "enqueue_failed": (("queue", "cls", "error"), "push refused; the client knows it failed"),
    "defer": (
        ("queue", "cls", "retry", "deps", "args"),
        "held with its args until every jid in deps succeeded",
    ),
    "release": (("queue",), "every dependency succeeded: pushed to its queue"),
    "cancel": (("reason", "dep"), "a dependency died or was discarded; will never run"),
    "unique_conflict": (("key", "strategy", "holder"), "a uniqueness lock was held by holder"),
    "lock": (("key", "op", "holder", "ttl"),
             "uniqueness lock acquired/forced/released/expired (op); ttl: the hold's TTL in "
             "seconds on acquire and force (None: never expires, or another op)"),
    # ---- storage movements -------------------------------------------------------
    "promote": (("queue", "source"), "moved from the schedule or retry set to its queue"),
    "requeue": (("queue", "worker"), "pushed back to the front at graceful shutdown"),
    "recover": (("queue", "worker", "count"), "orphan from a dead process's private list"),
    "copy": (
        ("queue", "reason"),
        "a duplicate copy of a known job entered a queue (redelivery, re-push, recovery of an"
        " already-finished job); it changes no lifecycle state, and its execution is dup=1",
    ),
    # ---- execution ---------------------------------------------------------------
    "start": (
        ("queue", "worker", "attempt", "dup"),
        "perform began on worker; dup=1 when another copy owns the job's state",
    ),
    "success": (("dup",), "perform returned"),
    "failure": (("error", "attempt", "dup"), "perform raised error (class name)"),
    "retry": (
        ("count", "delay", "due", "policy", "max_retries"),
        "retry scheduled: count-th retry (0-based), delay seconds, due time, policy spec",
    ),
    "dead": (("reason",), "moved to the dead set (exhausted, kill, poison, reject)"),
    "discard": (("reason",), "dropped on purpose (retry: false, 'discard', replaced)"),
    "trim": (("reason",), "removed from the dead set by age or size: data leaving"),
    "death_handler": (("handler", "ok", "error"), "a death handler ran for this job"),
    "effect": (("key", "service", "once"), "a side effect on the outside world"),
    # ---- processes and faults ----------------------------------------------------
    "crash": (("worker",), "process killed (SIGKILL): in-flight work vanishes"),
    "shutdown": (("worker", "timeout"), "process received TERM"),
    "stop": (("worker",), "process stopped"),
    "restart": (("worker",), "process started again"),
    "fault_start": (("fault", "target", "params"), "nemesis began a fault"),
    "fault_end": (("fault", "target"), "nemesis healed a fault"),
    "sample": (("name", "value"), "a gauge sample: pool use, temp files, memory, ..."),
}

FIELDS: Final[dict[str, tuple[str, ...]]] = {k: v[0] for k, v in KINDS.items()}

# Fields added after histories were first saved: (kind, field) -> the value an event
# written without it stands for. They are always the last fields of their kind, so an
# older file (or a caller that omits them) still reads. A job's ``args`` let checkers
# relate its executions to the effect keys it owes (ordering rules, exactly-once).
LATE_FIELDS: Final[dict[tuple[str, str], object]] = {
    ("enqueue", "args"): None,
    ("schedule", "args"): None,
    ("defer", "args"): None,
    ("lock", "ttl"): None,
}

# Which lifecycle state an event moves its job into (dup executions move nothing).
STATE_OF: Final[dict[str, str]] = {
    "enqueue": "enqueued",
    "schedule": "scheduled",
    "defer": "deferred",
    "release": "enqueued",
    "promote": "enqueued",
    "requeue": "enqueued",
    "recover": "enqueued",
    "start": "processing",
    "success": "succeeded",
    "retry": "retrying",
    "dead": "dead",
    "discard": "discarded",
    "cancel": "canceled",
}


def index(kind: str, field: str) -> int:
    """Position of ``field`` in a stored event tuple of ``kind``."""
    return 3 + FIELDS[kind].index(field)
