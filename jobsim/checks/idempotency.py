"""Idempotency: an effect declared once-only happens at most once.

Why: delivery is at-least-once (retries, recovery after a crash, duplicate pushes), so
the only place "exactly once" can hold is the effect itself: the email sent, the payment
captured. Executions may repeat; an ``effect`` with ``once=True`` and the same key may
not (the seed's 12,000 duplicate campaign emails). Effects with ``once=False`` are
counted but may repeat freely.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import islice
from typing import Any

from jobsim.checks.result import MAX_EXAMPLES, CheckResult, verdict
from jobsim.history.events import index
from jobsim.history.history import History

_KEY = index("effect", "key")
_SERVICE = index("effect", "service")
_ONCE = index("effect", "once")


def check(history: History, config: Mapping[str, Any] | None = None) -> CheckResult:
    """Count extra occurrences of once-only effect keys (no options)."""
    counted = Stream()
    counted.feed(history.events, 0)
    return counted.finish()


def stream(config: Mapping[str, Any] | None = None) -> Stream:
    """The check fed the history in pieces (``registry.stream``; no options)."""
    return Stream()


class Stream:
    """``check``'s pass, fed the events in consecutive pieces."""

    def __init__(self) -> None:
        self.first: dict[Any, tuple[str | None, float]] = {}   # key -> (jid, t) of its first
        self.repeats: dict[Any, list[tuple[str | None, float]]] = {}  # later (jid, t), capped
        self.by_service: Counter[str] = Counter()
        self.effects = self.duplicates = 0

    def feed(self, events: Sequence[tuple[Any, ...]], start: int) -> None:
        first, repeats, by_service = self.first, self.repeats, self.by_service
        effects, duplicates = self.effects, self.duplicates
        for ev in events:
            if ev[1] != "effect":
                continue
            effects += 1
            if not ev[_ONCE]:
                continue
            key = ev[_KEY]
            if key not in first:
                first[key] = (ev[2], ev[0])
                continue
            duplicates += 1
            by_service[ev[_SERVICE]] += 1
            later = repeats.setdefault(key, [])
            if len(later) < MAX_EXAMPLES:
                later.append((ev[2], ev[0]))
        self.effects, self.duplicates = effects, duplicates

    def finish(self) -> CheckResult:
        first, repeats = self.first, self.repeats
        shown = islice(repeats.items(), MAX_EXAMPLES)
        examples = [_example(key, [first[key], *later]) for key, later in shown]
        return verdict(
            "idempotency", examples, self.duplicates,
            effects=self.effects, once_keys=len(first), duplicates=self.duplicates,
            duplicate_keys=len(repeats), by_service=dict(sorted(self.by_service.items())),
        )


def _example(key: Any, hits: list[tuple[str | None, float]]) -> dict[str, Any]:
    return {"jid": hits[0][0], "t": hits[1][1], "what": "effect repeated", "key": key,
            "jids": [jid for jid, _ in hits], "times": [t for _, t in hits]}
