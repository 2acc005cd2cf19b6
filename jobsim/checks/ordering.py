"""Declared happens-before rules, judged on what happened (effects, starts, successes).

Why: whether or not a dependency manager is on, "FulfillmentJob for order K starts only
after the payment for order K is captured" is a property of the outcome. The rules come
from the run's configuration (``config["order"]``: a scenario's ``order:`` list and the
jobs' ``after:`` declarations, see ``pattern.py``). For each event matching a rule's
``after`` pattern, an event matching its ``before`` pattern with the same values of the
shared names must come earlier in the history; each ``after`` key that ran first once is
one violation. Used by the ``dependencies`` check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jobsim.checks.pattern import Rule, rule
from jobsim.checks.result import MAX_EXAMPLES
from jobsim.history.events import index
from jobsim.history.history import History

_ENTRY = {k: (index(k, "cls"), index(k, "args")) for k in ("enqueue", "schedule", "defer")}
_EFFECT_KEY = index("effect", "key")
_SUCCESS_DUP = index("success", "dup")


def rules_of(config: Mapping[str, Any]) -> list[Rule]:
    """The configuration's ordering rules, compiled (PatternError when malformed)."""
    return [rule(r["before"], r["after"]) for r in config.get("order") or ()]


class _Side:
    __slots__ = ("binds", "checked", "done", "rule", "violated")

    def __init__(self, r: Rule) -> None:
        self.rule = r
        self.binds = r.before.names
        self.done: set[tuple[str, ...]] = set()
        self.violated: set[tuple[tuple[str, str], ...]] = set()
        self.checked = 0


class Ordering:
    """One pass over the history applying every rule."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.sides = [_Side(r) for r in rules]
        self.jobs: dict[str, tuple[str, Any]] = {}   # jid -> (class, args)
        self.examples: list[dict[str, Any]] = []

    def run(self, history: History) -> None:
        if not self.sides:
            return
        kinds = {s.rule.before.kind for s in self.sides} | {s.rule.after.kind for s in self.sides}
        for ev in history.events:
            kind = ev[1]
            if kind in _ENTRY:
                cls_at, args_at = _ENTRY[kind]
                self.jobs.setdefault(ev[2], (ev[cls_at], ev[args_at]))
                if "enqueue" in kinds:
                    self._event(ev, "enqueue")
            elif kind in kinds and (kind != "success" or not ev[_SUCCESS_DUP]):
                self._event(ev, kind)

    def _match(self, pattern: Any, ev: tuple[Any, ...]) -> dict[str, str] | None:
        if pattern.kind != ev[1] and not (pattern.kind == "enqueue" and ev[1] in _ENTRY):
            return None
        if pattern.kind == "effect":
            return pattern.match_effect(ev[_EFFECT_KEY])
        cls, args = self.jobs.get(ev[2], (None, None))
        return pattern.match_job(cls, args)

    def _event(self, ev: tuple[Any, ...], kind: str) -> None:
        for side in self.sides:
            r = side.rule
            if r.after.kind == kind:
                binding = self._match(r.after, ev)
                if binding is not None:
                    side.checked += 1
                    self._judge(side, binding, ev)
            if r.before.kind == kind:
                binding = self._match(r.before, ev)
                if binding is not None:
                    side.done.add(tuple(binding[n] for n in side.binds))

    def _judge(self, side: _Side, binding: dict[str, str], ev: tuple[Any, ...]) -> None:
        if tuple(binding[n] for n in side.binds) in side.done:
            return
        key = tuple(sorted(binding.items()))
        if key in side.violated:
            return
        side.violated.add(key)
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append({
                "jid": ev[2], "t": ev[0], "what": "ran before its prerequisite",
                "rule": side.rule.source,
                "key": side.rule.before.key.render(binding) if side.rule.before.key
                else ", ".join(f"{k}={v}" for k, v in key)})

    @property
    def violations(self) -> int:
        return sum(len(s.violated) for s in self.sides)

    def stats(self) -> list[dict[str, Any]]:
        return [{"rule": s.rule.source, "checked": s.checked, "violations": len(s.violated)}
                for s in self.sides]
