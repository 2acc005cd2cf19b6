"""registry: names map to checks, options reach them, unknown names fail before any run."""

from __future__ import annotations

import pytest

from jobsim.checks import idempotency, priority, registry
from jobsim.checks.registry import CHECKS, get, run_checks
from jobsim.history.history import History

ALL = {"no_loss", "idempotency", "retry_spread", "priority", "dependencies", "lifecycle",
       "resources", "dead_set"}


def history() -> History:
    cfg = {"mode": "strict", "queues": [["critical", 1]]}
    return History([
        (0, "config", None, cfg), (0, "enqueue", "a", "critical", "Job", True, True),
        (4, "start", "a", "critical", "p0", 1, 0), (5, "success", "a", 0),
        (5, "effect", "a", "email:a", "email", True), (6, "horizon", None),
    ])


def test_every_documented_check_is_registered() -> None:
    assert set(CHECKS) == ALL
    assert all(callable(f) for f in CHECKS.values())


def test_get_returns_the_module_check() -> None:
    assert get("priority") is priority.check
    assert get("idempotency") is idempotency.check


def test_lazy_entry_runs_the_real_check() -> None:
    result = CHECKS["no_loss"](history())
    assert result.name == "no_loss"
    assert result.ok


def test_run_checks_passes_options_per_check() -> None:
    results = run_checks(history(), ["no_loss", "priority", "idempotency"],
                         {"priority": {"latency_bounds": {"critical": 1.0}}})
    assert list(results) == ["no_loss", "priority", "idempotency"]
    assert results["no_loss"].ok
    assert results["priority"].violations == 1
    assert results["priority"].examples[0]["wait"] == 4


def test_unknown_names_fail_before_any_check_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    monkeypatch.setattr(registry, "get", lambda name: ran.append(name))
    with pytest.raises(ValueError, match="valid checks: no_loss, idempotency"):
        run_checks(history(), ["no_loss", "no_such_check"])
    with pytest.raises(ValueError, match="'typo'"):
        run_checks(history(), ["no_loss"], {"typo": {}})
    assert ran == []
    with pytest.raises(ValueError, match="unknown check 'nope'"):
        get("nope")
