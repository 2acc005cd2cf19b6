"""The Job base class: Sidekiq-style options on the class, a generator ``perform``.

An application job reads like a Sidekiq worker::

    class ChargeJob(Job):
        queue = "critical"
        retry = 5
        backoff = "exponential:base=2,cap=600,jitter=full"

        def perform(self, order_id):
            yield from self.world.service("payment").call(self, "capture", key=f"c:{order_id}")

``perform`` yields simpy events (simulated work). It runs inline in its processor's
generator (``yield from``), so a job costs no extra simpy process. Raising is failing:
the retry machinery (``retry.py``) decides what happens next. Defining a class
registers nothing: a run executes the classes its job library holds (``library.py``).
``services``, ``tables`` and ``pools`` name the parts of the world a job uses, so a
scenario that lacks one is refused when it loads rather than failing every execution.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import simpy

    from jobsim.sim.simulation import Simulation
    from jobsim.system.client import Client

Work = Generator[Any, Any, Any]
RetryDecision = float | int | str | None



class UnknownJob(LookupError):
    """A payload or scenario names a job class the run's library does not hold."""


class Job:
    """Base class for simulated jobs. Class attributes are the Sidekiq options."""

    queue: ClassVar[str] = "default"
    retry: ClassVar[bool | int] = True      # True = 25 retries; False = no retry, no dead set
    backoff: ClassVar[str] = "sidekiq"      # a jobsim.backoff spec
    jitter: ClassVar[float] = 0.0           # multiplicative fraction, as backoff_jitter: 0.15
    dead: ClassVar[bool] = True             # False: exhausted jobs skip the dead set
    unique: ClassVar[dict[str, Any] | None] = None   # uniqueness options (system/unique.py)
    abstract: ClassVar[bool] = True         # subclasses are concrete unless they say so
    # make_args's index: a running number per class ("class": ids never collide across
    # workload entries), the arrival's index within its entry ("entry": ``{n}``), or
    # none at all ("none": make_args ignores it, so a workload entry builds and checks
    # its args once and every arrival shares that one list; perform must not mutate it).
    arrival_index: ClassVar[str] = "class"
    # Events that must happen before this job starts, as checker patterns over its own
    # arguments ({0} is the first): ("effect payment:{0}",). Judged by ``dependencies``.
    after: ClassVar[tuple[str, ...]] = ()
    services: ClassVar[tuple[str, ...]] = ()   # world services perform calls
    tables: ClassVar[tuple[str, ...]] = ()     # database tables perform reads or writes
    pools: ClassVar[tuple[str, ...]] = ()      # connection pools perform checks out

    # Set by the processor before perform runs.
    jid: str
    args: list[Any]
    attempt: int
    worker: str
    sim: Simulation
    world: Any
    client: Client
    payload: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "abstract" not in cls.__dict__:
            cls.abstract = False

    @classmethod
    def ordering_rules(cls) -> list[dict[str, str]]:
        """``after`` as happens-before rules: each pattern before this job's start."""
        rules = []
        for before in cls.after:
            used = [int(n) for n in re.findall(r"\{(\d+)\}", before)]
            args = f"({', '.join(f'{{{i}}}' for i in range(max(used) + 1))})" if used else ""
            rules.append({"before": before, "after": f"start {cls.__name__}{args}"})
        return rules

    def perform(self, *args: Any) -> Work:
        """The job's work: yield simulated time (``self.sleep``) and world calls."""
        raise NotImplementedError(f"{type(self).__name__}.perform is not defined")

    def retry_in(self, count: int, exc: BaseException) -> RetryDecision:
        """Sidekiq's ``sidekiq_retry_in``: seconds, ``"kill"``, ``"discard"``, or None for
        the backoff policy. ``count`` is 0 on the first failure."""
        return None

    @classmethod
    def make_args(cls, index: int, params: dict[str, Any]) -> list[Any]:
        """Arguments for the index-th job of a workload entry (or a fan-out recipient).
        Override to map a scenario's ``args`` mapping onto perform's signature; the
        default passes the index alone and accepts no ``args``."""
        if params:
            raise ValueError(f"{cls.__name__} takes no workload args, got {sorted(params)}")
        return [index]

    # ---- helpers for perform ------------------------------------------------------
    def sleep(self, seconds: float) -> simpy.Timeout:
        """Simulated work or waiting that takes ``seconds``."""
        return self.sim.env.timeout(seconds)

    def crash_process(self) -> simpy.Event:
        """Kill the worker process running this job, as an OOM or a segfault would
        (under Celery and RQ: the pool child or work-horse running it; the flavour says).

        ``yield`` the returned event: the kill arrives from outside, like a signal, because
        a simpy process cannot interrupt itself. The event never fires; the crash's
        interrupt is delivered at that yield."""
        system = self.client.system
        worker = system.process(self.worker)

        def signal() -> Work:
            system.flavor.lose_child(worker, self)
            yield from ()

        self.sim.env.process(signal())
        return self.sim.env.event()
