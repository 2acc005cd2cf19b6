"""Lifecycle: every job moves only along the legal transitions of ``states.TRANSITIONS``.

Why: a job that is started twice without being re-enqueued, retried after it died or
enqueued after it succeeded means two owners for one job, or a terminal outcome that was
not final; the lost, duplicated and resurrected-job bugs all show up here first.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from jobsim.checks.result import CheckResult, verdict
from jobsim.sim.events import STATE_OF, index
from jobsim.sim.history import History
from jobsim.sim.states import TERMINAL, TRANSITIONS

NAME = "lifecycle"
_DUP_AT = {"start": index("start", "dup"), "success": index("success", "dup")}


def check(history: History) -> CheckResult:
    """Replay each job's state-moving events (``events.STATE_OF``) in history order.

    Duplicate executions (start/success with dup=1) are skipped: they change no state by
    definition. Each illegal move is one violation; the replay then follows the record
    (the job is taken to be where the event says), so one bug is counted once rather
    than cascading into every later event of that job.
    Examples: ``{"jid", "t", "event", "from", "to"}`` with ``from`` None for a new job.
    """
    state: dict[Any, str | None] = {}
    examples: list[dict[str, Any]] = []
    violations = transitions = 0
    for event in history.events:
        kind = event[1]
        target = STATE_OF.get(kind)
        if target is None or event[2] is None:
            continue
        dup_at = _DUP_AT.get(kind)
        if dup_at is not None and event[dup_at]:
            continue
        jid = event[2]
        current = state.get(jid)
        transitions += 1
        if target not in TRANSITIONS.get(current, ()):
            violations += 1
            if len(examples) < 5:
                examples.append({"jid": jid, "t": event[0], "event": kind,
                                 "from": current, "to": target,
                                 "terminal": current in TERMINAL})
        state[jid] = target
    finals = Counter(state.values())
    return verdict(NAME, examples, violations, jobs=len(state), transitions=transitions,
                   final_states=dict(sorted(finals.items())))
