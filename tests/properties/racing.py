"""A dependency manager with its wait switched off: the negative control of ``dependencies``.

Why a test double rather than ``dependencies: {enabled: false}``: with the safeguard off
the steps are plain jobs that declare nothing, so no history (and no checker) can know
that fulfilment was meant to wait for capture. Here every dependency is still declared
(``defer``) but the job is released at once: the steps race, as in the seed, and the
history says what they should have waited for.
"""

from __future__ import annotations

from typing import Any

from jobsim.broker.base import Payload
from jobsim.system.dependencies import JobDependencyManager
from jobsim.system.system import JobSystem


class RacingDependencies(JobDependencyManager):
    """Declares each dependency, then releases the dependent without waiting."""

    def defer(self, payload: Payload) -> str:
        jid = super().defer(payload)
        if self.system.lifecycle.get(jid) == "deferred":
            self._release(self.system.broker, jid)
        return jid


def install(system: JobSystem, options: dict[str, Any]) -> RacingDependencies:
    manager = RacingDependencies(system)
    manager.attach()
    return manager
