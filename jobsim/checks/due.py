"""Nothing runs before it is due: no scheduled job or retry is promoted or started early.

Why: a retry's delay is the whole point of backoff. A poller that reads the wrong score,
or promotes a few seconds early, puts every failed job straight back on the struggling
service; a scheduled job (``perform_in``) that runs early does its work before the
world is ready for it. ``retry_spread`` judges the delays chosen; this judges when the
jobs actually moved and ran.

Each ``schedule`` (``at``) and ``retry`` (``due``) gives the job a due time. A
``promote`` of the job, or a non-duplicate ``start``, earlier than its due time minus the
allowance is one violation (one per job). The allowance is the ``skew_s`` option, else
the largest clock skew a ``clock_skew`` fault declared in the history (a process whose
clock runs ahead promotes early by design), else 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobsim.checks.options import Option
from jobsim.checks.result import MAX_EXAMPLES, CheckResult, verdict
from jobsim.history.events import index
from jobsim.history.history import History

OPTIONS = {
    "skew_s": Option("seconds", "how early (seconds) a job may move or start without counting; "
                     "default: the largest clock_skew fault in the history"),
}
_AT = index("schedule", "at")
_DUE = index("retry", "due")
_START_DUP = index("start", "dup")
_FAULT, _PARAMS = index("fault_start", "fault"), index("fault_start", "params")
_EPS = 1e-6


def declared_skew(history: History) -> float:
    """The largest |skew| of the history's clock_skew faults (0 without any)."""
    skews = [abs(float((ev[_PARAMS] or {}).get("skew", 0.0))) for ev in history.events
             if ev[1] == "fault_start" and ev[_FAULT] == "clock_skew"]
    return max(skews, default=0.0)


def check(history: History, config: Mapping[str, Any] | None = None,
          skew_s: float | None = None) -> CheckResult:
    """Verdict on promotions and starts before their due time."""
    allowance = declared_skew(history) if skew_s is None else float(skew_s)
    due: dict[str, float] = {}
    early: dict[str, dict[str, Any]] = {}
    promoted = started = 0
    worst = 0.0
    for ev in history.events:
        kind = ev[1]
        if kind == "schedule":
            due[ev[2]] = ev[_AT]
        elif kind == "retry":
            due[ev[2]] = ev[_DUE]
        elif kind == "promote" or (kind == "start" and not ev[_START_DUP]):
            when = due.get(ev[2])
            if when is None:
                continue
            promoted += kind == "promote"
            started += kind == "start"
            ahead = when - ev[0]
            if ahead > allowance + _EPS:
                worst = max(worst, ahead)
                if ev[2] not in early:
                    early[ev[2]] = {"jid": ev[2], "t": ev[0], "what": f"{kind} before due",
                                    "due": when, "early_s": ahead}
    return verdict(
        "due", list(early.values())[:MAX_EXAMPLES], len(early),
        promotions_checked=promoted, starts_checked=started, early_jobs=len(early),
        max_early_s=worst, allowance_s=allowance,
    )
