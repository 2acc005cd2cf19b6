"""Switch the job system's safeguards on from a scenario's ``system.safeguards`` mapping.

Application-level guards (existence checks, scoped resources, payment idempotency keys)
live in the world's jobs; the ones here are job-system features: uniqueness locks,
dependency chaining, retry budgets and circuit breakers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobsim.system.system import JobSystem

# Safeguards read by the world rather than installed here.
WORLD_LEVEL = frozenset({"idempotency", "resources"})


def install(system: JobSystem, safeguards: dict[str, dict[str, Any]]) -> None:
    """Install every job-system safeguard named in ``safeguards``."""
    for name, options in safeguards.items():
        if name in WORLD_LEVEL:
            continue
        installer = INSTALLERS.get(name)
        if installer is None:
            raise ValueError(f"safeguard {name!r} is not available in this job system")
        installer(system, options)


INSTALLERS: dict[str, Any] = {}
