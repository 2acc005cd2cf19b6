"""metrics.json sections, all from one pass over the history (``metrics.tally``)."""

from __future__ import annotations

import pytest

from jobsim.history.history import History
from jobsim.report import metrics
from jobsim.shop.metrics import shop_metrics


def test_sections_of_the_hand_history(history: History) -> None:
    parts = metrics.tally(history)
    # a: failed once, retried, succeeded; b: discarded while waiting; c: succeeded, and a
    # duplicate copy ran again (no state change) and repeated its once-only effect.
    assert parts["jobs"] == {"succeeded": 2, "dead": 0, "discarded": 1, "canceled": 0,
                             "enqueued": 3, "executions": 4, "retries": 1,
                             "dead_by_reason": {}, "discarded_by_reason": {"replaced": 1}}
    assert parts["effects"] == {"total": 2, "duplicates": 1}
    assert parts["retries"] == {"by_attempt": [1], "peak_per_minute": 1}
    assert parts["failures"] == {"Boom": 1}
    assert parts["services"] == {}
    assert "orders" not in parts and "highlights" not in parts     # a plug-in's business
    document = metrics.compute(history, {}, {})
    assert document["highlights"] == []
    assert {k: document["jobs"][k] for k in parts["jobs"]} == parts["jobs"]


def test_the_shops_metrics_hook_orders_and_the_email_highlight() -> None:
    cfg = {"queues": ["default"], "safeguards": {"idempotency": {"guard": "replica"}}}
    history = History([
        (0.0, "config", None, cfg),
        (1.0, "effect", "j1", "fulfil:1", "orders", True),
        (1.0, "effect", "j1", "payment:1", "payment", True),
        (2.0, "effect", "j2", "fulfil:2", "orders", True),            # never captured
        (3.0, "effect", "j3", "fulfilled_before_capture:3", "orders", True),
        (3.0, "effect", "j3", "fulfil:3", "orders", True),
        (4.0, "effect", "j4", "email:7:1", "email", True),
        (5.0, "effect", "j5", "email:7:1", "email", True),             # sent twice
        (5.0, "effect", "j5", "audit:1", "email", False),             # may repeat
        (9.0, "sample", None, "service.pay.api.calls", 12),
        (9.0, "sample", None, "service.pay.api.peak_calls_per_s", 3),
        (9.0, "sample", None, "pool.db", 1),
    ])
    parts = metrics.tally(history)
    shop = shop_metrics(history)
    assert shop["orders"] == {"fulfilled": 3, "fulfilled_before_capture": 1,
                              "fulfilled_uncaptured": 2, "errors": 2}
    assert parts["services"] == {"pay.api": {"calls": 12, "peak_calls_per_s": 3}}
    assert shop["highlights"] == [["duplicate emails (guard=replica)", 1]]
    assert parts["effects"] == {"total": 8, "duplicates": 1}
    document = metrics.compute(history, {}, {}, extra=[shop])
    assert document["orders"] == shop["orders"]                 # at the top level
    assert document["highlights"] == shop["highlights"]
    with pytest.raises(ValueError, match="'jobs'"):
        metrics.compute(history, {}, {}, extra=[{"jobs": {}}])   # may not replace a section
