"""A small hand-written history whose binned series are worked out by hand in the tests."""

from __future__ import annotations

import pytest

from jobsim.history.history import History

CONFIG = {"queues": [["critical", 2], ["default", 1]], "mode": "weighted", "horizon": 100.0,
          "scenario": "hand", "variant": None, "seed": 7}


def hand_history() -> History:
    """Three jobs over 100 s (ten 10-second bins):

    a: default, fails at 15, retried, promoted at 35, succeeds at 42;
    b: default, waits, discarded (replaced) at 55;
    c: critical, succeeds at 16, a duplicate copy runs at 22 and repeats its effect.
    A latency fault spans 50..70 and process p0 crashes at 60.
    """
    return History([
        (0.0, "config", None, CONFIG),
        (1.0, "enqueue", "a", "default", "Job", True, True),
        (2.0, "enqueue", "b", "default", "Job", True, True),
        (3.0, "enqueue", "c", "critical", "Job", True, True),
        (12.0, "start", "a", "default", "p0", 1, 0),
        (13.0, "start", "c", "critical", "p0", 1, 0),
        (15.0, "failure", "a", "Boom", 1, 0),
        (15.0, "retry", "a", 0, 20.0, 35.0, "sidekiq", 25),
        (16.0, "success", "c", 0),
        (16.0, "effect", "c", "charge:c", "payments", True),
        (17.0, "copy", "c", "critical", "redelivery"),
        (22.0, "start", "c", "critical", "p1", 1, 1),
        (23.0, "success", "c", 1),
        (23.0, "effect", "c", "charge:c", "payments", True),
        (35.0, "promote", "a", "default", "retry"),
        (41.0, "start", "a", "default", "p0", 2, 0),
        (42.0, "success", "a", 0),
        (50.0, "fault_start", None, "latency", "payments", {"extra": 1.0}),
        (55.0, "discard", "b", "replaced"),
        (60.0, "crash", None, "p0"),
        (70.0, "fault_end", None, "latency", "payments"),
        (100.0, "horizon", None),
    ])


@pytest.fixture
def history() -> History:
    return hand_history()
