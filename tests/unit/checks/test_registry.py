"""registry: names map to checks, options reach them, unknown names fail before any run."""

from __future__ import annotations

import pytest

from jobsim.checks import idempotency, priority, registry
from jobsim.checks.options import OptionError
from jobsim.checks.registry import CHECKS, get, options_of, run_check, run_checks
from jobsim.history.history import History

ALL = {"no_loss", "idempotency", "retry_spread", "priority", "dependencies", "lifecycle",
       "resources", "dead_set", "exactly_once", "uniqueness", "due"}


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


def test_latency_bounds_come_from_the_config_event_without_options() -> None:
    h = history()
    h.events[0] = (0, "config", None, {**h.events[0][3], "latency_bounds": {"critical": 1.0}})
    assert run_checks(h, ["priority"])["priority"].violations == 1


@pytest.mark.parametrize(("options", "message"), [
    ({"alpah": 0.1}, "no option 'alpah' \\(did you mean 'alpha'\\?\\)"),
    ({"alpha": "high"}, "option 'alpha' must be a number between 0 and 1"),
    ({"alpha": True}, "option 'alpha' must be"),
    ({"latency_bounds": {"critical": -1}}, "option 'latency_bounds' must be a mapping"),
])
def test_unknown_or_ill_typed_options_are_refused_before_running(options, message) -> None:
    with pytest.raises(OptionError, match=message):
        run_checks(history(), ["no_loss", "priority"], {"priority": options})


def test_every_check_declares_only_options_its_function_takes() -> None:
    import inspect
    for name in ALL:
        params = inspect.signature(get(name)).parameters
        assert list(params)[:2] == ["history", "config"], name
        assert set(options_of(name)) == set(list(params)[2:]), name


def test_a_check_that_raises_is_unknown_never_a_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(history, config=None):
        raise KeyError("boom")

    monkeypatch.setattr(idempotency, "check", broken)
    result = run_check("idempotency", history())
    assert not result.ok and result.verdict == "UNKNOWN"
    assert result.error == "KeyError: 'boom'"
    assert result.to_dict()["verdict"] == "UNKNOWN"
    assert "UNKNOWN" in result.summary()
