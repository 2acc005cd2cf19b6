"""The properties ``jobsim hunt --property NAME`` searches for a counterexample to.

A property is a statement about one run that should hold under every input the search
draws (see ``jobsim.sweep.hunt``):

- a check's name (``no_loss``, ``idempotency``, ...): that checker finds no violation
  (it is added to the run's checks when the scenario does not list it);
- ``checks``: every check the scenario lists holds;
- ``expectations``: every expectation of the scenario holds;
- ``verdict``: every check and every expectation holds (the run would PASS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobsim.checks.registry import NAMES as CHECK_NAMES


@dataclass(frozen=True)
class Property:
    name: str
    meaning: str
    needs_check: str | None = None       # a check the run must include

    def broken(self, result: Any) -> list[str]:
        """Each thing that broke the property in this run (empty when it held)."""
        checks = [c for name, c in result.checks.items()
                  if self.name in ("checks", "verdict") or name == self.needs_check]
        out = [f"{c.name}: {c.violations} violation(s); first: {c.examples[:1]}"
               for c in checks if not c.ok]
        if self.name in ("expectations", "verdict"):
            out += [f"expectation {e['metric']} {e['op']} {e['value']}: actual {e['actual']}"
                    for e in result.metrics["expectations"] if not e["ok"]]
        return out


GENERAL = {
    "checks": "every check the scenario lists holds",
    "expectations": "every expectation of the scenario holds",
    "verdict": "every check and expectation holds (the run would PASS)",
}
PROPERTIES: dict[str, Property] = {
    **{name: Property(name, f"the {name} check finds no violation", needs_check=name)
       for name in CHECK_NAMES},
    **{name: Property(name, meaning) for name, meaning in GENERAL.items()},
}


def get(name: str) -> Property:
    if name not in PROPERTIES:
        import difflib

        close = difflib.get_close_matches(name, sorted(PROPERTIES), n=2, cutoff=0.6)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        raise ValueError(f"unknown property {name!r}{hint}; valid properties: "
                         f"{', '.join(sorted(PROPERTIES))}")
    return PROPERTIES[name]
