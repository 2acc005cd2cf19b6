"""The outcome checkers under generated runs, each with its negative control: the same
search with the safeguard off (or a planted bug) must find a violation.

- uniqueness: a until_executed lock on re-pushed campaign emails never has two holders;
  a lock that always "succeeds" does.
- due: retries and scheduled jobs never move or run early under crashes and outages; a
  poller whose clock reads 5 s ahead promotes early.
- exactly_once: with the insert-before-send guard and no crashes every recipient gets
  one email; without the guard, duplicate deliveries send some twice.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from jobsim import strategies as js
from jobsim.scenario.runner import run_scenario
from jobsim.system.scheduler import Poller
from jobsim.system.unique import UniqueLocks

from ._support import FIRST_FOUND, SCALE, SHRINK, budget, run

Doc = dict[str, Any]


@st.composite
def campaigns(draw: Any, guard: str = "constraint", lock: bool = True) -> Doc:
    """A small fan-out campaign under re-pushes and redelivery."""
    safeguards: dict[str, Any] = {"idempotency": {"guard": guard}}
    if lock:
        safeguards["unique"] = {"lock": "until_executed", "args": ["user_id", "campaign_id"]}
    doc = {
        "name": "campaign", "description": "generated campaign", "duration": 60, "drain": 300,
        "plugins": ["jobsim.shop"],
        "seed": draw(st.integers(0, 2**16)),
        "system": {"processes": draw(st.integers(1, 3)), "concurrency": draw(st.integers(1, 8)),
                   "fetch": "reliable", "safeguards": safeguards},
        "workload": [{"job": "NotificationDeliveryJob", "fanout": draw(st.integers(20, 150)),
                      "spread": "50s", "args": {"campaign_id": 7}, "effect": "email:{1}:{0}"}],
        "faults": [
            {"type": "duplicate_enqueue", "rate": draw(st.sampled_from([0.1, 0.3, 0.5])),
             "start": 0, "duration": 60},
            {"type": "duplicate_delivery", "rate": draw(st.sampled_from([0.1, 0.3])),
             "start": 0, "duration": 60},
        ],
        "checks": ["uniqueness", "exactly_once", "no_loss"],
    }
    js.validate(doc)
    return doc


def _search(strategy: st.SearchStrategy[Doc], check: str, shrink: bool) -> Doc:
    return find(strategy, lambda d: not run_scenario(js.validate(d)).checks[check].ok,
                settings=settings(max_examples=20 * SCALE, database=None,
                                  phases=SHRINK if shrink else FIRST_FOUND))


# ---- uniqueness ----------------------------------------------------------------------
@budget(10)
@given(campaigns())
def test_one_holder_per_lock(doc: Doc) -> None:
    result = run(doc, ["uniqueness", "exactly_once", "no_loss"])
    assert result.checks["uniqueness"].stats["acquires"] > 0


def _always_succeeds(self: UniqueLocks, broker: Any, key: str, jid: str,
                     ttl: float | None) -> None:
    """A lock that never says no: it overwrites the holder, as a SET without NX would."""
    now = self.system.sim.now
    expires = None if ttl is None else now + ttl
    broker.lock_force(key, jid, expires)
    old = self._held.get(key)
    if old is not None and old[0] != jid:
        self._record(old[0], key, "expire")
    self._held[key] = (jid, expires)
    self._record(jid, key, "acquire")


def test_negative_control_a_lock_that_always_succeeds(monkeypatch: pytest.MonkeyPatch,
                                                       shrink: bool) -> None:
    monkeypatch.setattr(UniqueLocks, "acquire", _always_succeeds)
    doc = _search(campaigns(), "uniqueness", shrink)
    stats = run_scenario(js.validate(doc)).checks["uniqueness"].stats
    assert stats["overlaps"] > 0, stats


# ---- exactly once --------------------------------------------------------------------
@budget(10)
@given(campaigns(lock=False))
def test_insert_before_send_without_crashes_is_exactly_once(doc: Doc) -> None:
    result = run(doc, ["exactly_once", "no_loss"])
    assert result.checks["exactly_once"].stats["expected"] > 0


def test_negative_control_no_guard_sends_twice(shrink: bool) -> None:
    doc = _search(campaigns(guard="none", lock=False), "exactly_once", shrink)
    stats = run_scenario(js.validate(doc)).checks["exactly_once"].stats
    assert stats["duplicated"] > 0, stats


# ---- due -----------------------------------------------------------------------------
RETRYING = js.scenarios(
    jobs=("SyntheticJob",), kinds=("worker_crash", "redis_outage", "rolling_deploy"),
    retry=st.integers(1, 3), policies=st.just("exponential:jitter=full,base=2,cap=20"),
    checks=("due", "lifecycle"), duration=st.integers(30, 90),
    extra={"workload": [{"job": "SyntheticJob", "count": 60, "spread": 20,
                         "args": {"dist": "exponential", "mean": 0.2, "p_fail": 0.5},
                         "retry": 3, "backoff": "exponential:jitter=full,base=2,cap=20"}]})


@budget(10)
@given(RETRYING)
def test_nothing_runs_before_it_is_due(doc: Doc) -> None:
    result = run(doc, ["due", "lifecycle"])
    assert result.checks["due"].stats["promotions_checked"] > 0


def test_negative_control_a_poller_five_seconds_early(monkeypatch: pytest.MonkeyPatch,
                                                      shrink: bool) -> None:
    real = Poller.enqueue_due

    def early(self: Poller) -> int:
        worker = self.worker
        clock = type(worker).now
        worker.now = lambda: clock(worker) + 5.0        # type: ignore[method-assign]
        try:
            return real(self)
        finally:
            del worker.now

    monkeypatch.setattr(Poller, "enqueue_due", early)
    doc = _search(RETRYING, "due", shrink)
    stats = run_scenario(js.validate(doc)).checks["due"].stats
    assert stats["early_jobs"] > 0 and stats["max_early_s"] <= 5.0 + 1e-6, stats
