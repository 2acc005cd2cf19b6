"""What every checker returns: a verdict, a violation count, minimal examples, statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobsim.checks.verdicts import FAIL, PASS

MAX_EXAMPLES = 5


@dataclass
class CheckResult:
    """The verdict of one property over one history (Jepsen-style: counts plus examples)."""

    name: str
    ok: bool
    violations: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "violations": self.violations,
            "examples": self.examples[:MAX_EXAMPLES],
            "stats": self.stats,
        }

    def summary(self) -> str:
        verdict = PASS if self.ok else f"{FAIL} ({self.violations} violations)"
        return f"{self.name}: {verdict}"


def verdict(name: str, examples: list[dict[str, Any]], violations: int | None = None,
            **stats: Any) -> CheckResult:
    """Build a result from the violation examples found (all of them; only a few are kept)."""
    count = len(examples) if violations is None else violations
    return CheckResult(name, count == 0, count, examples[:MAX_EXAMPLES], stats)
