"""Negative controls: with its safeguard switched off, every property must be broken, and
Hypothesis must find a run that shows it within the CI example budget.

A checker that never fails proves nothing; these tests show each one can. Each uses
``hypothesis.find`` (it raises NoSuchExample when the budget runs out) and then asserts
what the violation is. The witness is saved under reports/negative/ so that
``jobsim simulate reports/negative/NAME.yaml --seed N`` shows the violation.

Each control runs twice: ``[found]`` (``make test``) stops at the first run that breaks the
property; ``[minimal]`` (marked slow: ``make test-slow``, in CI) also shrinks it to the
minimal witness, which takes hundreds of runs where the search took a few.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import find, settings
from hypothesis import strategies as st

from jobsim import strategies as js
from jobsim.checks.registry import get
from jobsim.history.history import History
from jobsim.pytest_plugin import save_document
from jobsim.scenario.runner import Result, run_scenario
from jobsim.system import safeguards

from . import racing
from ._support import FIRST_FOUND, SCALE, SHRINK

Doc = dict[str, Any]


def search(strategy: st.SearchStrategy[Any], broken: Callable[[Any], bool],
           ci_examples: int, shrink: bool) -> Any:
    """``find`` with the profile's budget: generate until ``broken``, then (``shrink``)
    shrink to the minimal example."""
    phases = SHRINK if shrink else FIRST_FOUND
    return find(strategy, broken, settings=settings(max_examples=ci_examples * SCALE,
                                                    database=None, phases=phases))


def simulate(doc: Doc) -> Result:
    return run_scenario(js.validate(doc))


def witness(name: str, doc: Doc) -> str:
    path = save_document(doc, name, "reports/negative")
    return f"jobsim simulate {path} --seed {doc['seed']}"


def _violates(check: str) -> Callable[[Doc], bool]:
    return lambda doc: not simulate(doc).checks[check].ok


# ---- broken by a fault schedule ------------------------------------------------------
def test_no_loss_breaks_under_basic_fetch_with_crashes(shrink: bool) -> None:
    docs = js.scenarios(kinds=("worker_crash",), min_faults=1, checks=("no_loss",),
                        system=js.worker_configs(fetch=("basic",)))
    doc = search(docs, _violates("no_loss"), 30, shrink)
    stats = simulate(doc).checks["no_loss"].stats
    assert stats["lost"] >= 1, stats
    assert [f["type"] for f in doc["faults"]] == ["worker_crash"]
    witness("no_loss", doc)


def test_idempotency_breaks_without_a_guard_under_duplicate_delivery(shrink: bool) -> None:
    docs = js.scenarios(jobs=("NotificationDeliveryJob",), min_faults=1,
                        kinds=("duplicate_delivery", "duplicate_enqueue"),
                        checks=("idempotency",),
                        extra={"system": {"safeguards": {"idempotency": {"guard": "none"}}}})
    doc = search(docs, _violates("idempotency"), 30, shrink)
    result = simulate(doc).checks["idempotency"]
    assert result.stats["duplicates"] >= 1
    assert all(e["key"].startswith("email:") for e in result.examples)
    witness("idempotency", doc)


def test_retry_spread_breaks_with_synchronised_retries(shrink: bool) -> None:
    docs = js.scenarios(max_faults=0, retry=st.integers(1, 5), max_jobs=60,
                        policies=js.retry_policies(jitter=False), checks=("retry_spread",))
    doc = search(docs, _violates("retry_spread"), 40, shrink)
    result = simulate(doc).checks["retry_spread"]
    assert result.stats["herd_groups"] >= 1, result.stats
    assert result.examples[0]["what"] == "herd"
    witness("retry_spread", doc)


def test_priority_breaks_on_a_single_fifo_queue(shrink: bool) -> None:
    docs = js.scenarios(
        jobs=("SyntheticJob", "PaymentProcessingJob"), max_faults=0, max_jobs=50,
        system=js.worker_configs(max_processes=1, max_concurrency=3,
                                 queues=st.just(["default"])),
        checks=("priority",), extra={"latency_bounds": {"default": 5}})
    doc = search(docs, _violates("priority"), 30, shrink)
    stats = simulate(doc).checks["priority"].stats
    assert stats["latency_violations"] >= 1
    assert stats["queues"]["default"]["latency_max_s"] > 5
    witness("priority", doc)


def test_dependencies_break_when_steps_race(monkeypatch: pytest.MonkeyPatch,
                                            shrink: bool) -> None:
    monkeypatch.setitem(safeguards.INSTALLERS, "dependencies", racing.__name__)
    docs = js.scenarios(jobs=("PaymentProcessingJob",), max_faults=1, max_jobs=20,
                        kinds=("latency", "service_errors"), services=("payment",),
                        system=js.worker_configs(fetch=("reliable",),
                                                 queues=st.just(["critical"])),
                        checks=("dependencies",),
                        extra={"system": {"safeguards": {"dependencies": {"enabled": True}}}})
    # Not just "released early": a step must actually have started before the step it
    # depends on succeeded (the seed's fulfilment before capture).
    doc = search(docs, lambda d: simulate(d).checks["dependencies"].stats["started_early"] > 0,
                 30, shrink)
    result = simulate(doc).checks["dependencies"]
    assert not result.ok
    assert any(e["what"] == "started early" for e in result.examples), result.examples


def test_resources_leak_when_unscoped(shrink: bool) -> None:
    docs = js.scenarios(jobs=("DataExportJob",), max_faults=0, max_jobs=20,
                        checks=("resources",),
                        extra={"system": {"safeguards": {"resources": {"scoped": False}}},
                               "world": {"export": {"error_rate": 0.3}}})
    doc = search(docs, _violates("resources"), 30, shrink)
    examples = simulate(doc).checks["resources"].examples
    assert any(e["what"] == "not released at the end" for e in examples), examples
    witness("resources", doc)


# ---- broken by an edit of a real history -------------------------------------------
_TERMINAL_RUNS = js.scenarios(
    max_faults=0, retry=st.integers(0, 1), policies=st.just("exponential:base=1,cap=2"),
    checks=("lifecycle", "dead_set"),
    extra={"system": {"death_handlers": ["notify_ops"]}})


def _insert_after(history: History, at: int, event: tuple[Any, ...]) -> History:
    events = list(history.events)
    events.insert(at + 1, event)
    return History(events)


# Events that move a job out of "succeeded": none is legal (terminal states are final).
_ILLEGAL_AFTER_SUCCESS: dict[str, tuple[Any, ...]] = {
    "start": ("default", "p0", 1, 0),
    "retry": (0, 1.0, 0.0, "sidekiq", 25),
    "enqueue": ("default", "SyntheticJob", True, True),
    "dead": ("exhausted",),
}


def test_lifecycle_flags_an_injected_illegal_transition(shrink: bool) -> None:
    def mutated(args: tuple[Doc, int, str]) -> tuple[History, str]:
        doc, pick, kind = args
        history = simulate(doc).history
        done = [i for i, ev in enumerate(history.events) if ev[1] == "success" and not ev[3]]
        if not done:
            return history, ""
        at = done[pick % len(done)]
        t, _, jid = history.events[at][:3]
        return _insert_after(history, at, (t, kind, jid, *_ILLEGAL_AFTER_SUCCESS[kind])), jid

    found = search(st.tuples(_TERMINAL_RUNS, st.integers(0, 1000),
                             st.sampled_from(sorted(_ILLEGAL_AFTER_SUCCESS))),
                   lambda args: not get("lifecycle")(mutated(args)[0]).ok, 20, shrink)
    history, jid = mutated(found)
    result = get("lifecycle")(history)
    assert result.violations == 1
    assert result.examples[0]["jid"] == jid and result.examples[0]["from"] == "succeeded"


def test_dead_set_flags_a_handler_called_twice(shrink: bool) -> None:
    def mutated(args: tuple[Doc, int]) -> tuple[History, str]:
        doc, pick = args
        history = simulate(doc).history
        calls = [i for i, ev in enumerate(history.events) if ev[1] == "death_handler"]
        if not calls:
            return history, ""
        at = calls[pick % len(calls)]
        return _insert_after(history, at, history.events[at]), history.events[at][2]

    found = search(st.tuples(_TERMINAL_RUNS, st.integers(0, 1000)),
                   lambda args: not get("dead_set")(mutated(args)[0]).ok, 30, shrink)
    history, jid = mutated(found)
    result = get("dead_set")(history)
    assert result.violations == 1
    assert result.examples[0] | {"t": None} == {
        "what": "duplicate", "jid": jid, "t": None, "handler": "notify_ops",
        "calls": 2, "expected": 1}
