"""The ``system.flavor`` key and the Celery / RQ option blocks, named as those projects do.

```yaml
system:
  flavor: celery            # sidekiq (default) | celery | rq
  celery:
    worker_prefetch_multiplier: 4
    task_acks_late: false
    task_reject_on_worker_lost: false
    broker_transport_options: {visibility_timeout: 1h, queue_order_strategy: round_robin}
    autoretry_for: [Exception]
    max_retries: 3
    default_retry_delay: 3m
    retry_backoff: false    # or true, or a factor in seconds
    retry_backoff_max: 600
    retry_jitter: true
  rq:
    retry: {max: 3, interval: [1, 2, 3]}
    job_timeout: 180
    failure_ttl: 1y
    dequeue_strategy: default   # default | round_robin | random
```
"""

from __future__ import annotations

from typing import Any

from jobsim.scenario import fields as f
from jobsim.scenario.errors import Where
from jobsim.system.flavors.options import (
    CELERY_QUEUE_ORDERS,
    FLAVORS,
    RQ_DEQUEUE_STRATEGIES,
    CeleryOptions,
    FlavorConfig,
    RQOptions,
)

FLAVOR_KEYS = ("flavor", "celery", "rq")
CELERY_KEYS = (
    "worker_prefetch_multiplier", "worker_concurrency", "task_acks_late",
    "task_reject_on_worker_lost",
    "broker_transport_options", "autoretry_for", "max_retries", "default_retry_delay",
    "retry_backoff", "retry_backoff_max", "retry_jitter",
)
TRANSPORT_KEYS = ("visibility_timeout", "queue_order_strategy", "unacked_restore_interval",
                  "priority_steps")
RQ_KEYS = ("retry", "job_timeout", "failure_ttl", "dequeue_strategy", "maintenance_interval",
           "job_monitoring_interval")
RETRY_KEYS = ("max", "interval")


def read_flavor(data: dict[str, Any], where: Where) -> tuple[FlavorConfig, int | None]:
    """The flavour and its options from a ``system`` mapping; also Celery's
    ``worker_concurrency`` when given (it is the system's ``concurrency``)."""
    name = f.optional(data, "flavor", where, f.choice(FLAVORS), "sidekiq")
    for other in ("celery", "rq"):
        if data.get(other) is not None and name != other:
            raise where.key(other).error(
                f"options for {other} need 'flavor: {other}' (the flavour is {name!r})")
    celery, concurrency = CeleryOptions(), None
    if data.get("celery") is not None:
        celery, concurrency = read_celery(data["celery"], where.key("celery"))
    rq = f.optional(data, "rq", where, read_rq, RQOptions())
    return FlavorConfig(name=name, celery=celery, rq=rq), concurrency


def read_celery(value: Any, where: Where) -> tuple[CeleryOptions, int | None]:
    data = f.mapping(value, where, CELERY_KEYS)
    base = CeleryOptions()
    transport = f.mapping(data.get("broker_transport_options") or {},
                          where.key("broker_transport_options"), TRANSPORT_KEYS)
    at = where.key("broker_transport_options")
    opts = CeleryOptions(
        worker_prefetch_multiplier=f.optional(
            data, "worker_prefetch_multiplier", where, f.integer(minimum=0),
            base.worker_prefetch_multiplier),
        task_acks_late=f.optional(data, "task_acks_late", where, f.boolean, base.task_acks_late),
        task_reject_on_worker_lost=f.optional(data, "task_reject_on_worker_lost", where,
                                              f.boolean, base.task_reject_on_worker_lost),
        visibility_timeout=f.optional(transport, "visibility_timeout", at,
                                      f.duration(positive=True), base.visibility_timeout),
        queue_order_strategy=f.optional(transport, "queue_order_strategy", at,
                                        f.choice(CELERY_QUEUE_ORDERS), base.queue_order_strategy),
        unacked_restore_interval=f.optional(transport, "unacked_restore_interval", at,
                                            f.duration(positive=True),
                                            base.unacked_restore_interval),
        priority_steps=f.optional(transport, "priority_steps", at, _priority_steps,
                                  base.priority_steps),
        autoretry_for=f.optional(data, "autoretry_for", where,
                                 f.unique_list(f.name, "exception class"), ()),
        max_retries=f.optional(data, "max_retries", where, f.integer(minimum=0),
                               base.max_retries),
        default_retry_delay=f.optional(data, "default_retry_delay", where, f.duration(),
                                       base.default_retry_delay),
        retry_backoff=f.optional(data, "retry_backoff", where, _backoff_factor, 0),
        retry_backoff_max=f.optional(data, "retry_backoff_max", where, f.integer(minimum=0),
                                     base.retry_backoff_max),
        retry_jitter=f.optional(data, "retry_jitter", where, f.boolean, base.retry_jitter),
    )
    concurrency = f.optional(data, "worker_concurrency", where, f.integer(minimum=1), None)
    return opts, concurrency


def _priority_steps(value: Any, where: Where) -> tuple[int, ...]:
    """kombu's ``priority_steps``: ascending distinct priorities 0..9, starting at 0."""
    items = f.sequence(value, where, nonempty=True)
    steps = tuple(f.integer(minimum=0)(v, where.index(i)) for i, v in enumerate(items))
    if steps[0] != 0 or list(steps) != sorted(set(steps)) or steps[-1] > 9:
        raise where.error(f"expected ascending distinct steps from 0 to at most 9, such as "
                          f"[0, 3, 6, 9], got {list(steps)}")
    return steps


def _backoff_factor(value: Any, where: Where) -> int:
    """``retry_backoff``: false, true (a factor of 1 s) or a factor in whole seconds."""
    if isinstance(value, bool):
        return int(value)
    return f.integer(minimum=0)(value, where)


def read_rq(value: Any, where: Where) -> RQOptions:
    data = f.mapping(value, where, RQ_KEYS)
    base = RQOptions()
    retry_max, interval = 0, base.retry_interval
    if data.get("retry") is not None:
        retry_max, interval = read_retry(data["retry"], where.key("retry"))
    return RQOptions(
        retry_max=retry_max,
        retry_interval=interval,
        job_timeout=f.optional(data, "job_timeout", where, f.duration(positive=True),
                               base.job_timeout),
        failure_ttl=f.optional(data, "failure_ttl", where, f.duration(positive=True),
                               base.failure_ttl),
        dequeue_strategy=f.optional(data, "dequeue_strategy", where,
                                    f.choice(RQ_DEQUEUE_STRATEGIES), base.dequeue_strategy),
        maintenance_interval=f.optional(data, "maintenance_interval", where,
                                        f.duration(positive=True), base.maintenance_interval),
        job_monitoring_interval=f.optional(data, "job_monitoring_interval", where,
                                           f.duration(positive=True),
                                           base.job_monitoring_interval),
    )


def read_retry(value: Any, where: Where) -> tuple[int, tuple[int, ...]]:
    """``Retry(max, interval)``: interval is whole seconds or a list of them (rq's ints)."""
    data = f.mapping(value, where, RETRY_KEYS)
    retry_max = f.required(data, "max", where, f.integer(minimum=1))
    raw = data.get("interval", 0)
    seconds = f.integer(minimum=0)
    if isinstance(raw, list):
        items = f.sequence(raw, where.key("interval"), nonempty=True)
        return retry_max, tuple(seconds(v, where.key("interval").index(i))
                                for i, v in enumerate(items))
    return retry_max, (seconds(raw, where.key("interval")),)
