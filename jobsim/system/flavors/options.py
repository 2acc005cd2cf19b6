"""The Celery and RQ options jobsim models, named and defaulted as their own projects do.

Defaults and the files they come from (docs/flavors.md has the full table):

* celery 5.7.0 ``celery/app/defaults.py``: ``worker_prefetch_multiplier`` 4,
  ``task_acks_late`` False; ``celery/app/task.py``: ``max_retries`` 3,
  ``default_retry_delay`` 180 s; ``celery/app/autoretry.py``: ``retry_backoff`` False,
  ``retry_backoff_max`` 600, ``retry_jitter`` True.
* kombu 5.7.0 ``kombu/transport/redis.py``: ``visibility_timeout`` 3600 s,
  ``queue_order_strategy`` round_robin, ``unacked_restore_interval`` 10 s and
  ``unacked_restore_throttle`` 10 (a restore scan on every tenth call).
* rq 2.12.0 ``rq/queue.py``: ``DEFAULT_TIMEOUT`` 180 s; ``rq/defaults.py``:
  ``DEFAULT_FAILURE_TTL`` one year,
  ``DEFAULT_MAINTENANCE_TASK_INTERVAL`` 600 s, ``DEFAULT_JOB_MONITORING_INTERVAL`` 30 s;
  ``rq/scheduler.py``: the scheduler polls every second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FLAVORS = ("sidekiq", "celery", "rq")
CELERY_QUEUE_ORDERS = ("round_robin", "priority", "sorted")
RQ_DEQUEUE_STRATEGIES = ("default", "round_robin", "random")
YEAR_S = 365 * 24 * 3600.0


@dataclass(frozen=True)
class CeleryOptions:
    """A Celery app's worker, transport and (app-wide) task options."""

    worker_prefetch_multiplier: int = 4
    task_acks_late: bool = False
    task_reject_on_worker_lost: bool = False
    visibility_timeout: float = 3600.0          # broker_transport_options
    queue_order_strategy: str = "round_robin"   # broker_transport_options
    unacked_restore_interval: float = 10.0      # broker_transport_options
    unacked_restore_throttle: int = 10
    priority_steps: tuple[int, ...] = (0, 3, 6, 9)   # broker_transport_options
    autoretry_for: tuple[str, ...] = ()         # exception class names; () = no autoretry
    max_retries: int = 3
    default_retry_delay: float = 180.0
    retry_backoff: int = 0                      # 0 = False; True reads as 1
    retry_backoff_max: int = 600
    retry_jitter: bool = True

    def describe(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["autoretry_for"] = list(self.autoretry_for)
        out["priority_steps"] = list(self.priority_steps)
        return out


@dataclass(frozen=True)
class RQOptions:
    """An RQ deployment: the Retry every job is enqueued with, and the worker's knobs."""

    retry_max: int = 0                          # Retry(max=...); 0 = no Retry
    retry_interval: tuple[int, ...] = (0,)      # Retry(interval=...)
    job_timeout: float = 180.0
    failure_ttl: float = YEAR_S
    dequeue_strategy: str = "default"
    maintenance_interval: float = 600.0
    job_monitoring_interval: float = 30.0
    scheduler_interval: float = 1.0

    def describe(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["retry_interval"] = list(self.retry_interval)
        return out


@dataclass(frozen=True)
class FlavorConfig:
    """Which job system runs, and its options (only the chosen flavour's are read)."""

    name: str = "sidekiq"
    celery: CeleryOptions = field(default_factory=CeleryOptions)
    rq: RQOptions = field(default_factory=RQOptions)

    def describe(self) -> dict[str, Any]:
        """The config event's ``flavor`` entry (absent for sidekiq: its digests stay)."""
        if self.name == "celery":
            return {"name": "celery", **self.celery.describe()}
        if self.name == "rq":
            return {"name": "rq", **self.rq.describe()}
        return {"name": self.name}
