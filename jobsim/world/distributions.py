"""The one vocabulary for random durations: service latencies, job arguments, steps, faults.

The scenario file's spelling is the only one::

    {dist: fixed, value}          {dist: uniform, min, max}     {dist: exponential, mean}
    {dist: normal, mean, sd}      {dist: lognormal, mean, sd}

A lognormal is given by its own mean and standard deviation (what a latency dashboard
shows), not by the log-space mu and sigma: sigma = sqrt(ln(1 + (sd/mean)^2)) and
mu = ln(mean) - sigma^2/2. A normal is truncated at zero (durations are never negative).
Older spellings (``constant``, ``low``/``high``, ``sigma``, ``mu``) are refused with the
word to use instead. Everything that reads a distribution imports this module.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from typing import Any

Sampler = Callable[[random.Random], float]

# distribution -> its parameters, in the order a message lists them
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "fixed": ("value",),
    "uniform": ("min", "max"),
    "exponential": ("mean",),
    "normal": ("mean", "sd"),
    "lognormal": ("mean", "sd"),
}
# spellings of other dialects -> the word this one uses
OLD_SPELLINGS: dict[str, str] = {
    "constant": "fixed", "low": "min", "high": "max", "sigma": "sd", "mu": "mean",
    "stddev": "sd", "std": "sd", "lambda": "mean", "rate": "mean",
}


class DistributionError(ValueError):
    """A distribution spec that is not in the dialect; ``key`` is the offending key
    ("dist" or a parameter), or "" for the whole spec."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}" if key else reason)
        self.key = key
        self.reason = reason


def did_you_mean(word: str) -> str:
    use = OLD_SPELLINGS.get(word)
    return f" (did you mean {use!r}?)" if use else ""


def check(spec: Mapping[str, Any]) -> tuple[str, dict[str, float]]:
    """(dist, params in seconds) for a spec of numbers; DistributionError naming the key."""
    dist = spec.get("dist")
    if dist not in DISTRIBUTIONS:
        known = ", ".join(DISTRIBUTIONS)
        raise DistributionError("dist", f"unknown distribution {dist!r}"
                                f"{did_you_mean(str(dist))}; expected one of {known}")
    names = DISTRIBUTIONS[dist]
    for key in spec:
        if key != "dist" and key not in names:
            raise DistributionError(key, f"{dist} takes {', '.join(names)}, not {key!r}"
                                    f"{did_you_mean(key)}")
    params: dict[str, float] = {}
    for name in names:
        if name not in spec:
            raise DistributionError("", f"{dist} needs {', '.join(names)}; {name!r} is missing")
        value = spec[name]
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0 \
                or not math.isfinite(value):
            raise DistributionError(name, f"must be a number >= 0, got {value!r}")
        params[name] = float(value)
    if dist == "uniform" and params["min"] > params["max"]:
        raise DistributionError("max", f"must not be less than min ({params['min']:g})")
    if dist in ("exponential", "lognormal") and params["mean"] == 0:
        raise DistributionError("mean", "must be positive")
    return dist, params


def lognormal_sigma(mean: float, sd: float) -> float:
    """The log-space sigma of a lognormal with this mean and standard deviation."""
    return math.sqrt(math.log(1.0 + (sd / mean) ** 2)) if mean else 0.0


def make_sampler(spec: Mapping[str, Any] | float | int) -> Sampler:
    """A function ``rng -> seconds`` for a spec (a bare number is a fixed duration).
    Raises DistributionError naming the bad key."""
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        value = float(spec)
        return lambda _rng: value
    dist, p = check(spec)
    if dist == "fixed":
        value = p["value"]
        return lambda _rng: value
    if dist == "exponential":
        lambd, log = 1.0 / p["mean"], math.log
        # rng.expovariate(lambd), inlined: the same draw and arithmetic, one call less
        return lambda rng: -log(1.0 - rng.random()) / lambd
    if dist == "uniform":
        low, high = p["min"], p["max"]
        return lambda rng: rng.uniform(low, high)
    if dist == "normal":
        mean, sd = p["mean"], p["sd"]
        return lambda rng: max(0.0, rng.gauss(mean, sd))
    sigma = lognormal_sigma(p["mean"], p["sd"])
    mu = math.log(p["mean"]) - sigma * sigma / 2
    return lambda rng: rng.lognormvariate(mu, sigma)
