"""One example schema: every checker's examples use checks/example.py's typed keys."""

from __future__ import annotations

import pytest

from jobsim.checks.example import KEYS, REQUIRED, conforms
from jobsim.checks.registry import run_check
from jobsim.checks.result import ExampleError, verdict
from jobsim.history.history import History


def test_required_keys_and_types_are_enforced() -> None:
    assert conforms({"jid": "a", "t": 1.0, "what": "lost"}) is None
    assert "lacks 'what'" in conforms({"jid": "a", "t": 1.0})
    assert "not in checks/example.py" in conforms({"jid": "a", "t": 1, "what": "x", "oops": 1})
    assert "is a str" in conforms({"jid": "a", "t": "horizon", "what": "x"})
    assert set(REQUIRED) <= set(KEYS)


def test_a_stray_example_makes_the_verdict_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ExampleError):
        verdict("x", [{"jid": None, "t": 0.0, "what": "w", "problem": "old name"}])
    from jobsim.checks import idempotency
    monkeypatch.setattr(idempotency, "_example", lambda key, hits: {"problem": "repeated"})
    h = History([(0, "effect", "a", "k", "email", True), (1, "effect", "b", "k", "email", True)])
    result = run_check("idempotency", h)
    assert result.verdict == "UNKNOWN" and "lacks 'jid'" in (result.error or "")
