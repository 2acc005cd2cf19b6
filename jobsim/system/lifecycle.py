"""Job lifecycle state machine, enforced as the system runs.

The states and legal moves are declared once in ``jobsim.history.states`` (shared with the
lifecycle checker). Here each move is an event (``events.STATE_OF``) with optional guards,
in the spirit of AASM's ``event :retry, guard: ...``. An illegal move raises at once:
a bug in the job system must stop the run, not leak into the history.

A duplicate copy of a job (a redelivery, a re-push after a client timeout) does not own
the job's state: the copy that was fetched while the job was ``enqueued`` does. Copies run
with ``dup=1`` and change nothing here, which is what Sidekiq's stateless model amounts
to when one asks "what state is job X in?".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jobsim.history.events import STATE_OF
from jobsim.history.states import TERMINAL, TRANSITIONS

Guard = Callable[[str, tuple[Any, ...]], str | None]


class IllegalTransition(RuntimeError):
    """The job system tried a move the transition table forbids."""


def _retry_within_budget(jid: str, fields: tuple[Any, ...]) -> str | None:
    count, _delay, _due, _policy, max_retries = fields
    if count >= max_retries:
        return f"retry #{count} exceeds max_retries={max_retries}"
    return None


def _due_not_before_now(jid: str, fields: tuple[Any, ...]) -> str | None:
    _count, delay, _due, _policy, _max = fields
    return "negative retry delay" if delay < 0 else None


# event kind -> guards that must all pass (each returns a reason to refuse, or None)
GUARDS: dict[str, tuple[Guard, ...]] = {
    "retry": (_retry_within_budget, _due_not_before_now),
}


# event kind -> {current state -> the state it moves to}, for every legal move: two
# plain lookups per transition on the hot path (no key tuple to build and hash),
# derived from the shared table.
_LEGAL: dict[str, dict[str | None, str]] = {
    kind: {current: target for current, allowed in TRANSITIONS.items() if target in allowed}
    for kind, target in STATE_OF.items()
}


class Lifecycle:
    """Current state per jid, and the single door through which states change."""

    __slots__ = ("_record", "state")

    def __init__(self, record_fields: Callable[[str, str, tuple[Any, ...]], None]) -> None:
        """``record_fields(kind, jid, fields)`` appends an event (Simulation.record_fields)."""
        self.state: dict[str, str] = {}
        self._record = record_fields

    def move(self, kind: str, jid: str, *fields: Any) -> None:
        """Apply event ``kind`` to ``jid``: check the table and guards, then record it."""
        state = self.state
        current = state.get(jid)
        try:
            target = _LEGAL[kind][current]      # two subscripts: the legal moves' cost
        except KeyError:
            if kind not in _LEGAL:
                raise KeyError(kind) from None  # not a state-moving kind
            target = STATE_OF[kind]
            raise IllegalTransition(
                f"job {jid}: {kind} cannot move {current} -> {target}") from None
        if kind in GUARDS:
            for guard in GUARDS[kind]:
                reason = guard(jid, fields)
                if reason:
                    raise IllegalTransition(f"job {jid}: {kind} refused: {reason}")
        state[jid] = target
        self._record(kind, jid, fields)

    def get(self, jid: str) -> str | None:
        return self.state.get(jid)

    def is_terminal(self, jid: str) -> bool:
        return self.state.get(jid) in TERMINAL

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state now."""
        out: dict[str, int] = {}
        for state in self.state.values():
            out[state] = out.get(state, 0) + 1
        return out
