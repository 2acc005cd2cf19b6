"""What every checker returns: a verdict, a violation count, minimal examples, statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobsim.checks.example import conforms
from jobsim.checks.verdicts import FAIL, PASS, UNKNOWN

MAX_EXAMPLES = 5


@dataclass
class CheckResult:
    """The verdict of one property over one history (Jepsen-style: counts plus examples)."""

    name: str
    ok: bool
    violations: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # the checker raised: the verdict is unknown, never a pass

    @property
    def verdict(self) -> str:
        """PASS, FAIL, or UNKNOWN when the checker itself failed (``verdicts`` words)."""
        if self.error is not None:
            return UNKNOWN
        return PASS if self.ok else FAIL

    def to_dict(self) -> dict[str, Any]:
        out = {
            "ok": self.ok,
            "verdict": self.verdict,
            "violations": self.violations,
            "examples": self.examples[:MAX_EXAMPLES],
            "stats": self.stats,
        }
        if self.error is not None:
            out["error"] = self.error
        return out

    def summary(self) -> str:
        if self.error is not None:
            return f"{self.name}: {UNKNOWN} (the checker raised {self.error})"
        verdict = PASS if self.ok else f"{FAIL} ({self.violations} violations)"
        return f"{self.name}: {verdict}"


def verdict(name: str, examples: list[dict[str, Any]], violations: int | None = None,
            **stats: Any) -> CheckResult:
    """Build a result from the violation examples found (all of them; only a few are kept).
    Each kept example must follow ``example.KEYS``: a stray one raises ExampleError."""
    count = len(examples) if violations is None else violations
    kept = examples[:MAX_EXAMPLES]
    for example in kept:
        problem = conforms(example)
        if problem is not None:
            raise ExampleError(f"{name}: {problem}")
    return CheckResult(name, count == 0, count, kept, stats)


class ExampleError(ValueError):
    """A checker built an example outside the shared schema (a bug in the checker)."""
