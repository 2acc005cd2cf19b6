"""Switch the job system's safeguards on from a scenario's ``system.safeguards`` mapping.

Application-level guards (existence checks, scoped resources, payment idempotency keys,
circuit breakers around service calls) live in the world and are read by it; the ones
installed here are job-system features: uniqueness locks, dependency chaining and retry
budgets. Each lives in its own module with an ``install(system, options)``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobsim.system.system import JobSystem

# Safeguards read by the world rather than installed here.
WORLD_LEVEL = frozenset({"idempotency", "resources", "circuit_breaker"})


def install(system: JobSystem, safeguards: dict[str, dict[str, Any]]) -> None:
    """Install every job-system safeguard named in ``safeguards``."""
    for name, options in safeguards.items():
        if name in WORLD_LEVEL:
            continue
        module = INSTALLERS.get(name)
        if module is None:
            raise ValueError(f"safeguard {name!r} is not available in this job system")
        import_module(module).install(system, options)


INSTALLERS: dict[str, str] = {
    "unique": "jobsim.system.unique",
    "dependencies": "jobsim.system.dependencies",
    "retry_budget": "jobsim.system.budget",
}
