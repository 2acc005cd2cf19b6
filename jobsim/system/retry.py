"""What happens when perform raises (Sidekiq's JobRetry; docs/semantics.md, Retries).

``retry_count`` in the payload is 0 after the first failure and grows by one per
failure. ``retry: True`` allows 25 retries, ``N`` allows N, ``0`` sends the job straight
to the dead set, and ``False`` discards it (death handlers still run). The job's
``retry_in(count, exc)`` may return seconds, ``"kill"`` or ``"discard"``. Seconds get the
random term of the job's Sidekiq version, and zero or less falls back to the policy
(``backoff.custom``); otherwise the backoff policy (``jobsim.backoff``) picks the delay,
times the optional multiplicative jitter. The delay is measured on the failing process's
clock, so clock skew shows up in the due time, as it would in production. With a retry
budget installed (``jobsim.system.budget``) a retry the failing process cannot afford
goes to the dead set instead, reason ``retry_budget``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobsim import backoff
from jobsim.broker.base import RETRY, Payload
from jobsim.system.job import Job

if TYPE_CHECKING:
    from jobsim.system.budget import RetryBudget
    from jobsim.system.system import JobSystem

DEFAULT_MAX_RETRIES = 25


def max_retries(option: Any, default: int = DEFAULT_MAX_RETRIES) -> int:
    """Sidekiq's reading of the ``retry`` option; ``retry: true`` allows DEFAULT, the
    deployment's ``:max_retries:``."""
    if option is True or option is None:
        return default
    if option is False:
        return 0
    return int(option)


class RetryHandler:
    def __init__(self, system: JobSystem) -> None:
        self.system = system
        self.rng = system.sim.streams["retry"]
        self._policies: dict[tuple[str, float], backoff.Policy] = {}
        self.budget: RetryBudget | None = None

    def policy(self, spec: str, jitter: float) -> backoff.Policy:
        """Parse once per (spec, jitter): parsing is not free and specs repeat."""
        key = (spec, jitter)
        found = self._policies.get(key)
        if found is None:
            full = spec if not jitter else f"{spec}{',' if ':' in spec else ':'}j={jitter}"
            found = self._policies[key] = backoff.parse(full)
        return found

    def handle(self, payload: Payload, cls: type[Job], job: Job, exc: Exception,
               now: float) -> None:
        """Decide retry, dead or discard for a failed (non-duplicate) execution."""
        system = self.system
        prior = payload.get("retry_count")
        count = 0 if prior is None else prior + 1
        option = payload.get("retry", cls.retry)
        failed = {**payload, "retry_count": count, "error_class": type(exc).__name__,
                  "failed_at": payload.get("failed_at", now)}
        if option is False:
            system.dead.discard(failed, "retry_false", exc)
            return
        decision = self._custom(job, count, exc)
        if decision == "kill":
            system.dead.kill(failed, "kill", exc)
        elif decision == "discard":
            system.dead.discard(failed, "discard", exc)
        elif count >= (limit := max_retries(option, system.config.max_retries)):
            if payload.get("dead", cls.dead):
                system.dead.kill(failed, "exhausted", exc)
            else:
                system.dead.discard(failed, "dead_false", exc)
        elif self.budget is not None and not self.budget.allow_retry(
                getattr(job, "worker", None), exc):
            if payload.get("dead", cls.dead):
                system.dead.kill(failed, "retry_budget", exc)
            else:
                system.dead.discard(failed, "retry_budget", exc)
        else:
            self._schedule(failed, cls, count, limit, decision, now)

    @staticmethod
    def _custom(job: Job, count: int, exc: Exception) -> Any:
        """The job's retry_in; an error in it falls back to the policy, as in Sidekiq."""
        try:
            return job.retry_in(count, exc)
        except Exception:
            return None

    def _schedule(self, failed: Payload, cls: type[Job], count: int, limit: int,
                  decision: Any, now: float) -> None:
        system = self.system
        policy: backoff.Policy = self.policy(failed.get("backoff", cls.backoff),
                                             failed.get("jitter", cls.jitter))
        if decision is not None:
            policy = backoff.custom(decision, policy) or policy
        delay = policy.delay(count, self.rng, prev=failed.get("retry_delay"))
        spec = policy.spec()
        due = now + delay
        failed["retry_delay"] = delay
        system.broker.zadd(RETRY, due, failed)
        system.lifecycle.move("retry", failed["jid"], count, delay, due, spec, limit)
        system.hooks.call_all(system.hooks.on_retry, failed)
