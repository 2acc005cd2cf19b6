"""The dead set and death handlers (docs/semantics.md, Dead set).

A job dies when its retries are exhausted, when ``retry_in`` says ``"kill"``, when it is
poison, or when a unique conflict rejects it. The dead set is trimmed on every add, by
age then by size; every trimmed job is recorded as ``trim``, because a job leaving the
system must never leave silently. Death handlers run once per death; an error inside one
is recorded and swallowed, as Sidekiq does. Discarded jobs (``retry: false``,
``"discard"``) skip the dead set, but their death handlers still run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jobsim.broker.base import Payload

if TYPE_CHECKING:
    from jobsim.system.system import JobSystem

DeathHandler = Callable[[Payload, BaseException | None], Any]


class DeadSet:
    def __init__(self, system: JobSystem) -> None:
        self.system = system
        self.handlers: list[DeathHandler] = list(system.config.death_handlers)

    def kill(self, payload: Payload, reason: str, exc: BaseException | None,
             handlers: bool = True) -> None:
        """Move a job to the dead set, trim, record, then run the death handlers (unless
        told not to: sidekiq-unique-jobs rejects with ``notify_failure: false``)."""
        system = self.system
        cfg = system.config
        trimmed = system.broker.dead_add(
            payload, system.sim.now, cfg.dead_max_jobs, cfg.dead_timeout_s)
        system.lifecycle.move("dead", payload["jid"], reason)
        for old, why in trimmed:
            system.sim.record("trim", old["jid"], why)
        if handlers:
            self._after_death(payload, "dead", exc)
        else:
            system.hooks.call_all(system.hooks.on_terminal, payload, "dead")

    def discard(self, payload: Payload, reason: str, exc: BaseException | None,
                handlers: bool = True) -> None:
        """Drop a job on purpose; it is recorded, and handlers still run unless told not."""
        self.system.lifecycle.move("discard", payload["jid"], reason)
        if handlers:
            self._after_death(payload, "discarded", exc)
        else:
            self.system.hooks.call_all(self.system.hooks.on_terminal, payload, "discarded")

    def _after_death(self, payload: Payload, state: str, exc: BaseException | None) -> None:
        record, jid = self.system.sim.record, payload["jid"]
        for handler in self.handlers:
            name = getattr(handler, "__name__", type(handler).__name__)
            try:
                handler(payload, exc)
            except Exception as err:  # a broken handler must not break the processor
                record("death_handler", jid, name, False, type(err).__name__)
            else:
                record("death_handler", jid, name, True, None)
        self.system.hooks.call_all(self.system.hooks.on_terminal, payload, state)
