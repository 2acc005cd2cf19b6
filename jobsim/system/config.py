"""How one job system deployment is set up: processes, queues, fetch, dead set."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobsim.broker.base import DEAD_MAX_JOBS, DEAD_TIMEOUT_S
from jobsim.system.flavors.options import FlavorConfig

QueueSpec = list[tuple[str, int]]
UNBOUNDED = 2**62          # a dead set with no size bound (RQ's FailedJobRegistry)


def parse_queues(queues: list[Any]) -> tuple[QueueSpec, str]:
    """sidekiq.yml syntax -> ([(name, weight)], mode).

    ``[a, b]``: strict order (a starves b). ``[[a, 3], [b, 1]]``: weighted. All weights 1:
    random order, as Sidekiq treats it.
    """
    if not queues:
        raise ValueError("queues: at least one queue is required")
    weighted = [isinstance(q, list | tuple) for q in queues]
    if all(weighted):
        spec = [(str(name), int(weight)) for name, weight in queues]
        mode = "random" if all(w == 1 for _, w in spec) else "weighted"
        return spec, mode
    if any(weighted):
        raise ValueError("queues: mix of plain names and [name, weight] pairs")
    return [(str(name), 1) for name in queues], "strict"


@dataclass
class Capsule:
    """A Sidekiq 7 capsule beside the default one: ``concurrency`` more threads in every
    process, fetching from ``queues`` (sidekiq.yml syntax) with their own order."""

    name: str
    concurrency: int
    queues: list[Any]

    def __post_init__(self) -> None:
        self.queue_spec, self.mode = parse_queues(self.queues)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "concurrency": self.concurrency,
                "queues": [[q, w] for q, w in self.queue_spec], "mode": self.mode}


@dataclass
class SystemConfig:
    """Sidekiq's knobs, with Sidekiq's defaults."""

    processes: int = 1
    concurrency: int = 5
    fetch: str = "basic"                        # basic | reliable
    queues: list[Any] = field(default_factory=lambda: ["default"])
    poll_interval_avg: float | None = None      # None: 5 s x processes, as Sidekiq
    shutdown_timeout: float = 25.0
    dead_max_jobs: int = DEAD_MAX_JOBS
    dead_timeout_s: float = DEAD_TIMEOUT_S
    death_handlers: list[Any] = field(default_factory=list)
    max_retries: int = 25                       # sidekiq.yml :max_retries:, for retry: true
    heartbeat_s: float = 10.0
    idle_wait_s: float = 2.0                    # BRPOP timeout
    fetch_error_sleep_s: float = 1.0
    orphan_check_every_s: float = 60.0
    poison_recoveries: int = 3
    poison_window_s: float = 72 * 3600.0
    latency_bounds: dict[str, float] = field(default_factory=dict)
    flavor: FlavorConfig = field(default_factory=FlavorConfig)   # sidekiq | celery | rq
    capsules: list[Capsule] = field(default_factory=list)        # beyond the default one

    def __post_init__(self) -> None:
        if self.fetch not in ("basic", "reliable"):
            raise ValueError(f"fetch: expected 'basic' or 'reliable', got {self.fetch!r}")
        self.queue_spec, self.mode = parse_queues(self.queues)
        if self.flavor.name == "rq":      # the FailedJobRegistry: failure_ttl, no size bound
            self.dead_timeout_s = self.flavor.rq.failure_ttl
            self.dead_max_jobs = UNBOUNDED

    @property
    def poll_average(self) -> float:
        return self.poll_interval_avg or 5.0 * self.processes

    def describe(self) -> dict[str, Any]:
        """The JSON-native ``config`` event payload (extended by the runner)."""
        return {
            "queues": [[q, w] for q, w in self.queue_spec],
            "mode": self.mode,
            "fetch": self.fetch,
            "processes": self.processes,
            "concurrency": self.concurrency,
            "dead_max_jobs": self.dead_max_jobs,
            "dead_timeout_s": self.dead_timeout_s,
            "death_handlers": [getattr(h, "__name__", str(h)) for h in self.death_handlers],
            "latency_bounds": dict(self.latency_bounds),
            # recorded only when changed, so histories of default deployments keep
            # their digests
            **({"max_retries": self.max_retries} if self.max_retries != 25 else {}),
            **({"capsules": [c.describe() for c in self.capsules]} if self.capsules else {}),
        } | ({} if self.flavor.name == "sidekiq" else {"flavor": self.flavor.describe()})
