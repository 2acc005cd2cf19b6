"""Priority under backlog: every queue is full at once, so strict order and weighted
shares are measured, not vacuous. Negative controls swap in a queue selector that
reverses strict order or ignores the weights; the same property must then fail."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import find, given, settings

from jobsim import strategies as js
from jobsim.scenario.runner import run_scenario
from jobsim.system.fetch import Fetcher, QueueSelector

from ._support import FIRST_FOUND, SCALE, SHRINK, budget, run


def _priority(doc: dict[str, Any]) -> Any:
    return run_scenario(js.validate(doc)).checks["priority"]


@budget(15)
@given(js.backlogs())
def test_backlogged_queues_are_served_in_order_and_share(doc: dict[str, Any]) -> None:
    result = run(doc, ["priority", "lifecycle"], {"priority": {"alpha": 1e-6}})
    stats = result.checks["priority"].stats
    if stats["mode"] == "weighted":
        assert stats["weighted"]["n"] >= 20, stats["weighted"]   # the shares were measured


def _reversed(self: Fetcher) -> tuple[Any, str] | None:
    """Strict order popped backwards (strict fetches pop in order, without ``choose``)."""
    for queue in reversed(self.selector.names):
        payload = (self.broker.pop_to_private(queue, self.worker) if self.reliable
                   else self.broker.pop(queue))
        if payload is not None:
            return payload, queue
    return None


def _unweighted(self: QueueSelector, broker: Any) -> str | None:
    live = [name for name in self.names if broker.queue_size(name)]
    return self.rng.choice(live) if live else None


@pytest.mark.parametrize(("mode", "owner", "method", "broken"), [
    ("strict", Fetcher, "_pop_in_order", _reversed),
    ("weighted", QueueSelector, "choose", _unweighted),
])
def test_negative_controls_break_order_and_shares(monkeypatch: pytest.MonkeyPatch, mode: str,
                                                  owner: type, method: str,
                                                  broken: Any, shrink: bool) -> None:
    monkeypatch.setattr(owner, method, broken)
    docs = js.backlogs(modes=(mode,))
    doc = find(docs, lambda d: not _priority(d).ok,
               settings=settings(max_examples=20 * SCALE, database=None,
                                 phases=SHRINK if shrink else FIRST_FOUND))
    stats = _priority(doc).stats
    if mode == "strict":
        assert stats["strict_violations"] > 0
    else:
        assert stats["weighted"]["violated"], stats["weighted"]
