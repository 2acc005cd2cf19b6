"""Lifecycle: every job moves only along the legal transitions of ``states.TRANSITIONS``.

Why: a job that is started twice without being re-enqueued, retried after it died or
enqueued after it succeeded means two owners for one job, or a terminal outcome that was
not final; the lost, duplicated and resurrected-job bugs all show up here first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from jobsim.checks.result import CheckResult, verdict
from jobsim.history.events import STATE_OF, index
from jobsim.history.history import History
from jobsim.history.states import TERMINAL, TRANSITIONS

NAME = "lifecycle"
_DUP_AT = {"start": index("start", "dup"), "success": index("success", "dup")}
# kind -> (state it moves a job to, index of its dup flag or 0 when it has none)
_MOVES = {kind: (target, _DUP_AT.get(kind, 0)) for kind, target in STATE_OF.items()}


def check(history: History, config: Mapping[str, Any] | None = None) -> CheckResult:
    """Replay each job's state-moving events (``events.STATE_OF``) in history order.

    Duplicate executions (start/success with dup=1) are skipped: they change no state by
    definition. Each illegal move is one violation; the replay then follows the record
    (the job is taken to be where the event says), so one bug is counted once rather
    than cascading into every later event of that job.
    Examples: ``{"jid", "t", "event", "from", "to"}`` with ``from`` None for a new job.
    """
    replay = Stream()
    replay.feed(history.events, 0)
    return replay.finish()


def stream(config: Mapping[str, Any] | None = None) -> Stream:
    """The check fed the history in pieces (``registry.stream``; no options)."""
    return Stream()


class Stream:
    """``check``'s replay, fed the events in consecutive pieces."""

    def __init__(self) -> None:
        self.state: dict[Any, str | None] = {}
        self.examples: list[dict[str, Any]] = []
        self.violations = self.transitions = 0

    def feed(self, events: Sequence[tuple[Any, ...]], start: int) -> None:
        state, examples = self.state, self.examples
        violations, transitions = self.violations, self.transitions
        moves, legal = _MOVES, TRANSITIONS
        for event in events:
            move = moves.get(event[1])
            if move is None:
                continue
            jid = event[2]
            if jid is None:
                continue
            target, dup_at = move
            if dup_at and event[dup_at]:
                continue
            kind = event[1]
            current = state.get(jid)
            transitions += 1
            if target not in legal.get(current, ()):
                violations += 1
                if len(examples) < 5:
                    examples.append({"jid": jid, "t": event[0], "what": "illegal transition",
                                     "event": kind,
                                     "from": current, "to": target,
                                     "terminal": current in TERMINAL})
            state[jid] = target
        self.violations, self.transitions = violations, transitions

    def finish(self) -> CheckResult:
        finals = Counter(self.state.values())
        return verdict(NAME, self.examples, self.violations, jobs=len(self.state),
                       transitions=self.transitions, final_states=dict(sorted(finals.items())))
