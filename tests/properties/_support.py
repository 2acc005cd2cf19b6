"""Shared pieces of the property tests: per-test budgets, running a generated scenario with
replay on failure, and reading quantities to steer the search toward a violation."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import Phase, event, settings, target

from jobsim.history.history import History
from jobsim.pytest_plugin import run_scenario_and_assert
from jobsim.scenario.runner import Result

# The per-test numbers below are CI budgets; other profiles multiply them (tests/conftest.py).
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
SCALE = {"ci": 1, "dev": 4, "nightly": 100}.get(PROFILE, 1)


# A negative control's ``find``: [found] (make test) stops at the first violating run,
# [minimal] (make test-slow) shrinks it too (the ``shrink`` fixture in conftest.py).
FIRST_FOUND = (Phase.explicit, Phase.reuse, Phase.generate)
SHRINK = (*FIRST_FOUND, Phase.shrink)


def budget(ci_examples: int, **kw: Any) -> settings:
    """``@settings`` with ``ci_examples`` scaled to the active profile."""
    return settings(max_examples=ci_examples * SCALE, **kw)


def run(doc: Mapping[str, Any], checks: Sequence[str],
        options: Mapping[str, Mapping[str, Any]] | None = None,
        jobs: Sequence[type[Any]] = ()) -> Result:
    """Run a generated document and assert ``checks``; on failure the document is saved
    under reports/failing/ and the message gives ``jobsim simulate FILE --seed N``.
    ``jobs``: the test's own Job classes (the run's library has no others)."""
    event(f"faults: {len(doc.get('faults') or [])}")
    return run_scenario_and_assert(dict(doc), list(checks), check_options=options,
                                   jobs=jobs)


def count(history: History, *kinds: str) -> int:
    """How many events of these kinds the run recorded."""
    wanted = set(kinds)
    return sum(1 for ev in history.events if ev[1] in wanted)


def held_where(history: History) -> Counter[str]:
    """Where jobs were held at the horizon (queue:X, retry, deferred, ...)."""
    return Counter(ev[3].split(":")[0] for ev in history.events if ev[1] == "held")


def steer(label: str, value: float | int | None) -> None:
    """``hypothesis.target`` that ignores a missing statistic."""
    if value is not None:
        target(float(value), label=label)
