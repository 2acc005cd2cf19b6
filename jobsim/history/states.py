"""The job lifecycle: states and the legal transitions between them.

Pure data, shared by the job system (which enforces it as it runs, ``system/lifecycle.py``)
and by the lifecycle checker (which verifies recorded histories). The states are the
union of Sidekiq's, Celery's and ActiveJob's (docs/semantics.md, Lifecycle states).
"""

from __future__ import annotations

from typing import Final

NEW: Final = None  # a job before its first event

STATES: Final[tuple[str, ...]] = (
    "scheduled", "enqueued", "deferred", "processing", "retrying",
    "succeeded", "dead", "discarded", "canceled",
)
TERMINAL: Final[frozenset[str]] = frozenset({"succeeded", "dead", "discarded", "canceled"})

# from-state -> states reachable in one event. Reasons in comments.
TRANSITIONS: Final[dict[str | None, frozenset[str]]] = {
    NEW: frozenset({
        "enqueued", "scheduled", "deferred",
        "dead",        # a unique job rejected at push goes straight to the dead set
    }),
    "scheduled": frozenset({
        "enqueued",    # poller moved it when due
        "discarded",   # replaced by a newer unique job
    }),
    "deferred": frozenset({
        "enqueued",    # every dependency succeeded
        "canceled",    # a dependency died or was discarded
    }),
    "enqueued": frozenset({
        "processing",  # fetched and started
        "discarded",   # replaced by a newer unique job
    }),
    "processing": frozenset({
        "succeeded", "retrying", "dead", "discarded",
        "enqueued",    # requeued at shutdown, or recovered as an orphan
    }),
    "retrying": frozenset({
        "enqueued",    # due: moved back to its queue
        "discarded",   # replaced by a newer unique job
    }),
    "succeeded": frozenset(),
    "dead": frozenset(),
    "discarded": frozenset(),
    "canceled": frozenset(),
}


def is_legal(current: str | None, target: str) -> bool:
    """True when one event may move a job from ``current`` to ``target``."""
    return target in TRANSITIONS.get(current, frozenset())
