"""Priority under backlog: every queue is full at once, so strict order and weighted
shares are measured, not vacuous. Negative controls swap in a queue selector that
reverses strict order or ignores the weights; the same property must then fail."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import find, given, settings

from jobsim import strategies as js
from jobsim.scenario.runner import run_scenario
from jobsim.system.fetch import QueueSelector

from ._support import SCALE, budget, run


def _priority(doc: dict[str, Any]) -> Any:
    return run_scenario(js.validate(doc)).checks["priority"]


@budget(15)
@given(js.backlogs())
def test_backlogged_queues_are_served_in_order_and_share(doc: dict[str, Any]) -> None:
    result = run(doc, ["priority", "lifecycle"], {"priority": {"alpha": 1e-6}})
    stats = result.checks["priority"].stats
    if stats["mode"] == "weighted":
        assert stats["weighted"]["n"] >= 20, stats["weighted"]   # the shares were measured


def _reversed(self: QueueSelector, broker: Any) -> str | None:
    for name in reversed(self.names):
        if broker.queue_size(name):
            return name
    return None


def _unweighted(self: QueueSelector, broker: Any) -> str | None:
    live = [name for name in self.names if broker.queue_size(name)]
    return self.rng.choice(live) if live else None


@pytest.mark.parametrize(("mode", "broken", "stat"), [
    ("strict", _reversed, "strict_violations"),
    ("weighted", _unweighted, "weighted"),
])
def test_negative_controls_break_order_and_shares(monkeypatch: pytest.MonkeyPatch, mode: str,
                                                  broken: Any, stat: str) -> None:
    monkeypatch.setattr(QueueSelector, "choose", broken)
    docs = js.backlogs(modes=(mode,))
    doc = find(docs, lambda d: not _priority(d).ok,
               settings=settings(max_examples=20 * SCALE, database=None))
    stats = _priority(doc).stats
    if mode == "strict":
        assert stats["strict_violations"] > 0
    else:
        assert stats["weighted"]["violated"], stats["weighted"]
