"""The fault catalogue: every fault jobsim can inject, and how each reaches the system.

A fault reaches the job system only the way it would in production: through the world
(services fail or slow down, replicas lag), through storage (outages, lost writes,
ambiguous timeouts, redelivery) or through its processes (SIGKILL, TERM, clock skew).
Nothing here calls into the job system's internals.

Each fault declares its parameters with a kind, so scenario files are validated before a
run starts and errors name the exact parameter.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from jobsim.chaos.storage import StorageFaults
from jobsim.sim.simulation import Simulation
from jobsim.system.client import PushError, PushTimeout

# parameter kinds: "duration" (seconds), "probability", "rate_below_one" (a probability
# in [0, 1)), "count", "number", "str", "job" (a registered job name), "mapping", or a
# tuple of allowed strings
ParamKinds = dict[str, Any]


class FaultParamError(ValueError):
    """A fault parameter is missing, unknown or of the wrong kind."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass
class ChaosContext:
    """What a fault may touch: the world, the storage switches, the processes."""

    sim: Simulation
    system: Any
    world: Any
    storage: StorageFaults
    store: Any                       # the underlying broker (snapshots for failover)
    snapshots: dict[int, Any] = field(default_factory=dict)


@dataclass
class Fault:
    """One scheduled fault: a window [start, start + duration) and its parameters."""

    kind: ClassVar[str] = ""
    PARAMS: ClassVar[ParamKinds] = {}
    DEFAULTS: ClassVar[dict[str, Any]] = {}
    NEEDS_TARGET: ClassVar[bool] = False
    # What ``target:`` names: "service", "process" (p0.., random, all), "replica" (an
    # index or all), or None: the fault takes no target and a scenario naming one is refused.
    TARGET: ClassVar[str | None] = None
    doc: ClassVar[str] = ""

    start: float
    duration: float
    target: str | None
    params: dict[str, Any]

    def begin(self, ctx: ChaosContext) -> None:
        """Switch the fault on."""

    def end(self, ctx: ChaosContext) -> None:
        """Heal it."""

    def run(self, ctx: ChaosContext) -> Generator[Any, Any, None]:
        """Default shape: on at start, off after duration. Faults with a story override."""
        self.begin(ctx)
        yield ctx.sim.env.timeout(self.duration)
        self.end(ctx)

    def p(self, name: str) -> Any:
        return self.params.get(name, self.DEFAULTS.get(name))


# ---- the world --------------------------------------------------------------------
class ServiceOutage(Fault):
    kind = "service_outage"
    doc = "a service answers with errors, times out after timeout_s, or hangs"
    PARAMS = {"mode": ("error", "timeout", "hang"), "timeout_s": "duration"}
    DEFAULTS = {"mode": "error", "timeout_s": 30.0}
    NEEDS_TARGET = True
    TARGET = "service"

    def begin(self, ctx: ChaosContext) -> None:
        ctx.world.service(self.target).set_outage(self.p("mode"), timeout_s=self.p("timeout_s"))

    def end(self, ctx: ChaosContext) -> None:
        ctx.world.service(self.target).clear_outage()


class ServiceErrors(Fault):
    kind = "service_errors"
    doc = "a fraction of a service's calls fail"
    PARAMS = {"rate": "probability"}
    DEFAULTS = {"rate": 0.5}
    NEEDS_TARGET = True
    TARGET = "service"

    def begin(self, ctx: ChaosContext) -> None:
        ctx.world.service(self.target).set_error_rate(self.p("rate"))

    def end(self, ctx: ChaosContext) -> None:
        ctx.world.service(self.target).set_error_rate(0.0)


class ServiceLatency(Fault):
    kind = "latency"
    doc = "every call to a service takes `extra` longer"
    PARAMS = {"extra": "duration"}
    DEFAULTS = {"extra": 1.0}
    NEEDS_TARGET = True
    TARGET = "service"

    def begin(self, ctx: ChaosContext) -> None:
        ctx.world.service(self.target).set_extra_latency(self.p("extra"))

    def end(self, ctx: ChaosContext) -> None:
        ctx.world.service(self.target).set_extra_latency(0.0)


class ReplicaLag(Fault):
    kind = "replica_lag"
    doc = "read replicas fall `lag` behind the primary (target: replica index, default all)"
    TARGET = "replica"
    PARAMS = {"lag": "duration"}
    DEFAULTS = {"lag": 5.0}

    def _replicas(self, ctx: ChaosContext) -> list[int]:
        if self.target not in (None, "all"):
            return [int(self.target)]
        return list(range(len(ctx.world.db.lags)))

    def begin(self, ctx: ChaosContext) -> None:
        self._before = {i: ctx.world.db.lags[i] for i in self._replicas(ctx)}
        for i in self._before:
            ctx.world.db.set_lag(i, self.p("lag"))

    def end(self, ctx: ChaosContext) -> None:
        for i, lag in self._before.items():
            ctx.world.db.set_lag(i, lag)


# ---- storage ----------------------------------------------------------------------
class DuplicateEnqueue(Fault):
    kind = "duplicate_enqueue"
    doc = "a push lands but the client sees a timeout, so the application pushes again"
    PARAMS = {"rate": "probability"}
    DEFAULTS = {"rate": 0.05}

    def begin(self, ctx: ChaosContext) -> None:
        ctx.storage.ambiguous_push_rate = self.p("rate")

    def end(self, ctx: ChaosContext) -> None:
        ctx.storage.ambiguous_push_rate = 0.0


class DuplicateDelivery(Fault):
    kind = "duplicate_delivery"
    doc = "a fetched job is delivered again (it reappears at the front of its queue)"
    PARAMS = {"rate": "rate_below_one"}  # at 1 every delivery repeats: the run never ends
    DEFAULTS = {"rate": 0.05}

    def begin(self, ctx: ChaosContext) -> None:
        ctx.storage.duplicate_delivery_rate = self.p("rate")

    def end(self, ctx: ChaosContext) -> None:
        ctx.storage.duplicate_delivery_rate = 0.0


class RedisOutage(Fault):
    kind = "redis_outage"
    doc = "every storage call fails for the window"

    def begin(self, ctx: ChaosContext) -> None:
        ctx.storage.outage = True

    def end(self, ctx: ChaosContext) -> None:
        ctx.storage.outage = False
        ctx.system.notify(None, len(ctx.system.workers) * ctx.system.config.concurrency)


class RedisFailover(Fault):
    """Asynchronous replication: the promoted replica lacks the last `lose` seconds of
    acknowledged writes. The store is rolled back to a snapshot taken `lose` seconds
    before the failover; storage is down while the failover lasts (the window)."""

    kind = "redis_failover"
    doc = "the primary fails over; writes acknowledged in the last `lose` seconds vanish"
    PARAMS = {"lose": "duration"}
    DEFAULTS = {"lose": 1.0}

    def snapshot_at(self) -> float:
        return max(0.0, self.start - self.p("lose"))

    def begin(self, ctx: ChaosContext) -> None:
        ctx.storage.outage = True
        snapshot = ctx.snapshots.get(id(self))
        if snapshot is not None:
            ctx.store.restore(snapshot)

    def end(self, ctx: ChaosContext) -> None:
        ctx.storage.outage = False
        ctx.system.notify(None, len(ctx.system.workers) * ctx.system.config.concurrency)


# ---- processes --------------------------------------------------------------------
def _targets(ctx: ChaosContext, target: str | None, rng_name: str) -> list[Any]:
    workers = ctx.system.workers
    if target in (None, "random"):
        return [ctx.sim.streams[rng_name].choice(workers)]
    if target == "all":
        return list(workers)
    return [ctx.system.process(target)]


class WorkerCrash(Fault):
    """SIGKILL a process (target: p0.., "random" or "all"), restart it after
    `restart_after`; with `every`, keep crashing a random/target process that often."""

    kind = "worker_crash"
    doc = "SIGKILL a worker process, restart it after restart_after"
    TARGET = "process"
    PARAMS = {"restart_after": "duration", "every": "duration"}
    DEFAULTS = {"restart_after": 30.0, "every": None}

    def run(self, ctx: ChaosContext) -> Generator[Any, Any, None]:
        env = ctx.sim.env
        end = env.now + self.duration
        while True:
            victims = _targets(ctx, self.target, "chaos.crash")
            for w in victims:
                w.crash()
            env.process(self._restart_later(ctx, victims))
            every = self.p("every")
            if not every or env.now + every >= end:
                break
            yield env.timeout(every)
        yield env.timeout(max(0.0, end - env.now))

    def _restart_later(self, ctx: ChaosContext, victims: list[Any]
                       ) -> Generator[Any, Any, None]:
        yield ctx.sim.env.timeout(self.p("restart_after"))
        for w in victims:
            w.restart()


class RollingDeploy(Fault):
    """TERM every process in turn and start it again. ``grace`` is the platform's
    termination grace period (Kubernetes' terminationGracePeriodSeconds): a process still
    draining when it runs out is SIGKILLed, before Sidekiq's own ``timeout`` could requeue
    its jobs. A grace shorter than the timeout is a classic misconfiguration."""

    kind = "rolling_deploy"
    doc = "TERM and restart every process in turn (graceful shutdown with timeout)"
    PARAMS = {"timeout": "duration", "pause": "duration", "grace": "duration"}
    DEFAULTS = {"timeout": 25.0, "pause": 5.0, "grace": None}

    def run(self, ctx: ChaosContext) -> Generator[Any, Any, None]:
        env = ctx.sim.env
        grace = self.p("grace")
        for w in list(ctx.system.workers):
            stopping = w.shutdown(self.p("timeout"))
            if grace is None:
                yield stopping
            else:
                yield stopping | env.timeout(grace)
                if not stopping.triggered:
                    w.crash()
            yield env.timeout(self.p("pause"))
            w.restart()


class ClockSkew(Fault):
    kind = "clock_skew"
    doc = "one process's clock runs `skew` seconds ahead (negative: behind)"
    TARGET = "process"
    PARAMS = {"skew": "number"}
    DEFAULTS = {"skew": 60.0}

    def begin(self, ctx: ChaosContext) -> None:
        self._victims = _targets(ctx, self.target, "chaos.skew")
        for w in self._victims:
            w.skew = float(self.p("skew"))

    def end(self, ctx: ChaosContext) -> None:
        for w in self._victims:
            w.skew = 0.0


# ---- load -------------------------------------------------------------------------
class PoisonJobs(Fault):
    kind = "poison_jobs"
    doc = "enqueue jobs that kill the process that runs them (OOM, segfault)"
    PARAMS = {"count": "count", "job": "job"}
    DEFAULTS = {"count": 1, "job": "PoisonJob"}

    def begin(self, ctx: ChaosContext) -> None:
        _push_many(ctx, self.p("job"), self.p("count"), {}, None)


class LoadBurst(Fault):
    kind = "load_burst"
    doc = "a sudden burst of `count` jobs of class `job`"
    PARAMS = {"count": "count", "job": "job", "args": "mapping", "queue": "str"}
    DEFAULTS = {"count": 1000, "job": "SyntheticJob", "args": {}, "queue": None}

    def begin(self, ctx: ChaosContext) -> None:
        _push_many(ctx, self.p("job"), self.p("count"), self.p("args"), self.p("queue"))


def _push_many(ctx: ChaosContext, job: str, count: int, params: dict[str, Any],
               queue: str | None) -> None:
    cls = ctx.system.library.resolve(job)
    args = [cls.make_args(i, params) for i in range(count)]
    # A refused or timed-out push was recorded by the client; the producer just failed.
    with contextlib.suppress(PushError, PushTimeout):
        ctx.system.client.push_bulk(cls, args, queue=queue)


FAULTS: dict[str, type[Fault]] = {
    f.kind: f for f in (
        ServiceOutage, ServiceErrors, ServiceLatency, ReplicaLag, DuplicateEnqueue,
        DuplicateDelivery, RedisOutage, RedisFailover, WorkerCrash, RollingDeploy,
        ClockSkew, PoisonJobs, LoadBurst,
    )
}
ALIASES = {"service_latency": "latency", "outage": "service_outage"}


def build_fault(kind: str, start: float, duration: float, target: str | None,
                params: dict[str, Any], to_seconds: Callable[[Any, str], float],
                where: str = "fault") -> Fault:
    """A validated Fault; ``to_seconds(value, path)`` parses durations (scenario layer)."""
    name = ALIASES.get(kind, kind)
    cls = FAULTS.get(name)
    if cls is None:
        raise FaultParamError(f"{where}.type", f"unknown fault {kind!r}; known: "
                              + ", ".join(sorted(FAULTS)))
    if cls.NEEDS_TARGET and not target:
        raise FaultParamError(f"{where}.target", f"fault {name!r} needs a target")
    clean = dict(cls.DEFAULTS)
    for key, value in params.items():
        if key not in cls.PARAMS:
            valid = ", ".join(sorted(cls.PARAMS)) or "none"
            close = difflib.get_close_matches(str(key)[:100], sorted(cls.PARAMS), n=2)
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            raise FaultParamError(f"{where}.{key}",
                                  f"unknown parameter for {name!r}{hint}; valid: {valid}")
        clean[key] = _coerce(cls.PARAMS[key], value, f"{where}.{key}", to_seconds)
    return cls(start=start, duration=duration, target=target, params=clean)


def _coerce(kind: Any, value: Any, path: str, to_seconds: Callable[[Any, str], float]) -> Any:
    if isinstance(kind, tuple):
        if value not in kind:
            raise FaultParamError(path, f"expected one of {', '.join(kind)}, got {value!r}")
        return value
    if kind == "duration":
        return to_seconds(value, path)
    if kind in ("probability", "rate_below_one", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FaultParamError(path, f"expected a number, got {value!r}")
        if kind == "probability" and not 0.0 <= value <= 1.0:
            raise FaultParamError(path, f"expected a probability in [0, 1], got {value!r}")
        if kind == "rate_below_one" and not 0.0 <= value < 1.0:
            raise FaultParamError(path, f"expected a probability in [0, 1), got {value!r}: "
                                  "at 1 every delivery would be repeated forever")
        return float(value)
    if kind == "count":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise FaultParamError(path, f"expected a non-negative integer, got {value!r}")
        return value
    if kind == "mapping":
        if not isinstance(value, dict):
            raise FaultParamError(path, f"expected a mapping, got {value!r}")
        return value
    if not isinstance(value, str):
        raise FaultParamError(path, f"expected a string, got {value!r}")
    return value
