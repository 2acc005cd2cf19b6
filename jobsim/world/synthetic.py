"""Generic test jobs: synthetic service times, a no-op and a poison pill.

They model no application, so they are not part of any plug-in: every run's job library
holds them (``BUILTIN_JOBS``) because the fidelity validation, the benchmarks and the
property tests drive the job system with them, and a user's scenario may use them as
background load. They live in the world layer because a synthetic job's service time is
a world distribution (``distributions.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from jobsim.system.job import Job, Work
from jobsim.world.distributions import DistributionError, Sampler, make_sampler


class SyntheticFailure(Exception):
    """SyntheticJob's random failure (probability ``p_fail``)."""


class PoisonSurvived(RuntimeError):
    """PoisonJob's crash did not interrupt it: the system's crash hook is missing."""


@functools.cache
def _vetted(dist: str, params: tuple[tuple[str, Any], ...]) -> None:
    try:
        make_sampler({"dist": dist, **dict(params)})
    except DistributionError as exc:
        where = "dist" if exc.key in ("dist", "") else exc.key
        raise ValueError(f"SyntheticJob args.{where}: {exc.reason}") from None


def _vet_distribution(dist: str, params: dict[str, Any]) -> None:
    """Reject a bad distribution when the workload is built; once per distinct spec."""
    _vetted(dist, tuple(sorted(params.items())))


_SAMPLERS: dict[tuple[Any, ...], Sampler] = {}
# The last (params, a copy of it, dist, sampler) looked up: a workload entry's arrivals
# share one params dict (``arrival_index = "none"``), so most executions find it by
# identity, without sorting and hashing the parameters. Holding params keeps its identity
# unambiguous; the copy catches a caller that changed the dict in place since.
_LAST: list[Any] = [None, None, None, None]


class SyntheticJob(Job):
    """Service time from a distribution, failing with probability ``p_fail``.

    Args (positional, JSON-native): ``dist`` and ``params``, a distribution in the one
    dialect of ``distributions.py`` (fixed ``value``; uniform ``min``/``max``;
    exponential ``mean``; normal or lognormal ``mean``/``sd``), and ``p_fail``. Service
    times draw from stream "synthetic", failures from "synthetic.fail", so ``p_fail``
    does not change the service times. For validating queueing models.
    """

    arrival_index = "none"      # one args list per workload entry, shared by its arrivals

    @classmethod
    def make_args(cls, index: int, params: dict[str, Any]) -> list[Any]:
        """``{dist, p_fail, <distribution parameters>}`` -> perform's arguments."""
        rest = {k: v for k, v in params.items() if k not in ("dist", "p_fail")}
        _vet_distribution(params.get("dist", "exponential"), rest or {"mean": 1.0})
        return [params.get("dist", "exponential"), params.get("p_fail", 0.0),
                rest or {"mean": 1.0}]

    def perform(self, dist: str = "exponential", p_fail: float = 0.0,
                params: Mapping[str, Any] | None = None) -> Work:
        params = params if params is not None else {"mean": 1.0}
        last = _LAST
        hit = last[0] is params and last[2] == dist and last[1] == params
        sampler = last[3] if hit else _sampler(dist, params)
        yield self.sim.env.timeout(sampler(self.sim.streams["synthetic"]))
        if p_fail and self.sim.streams["synthetic.fail"].random() < p_fail:
            raise SyntheticFailure(f"synthetic failure (p={p_fail})")


def _sampler(dist: str, params: Mapping[str, Any]) -> Sampler:
    key = (dist, *sorted(params.items()))
    sampler = _SAMPLERS.get(key)
    if sampler is None:
        sampler = _SAMPLERS[key] = make_sampler({"dist": dist, **params})
    _LAST[:] = (params, dict(params), dist, sampler)
    return sampler


class NoopJob(Job):
    """One zero-length step: the job system's own overhead, for benchmarks."""

    arrival_index = "none"

    @classmethod
    def make_args(cls, index: int, params: dict[str, Any]) -> list[Any]:
        return []

    def perform(self, *args: Any) -> Work:
        yield self.sleep(0)


class PoisonJob(Job):
    """Crashes the worker process running it, every time (a segfault or an OOM kill)."""

    arrival_index = "none"

    @classmethod
    def make_args(cls, index: int, params: dict[str, Any]) -> list[Any]:
        return []

    def perform(self, *args: Any) -> Work:
        yield self.crash_process()
        raise PoisonSurvived("the worker process survived crash_process()")


BUILTIN_JOBS: tuple[type[Job], ...] = (SyntheticJob, NoopJob, PoisonJob)
