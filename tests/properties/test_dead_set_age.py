"""The dead set's age rule under generated runs: with a timeout of seconds (so that runs of
a minute age entries out), the reference system trims exactly what Sidekiq trims, and
with its age trim switched off the checker catches the first run that shows it.

Why a test double rather than a config switch: the job system has no switch for the age
trim (SystemConfig only sets the timeout, and the config event records it, so a huge
timeout would move the checker's bound too). The double is the store's ``dead_add`` with
the timeout ignored, i.e. ZREMRANGEBYSCORE never run; the history still records the
scenario's ``dead_timeout_s``, so the checker knows what should have gone. No witness is
saved: ``jobsim simulate`` of the document would run the faithful store and pass.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobsim import strategies as js
from jobsim.broker.base import Payload
from jobsim.broker.memory import MemoryBroker

from ._support import budget, run, steer
from .test_negative_controls import search, simulate

TIMEOUT = "5s"
_AGING_RUNS = dict(
    jobs=("SyntheticJob",), retry=st.integers(0, 1), max_jobs=40,
    policies=st.just("exponential:base=1,cap=2"), checks=("dead_set", "lifecycle"),
    extra={"system": {"death_handlers": ["notify_ops"], "dead_timeout": TIMEOUT}})
# A failover rolls back dead-set writes without a trim: what dead_set exists to detect.
_WITHOUT_FAILOVER = tuple(k for k in js.ALL if k != "redis_failover")


@budget(20)
@given(js.scenarios(kinds=_WITHOUT_FAILOVER, **_AGING_RUNS))
def test_dead_set_ages_out_exactly_what_sidekiq_does(doc: dict[str, Any]) -> None:
    stats = run(doc, ["dead_set", "lifecycle"]).checks["dead_set"].stats
    steer("aged out", stats["trimmed"].get("age", 0))
    steer("deaths", stats["deaths"])


def _ageless_dead_add(self: MemoryBroker, payload: Payload, now: float,
                      max_jobs: int = 10_000, timeout_s: float = 0.0
                      ) -> list[tuple[Payload, str]]:
    return _FAITHFUL(self, payload, now, max_jobs, math.inf)


_FAITHFUL = MemoryBroker.dead_add


def test_dead_set_catches_a_store_that_never_ages_entries_out(
        monkeypatch: pytest.MonkeyPatch, shrink: bool) -> None:
    monkeypatch.setattr(MemoryBroker, "dead_add", _ageless_dead_add)
    docs = js.scenarios(max_faults=0, **_AGING_RUNS)
    doc = search(docs, lambda d: not simulate(d).checks["dead_set"].ok, 30, shrink)
    result = simulate(doc).checks["dead_set"]
    assert result.stats["survived_timeout"] == result.violations >= 1, result.examples
    assert result.stats["trimmed"].get("age", 0) == 0
    example = result.examples[0]
    assert example["what"] == "survived_timeout"
    assert example["age"] >= example["timeout"] == 5.0
