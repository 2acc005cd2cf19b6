"""Dependencies: a dependent runs only after its dependencies succeeded, else it is canceled.

Why: the seed fulfilled orders before payment when steps raced instead of waiting (order
errors fell 68 % once dependencies were explicit), and dependents get stuck forever when
a parent is lost or a crash falls between "parent done" and "release dependents".

From ``defer(queue, cls, retry, deps)`` events:

(a) ``started_early``: a dependent starts (any copy) before every dependency reached
    ``succeeded``. Only a non-dup success moves a dependency's state (a dup copy proves
    the work ran, but the state belongs to the owning copy). A release before that is
    ``released_early``; a second release is ``released_twice`` (the callback fired twice).
(b) ``not_canceled``: a dependency ended dead, discarded or canceled but its dependent
    is not canceled at the end. Canceled counts as failed, so the rule is transitive:
    in A -> B -> C, A dead requires B and then C canceled. Cancellation is expected at
    the dependency's death, so this holds whether or not the run drained. Under the
    ``hold`` rule (``safeguards.dependencies.on_failure`` in the run's config; RQ's), the
    dependent must instead still be deferred at the end: never run, never failed.
(c) ``stuck``: the run drained (a ``horizon`` exists and no job is in a non-terminal state
    other than deferred) yet a dependent is still deferred although all its dependencies
    are terminal (under ``hold``: all succeeded). A dependent already counted in (b) is
    not counted again.

(d) ``order``: the run's declared happens-before rules (``config["order"]``), judged on
    effects, starts and successes whether or not a dependency manager ran: see
    ``ordering.py``. Each key whose ``after`` event came before its ``before`` event is one
    violation.

States are replayed with ``STATE_OF``, dup executions excluded, first terminal sticky.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from jobsim.checks.ordering import Ordering, rules_of
from jobsim.checks.result import MAX_EXAMPLES, CheckResult, verdict
from jobsim.history.events import STATE_OF, index
from jobsim.history.history import History
from jobsim.history.states import TERMINAL

FAILED = frozenset({"dead", "discarded", "canceled"})
_DEPS = index("defer", "deps")
_DUP = {"start": index("start", "dup"), "success": index("success", "dup")}


class _Deps:
    """One pass: dependency lists, replayed states, and the rules checked on the way."""

    def __init__(self) -> None:
        self.deps: dict[str, tuple[str, ...]] = {}
        self.state: dict[str, str] = {}
        self.releases: Counter[str] = Counter()
        self.started_early: dict[str, dict[str, Any]] = {}  # jid -> its first early start
        self.released_early: dict[str, dict[str, Any]] = {}
        self.twice: list[dict[str, Any]] = []
        self.horizon = False
        self.t_end = 0.0

    def run(self, history: History) -> None:
        for ev in history.events:
            kind, jid = ev[1], ev[2]
            self.t_end = ev[0]
            if kind == "horizon":
                self.horizon = True
            if jid is None or kind not in STATE_OF:
                continue
            if kind == "defer":
                self.deps[jid] = tuple(ev[_DEPS])
            elif kind == "release":
                self._release(jid, ev[0])
            elif kind == "start" and jid in self.deps:
                self._early(self.started_early, jid, ev[0], "started early")
            if kind in _DUP and ev[_DUP[kind]]:
                continue
            if self.state.get(jid) not in TERMINAL:
                self.state[jid] = STATE_OF[kind]

    def _release(self, jid: str, t: float) -> None:
        self.releases[jid] += 1
        if self.releases[jid] == 2 and len(self.twice) < MAX_EXAMPLES:
            self.twice.append({"jid": jid, "t": t, "what": "released twice"})
        self._early(self.released_early, jid, t, "released early")

    def _early(self, seen: dict[str, dict[str, Any]], jid: str, t: float, what: str) -> None:
        pending = [d for d in self.deps.get(jid, ()) if self.state.get(d) != "succeeded"]
        if pending and jid not in seen:
            seen[jid] = {"jid": jid, "t": t, "what": what, "pending": pending[:5]}

    def drained(self) -> bool:
        return self.horizon and all(s in TERMINAL or s == "deferred" for s in self.state.values())

    def final(self, hold: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                 int]:
        """(b) and (c) from the final states: not-canceled examples, stuck ones, stuck count.
        ``hold``: a failed dependency's dependents must stay deferred instead."""
        drained = self.drained()
        expected, what = ("deferred", "not held") if hold else ("canceled", "not canceled")
        not_canceled: list[dict[str, Any]] = []
        stuck: list[dict[str, Any]] = []
        n_stuck = 0
        for jid, deps in self.deps.items():
            ends = [self.state.get(d) for d in deps]
            mine = self.state.get(jid)
            failed = [d for d, s in zip(deps, ends, strict=True) if s in FAILED]
            is_stuck = drained and mine == "deferred" and all(s in TERMINAL for s in ends) \
                and not (hold and failed)
            n_stuck += is_stuck
            if failed and mine != expected:
                not_canceled.append({"jid": jid, "t": self.t_end, "what": what,
                                     "state": mine, "failed_deps": failed[:5]})
            elif is_stuck:
                stuck.append({"jid": jid, "t": self.t_end, "what": "stuck deferred",
                              "deps": list(deps[:5])})
        return not_canceled, stuck, n_stuck


def check(history: History, config: Mapping[str, Any] | None = None) -> CheckResult:
    """Verdict on dependency order, cancel propagation, stuck dependents and the run's
    declared ordering rules."""
    deps = _Deps()
    deps.run(history)
    config = _config(history) if config is None else config
    order = Ordering(rules_of(config))
    order.run(history)
    not_canceled, stuck, n_stuck = deps.final(hold=on_failure(config) == "hold")
    early = deps.started_early | deps.released_early
    twice = sum(1 for n in deps.releases.values() if n > 1)
    examples = [*deps.started_early.values(), *deps.released_early.values()][:MAX_EXAMPLES]
    examples += deps.twice + not_canceled[:MAX_EXAMPLES] + stuck[:MAX_EXAMPLES]
    examples = order.examples + examples
    canceled = sum(1 for jid in deps.deps if deps.state.get(jid) == "canceled")
    return verdict(
        "dependencies", examples,
        len(early) + twice + len(not_canceled) + len(stuck) + order.violations,
        dependents=len(deps.deps), released=len(deps.releases), canceled=canceled,
        stuck=n_stuck, started_early=len(deps.started_early),
        released_early=len(deps.released_early), released_twice=twice,
        not_canceled=len(not_canceled), drained=deps.drained(),
        order_violations=order.violations, order_rules=order.stats(),
    )


def on_failure(config: Mapping[str, Any]) -> str:
    """The run's rule for the dependents of a failed job: ``cancel`` unless its config
    says otherwise (the scenario parser records the job system's own rule there)."""
    deps = (config.get("safeguards") or {}).get("dependencies") or {}
    return deps.get("on_failure") or "cancel"


def _config(history: History) -> dict[str, Any]:
    return next((ev[3] for ev in history.events if ev[1] == "config"), None) or {}
