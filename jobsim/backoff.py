"""Retry backoff policies as pure math: a delay sampler plus its exact bounds and mean.

Why bounds and means live next to the sampler: the job system draws delays with
``delay()``, and the retry-spread checker reads a recorded ``retry`` event back and asks
``parse(policy).bounds(count)`` whether the delay was possible. Both sides therefore share
one definition of every policy (docs/semantics.md, Retries), and ``spec()`` is the string that
travels between them inside the history.

``count`` is Sidekiq's 0-based retry count: 0 on the first failure. Every policy takes a
multiplicative jitter fraction ``jitter_fraction`` (spec key ``j``): the final delay is
multiplied by U(1-j, 1+j), as the seed worker's ``backoff_jitter: 0.15`` does.

Randomness comes only from the ``random.Random`` passed in, so a run stays a pure function
of its seed. Public entry points: ``policy(name, **params)`` and ``parse(spec)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import random
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

JITTER_MODES = ("none", "full", "equal", "decorrelated")
_DECORRELATED_PATHS = 4096  # Monte-Carlo paths behind decorrelated jitter's mean()


@dataclass(frozen=True, kw_only=True)
class Policy:
    """Base class: subclasses define the un-jittered ``_delay``, ``_bounds`` and ``_mean``."""

    name: ClassVar[str] = ""
    jitter_fraction: float = 0.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("float", float):
                object.__setattr__(self, f.name, _number(f.name, value))
        if not 0.0 <= self.jitter_fraction <= 1.0:
            raise ValueError(f"{self.name}: j must be in [0, 1], got {self.jitter_fraction}")
        self._validate()

    def _validate(self) -> None:
        """Subclasses raise ValueError for impossible parameters."""

    # ---- the public face --------------------------------------------------------------
    def delay(self, count: int, rng: random.Random, prev: float | None = None) -> float:
        """Seconds to wait before retry ``count`` (0-based); ``prev`` only matters for
        decorrelated jitter (the job's previous delay, None on its first retry)."""
        value = self._delay(count, rng, prev)
        j = self.jitter_fraction
        return value * rng.uniform(1.0 - j, 1.0 + j) if j else value

    def bounds(self, count: int) -> tuple[float, float]:
        """Exact (min, max) of ``delay(count, ...)``, multiplicative jitter included."""
        lo, hi = self._bounds(count)
        j = self.jitter_fraction
        return lo * (1.0 - j), hi * (1.0 + j)

    def mean(self, count: int) -> float:
        """Expected delay; U(1-j, 1+j) has mean 1 and is independent, so j drops out."""
        return self._mean(count)

    def spec(self) -> str:
        """Canonical ``name:k=v,...`` (sorted keys) that ``parse`` turns back into self."""
        items = sorted(_spec_items(self))
        return self.name + (":" + ",".join(f"{k}={v}" for k, v in items) if items else "")

    # ---- subclass hooks ---------------------------------------------------------------
    def _delay(self, count: int, rng: random.Random, prev: float | None) -> float:
        raise NotImplementedError

    def _bounds(self, count: int) -> tuple[float, float]:
        raise NotImplementedError

    def _mean(self, count: int) -> float:
        lo, hi = self._bounds(count)
        return (lo + hi) / 2.0


@dataclass(frozen=True, kw_only=True)
class Sidekiq(Policy):
    """Sidekiq 8.x, the default: ``count**4 + 15 + rand(10 * (count + 1))`` seconds.

    Sidekiq adds the same random term to a job's own ``sidekiq_retry_in`` seconds; that
    rule is ``custom_jitter`` here, shared with ``RetryIn`` (sidekiq 8.0.0,
    lib/sidekiq/job_retry.rb, ``process_retry``)."""

    name: ClassVar[str] = "sidekiq"
    versions: ClassVar[str] = "8.x"

    def custom_jitter(self, count: int, rng: random.Random) -> float:
        return float(rng.randint(0, 10 * (count + 1) - 1))

    def custom_width(self, count: int) -> float:
        return float(10 * (count + 1) - 1)

    def _delay(self, count: int, rng: random.Random, prev: float | None) -> float:
        return float(count**4 + 15) + self.custom_jitter(count, rng)

    def _bounds(self, count: int) -> tuple[float, float]:
        low = float(count**4 + 15)
        return low, low + self.custom_width(count)


@dataclass(frozen=True, kw_only=True)
class Sidekiq7(Sidekiq):
    """Sidekiq 6.2.2 to 7.x: ``count**4 + 15 + rand(10) * (count + 1)`` seconds, the same
    term added to ``sidekiq_retry_in`` seconds (sidekiq 6.4.1 and 7.3.9,
    lib/sidekiq/job_retry.rb, ``delay_for``)."""

    name: ClassVar[str] = "sidekiq_7"
    versions: ClassVar[str] = "6.2.2 to 7.x"

    def custom_jitter(self, count: int, rng: random.Random) -> float:
        return float(rng.randint(0, 9) * (count + 1))

    def custom_width(self, count: int) -> float:
        return float(9 * (count + 1))


@dataclass(frozen=True, kw_only=True)
class Sidekiq621(Sidekiq):
    """Sidekiq up to 6.2.1: ``count**4 + 15 + rand(30) * (count + 1)`` seconds, and a
    job's ``sidekiq_retry_in`` seconds used as they are, with no random term (sidekiq
    6.2.1, lib/sidekiq/job_retry.rb, ``delay_for`` and ``seconds_to_delay``)."""

    name: ClassVar[str] = "sidekiq_6_2_1"
    versions: ClassVar[str] = "up to 6.2.1"

    def custom_jitter(self, count: int, rng: random.Random) -> float:
        return 0.0

    def custom_width(self, count: int) -> float:
        return 0.0

    def _delay(self, count: int, rng: random.Random, prev: float | None) -> float:
        return float(count**4 + 15 + rng.randint(0, 29) * (count + 1))

    def _bounds(self, count: int) -> tuple[float, float]:
        low = float(count**4 + 15)
        return low, low + 29 * (count + 1)


@dataclass(frozen=True, kw_only=True)
class RetryIn(Policy):
    """A job's own ``retry_in`` seconds with the random term its Sidekiq version adds.

    ``rule`` names the Sidekiq policy whose rule applies (``sidekiq``, ``sidekiq_7``,
    ``sidekiq_6_2_1``). The job system builds one per custom decision (``custom``), so
    the recorded spec carries the seconds and the checkers can bound the delay."""

    name: ClassVar[str] = "retry_in"
    seconds: float
    rule: str = "sidekiq"

    def _validate(self) -> None:
        if self.seconds <= 0:
            raise ValueError(f"retry_in: seconds must be > 0, got {self.seconds}")
        if self.rule not in SIDEKIQ_RULES:
            raise ValueError(f"retry_in: rule={self.rule!r} is not one of "
                             f"{', '.join(SIDEKIQ_RULES)}")

    def _rule(self) -> Sidekiq:
        return _sidekiq_rule(self.rule)

    def _delay(self, count: int, rng: random.Random, prev: float | None) -> float:
        return self.seconds + self._rule().custom_jitter(count, rng)

    def _bounds(self, count: int) -> tuple[float, float]:
        return self.seconds, self.seconds + self._rule().custom_width(count)


@dataclass(frozen=True, kw_only=True)
class Seed(Policy):
    """The seed Ruby worker: ``retry_count**2 + rand(30)`` (rand(30) is 0..29)."""

    name: ClassVar[str] = "seed"

    def _delay(self, count: int, rng: random.Random, prev: float | None) -> float:
        return float(count**2 + rng.randint(0, 29))

    def _bounds(self, count: int) -> tuple[float, float]:
        return float(count**2), float(count**2 + 29)


@dataclass(frozen=True, kw_only=True)
class Exponential(Policy):
    """Capped exponential ``expo(n) = min(cap, base * 2**n)``, n = count + 1, with the AWS
    jitter modes: none, full U(0, e), equal e/2 + U(0, e/2), and decorrelated
    ``min(cap, U(base, 3*prev))`` starting at prev = base.

    Decorrelated jitter is stateful per job: pass the job's previous delay as ``prev``.
    Its bounds are therefore the loosest valid ones, reached when every earlier draw hit
    its maximum (with ``j`` compounding through ``prev``); its mean is a fixed-seed
    Monte-Carlo estimate over the stateful chain (the cap makes it non-linear).
    """

    name: ClassVar[str] = "exponential"
    base: float = 1.0
    cap: float = 3600.0
    jitter: str = "none"

    def _validate(self) -> None:
        if not 0 < self.base <= self.cap:
            raise ValueError(f"exponential: need 0 < base <= cap, got {self.base}, {self.cap}")
        if self.jitter not in JITTER_MODES:
            raise ValueError(
                f"exponential: jitter={self.jitter!r} is not one of {', '.join(JITTER_MODES)}"
            )

    def expo(self, count: int) -> float:
        n = count + 1
        return self.cap if n >= 1000 else min(self.cap, self.base * 2.0**n)

    def _delay(self, count: int, rng: random.Random, prev: float | None) -> float:
        e = self.expo(count)
        if self.jitter == "full":
            return rng.uniform(0.0, e)
        if self.jitter == "equal":
            return e / 2.0 + rng.uniform(0.0, e / 2.0)
        if self.jitter == "decorrelated":
            last = self.base if prev is None else prev
            # max(): a jittered prev below base/3 must not draw under base
            return min(self.cap, rng.uniform(self.base, max(self.base, 3.0 * last)))
        return e

    def _bounds(self, count: int) -> tuple[float, float]:
        e = self.expo(count)
        if self.jitter == "full":
            return 0.0, e
        if self.jitter == "equal":
            return e / 2.0, e
        if self.jitter == "decorrelated":
            prev_max = self.base
            for _ in range(min(count, 1000)):
                prev_max = min(self.cap, 3.0 * prev_max) * (1.0 + self.jitter_fraction)
            return self.base, min(self.cap, 3.0 * prev_max)
        return e, e

    def _mean(self, count: int) -> float:
        if self.jitter == "decorrelated":
            return _decorrelated_means(self, max(count + 1, 26))[count]
        e = self.expo(count)
        return {"none": e, "full": e / 2.0, "equal": 0.75 * e}[self.jitter]


@dataclass(frozen=True, kw_only=True)
class Fixed(Policy):
    """RQ's interval list. RQ picks ``intervals[max(len - retries_left, 0)]`` where
    ``retries_left = retries - count`` before the decrement. With ``retries`` given this
    is reproduced exactly (so with fewer intervals than retries the FIRST interval
    repeats, as in RQ); without it we assume ``retries == len(intervals)``, where RQ's
    rule reduces to ``intervals[min(count, len - 1)]`` (the last interval repeats)."""

    name: ClassVar[str] = "fixed"
    intervals: tuple[float, ...]
    retries: int | None = None

    def _validate(self) -> None:
        values = self.intervals
        if isinstance(values, int | float | str) or not values:
            raise ValueError("fixed: intervals must be a non-empty list, e.g. 10|30|60")
        object.__setattr__(self, "intervals", tuple(_number("intervals", v) for v in values))
        if min(self.intervals) < 0:
            raise ValueError(f"fixed: intervals must be >= 0, got {list(self.intervals)}")
        r = self.retries
        if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r < 1):
            raise ValueError(f"fixed: retries must be an int >= 1, got {self.retries!r}")

    def _interval(self, count: int) -> float:
        last = len(self.intervals) - 1
        if self.retries is None:
            return self.intervals[min(count, last)]
        return self.intervals[min(max(len(self.intervals) - (self.retries - count), 0), last)]

    def _delay(self, count: int, rng: random.Random, prev: float | None) -> float:
        return self._interval(count)

    def _bounds(self, count: int) -> tuple[float, float]:
        value = self._interval(count)
        return value, value


@dataclass(frozen=True, kw_only=True)
class Grpc(Policy):
    """gRPC connection backoff: ``b = min(initial * multiplier**count, max)``, delay
    ``b + U(-jitter*b, +jitter*b)`` (defaults 1 s, 1.6, 120 s, 0.2)."""

    name: ClassVar[str] = "grpc"
    initial: float = 1.0
    multiplier: float = 1.6
    max: float = 120.0
    jitter: float = 0.2

    def _validate(self) -> None:
        if self.initial <= 0 or self.multiplier < 1 or self.max <= 0:
            raise ValueError("grpc: need initial > 0, multiplier >= 1, max > 0")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"grpc: jitter must be in [0, 1], got {self.jitter}")

    def backoff(self, count: int) -> float:
        try:
            return min(self.initial * self.multiplier**count, self.max)
        except OverflowError:
            return self.max

    def _delay(self, count: int, rng: random.Random, prev: float | None) -> float:
        b = self.backoff(count)
        return b + rng.uniform(-self.jitter * b, self.jitter * b)

    def _bounds(self, count: int) -> tuple[float, float]:
        b = self.backoff(count)
        return b * (1.0 - self.jitter), b * (1.0 + self.jitter)


@dataclass(frozen=True, kw_only=True)
class Celery(Policy):
    """Celery's autoretry backoff (celery 5.6.2, celery/utils/time.py,
    ``get_exponential_backoff_interval``; options read in celery/app/autoretry.py):
    ``countdown = min(retry_backoff_max, factor * 2**count)``, then with ``retry_jitter``
    a whole number drawn uniformly from 0..countdown (``random.randrange(countdown + 1)``).

    ``count`` is ``task.request.retries``: 0 on the first retry, as Sidekiq's count.
    ``factor`` is ``int(max(1.0, retry_backoff))``, so ``retry_backoff=True`` means 1.
    Celery's defaults are those of a task with ``retry_backoff=True``: 600 s cap, jitter on.
    """

    name: ClassVar[str] = "celery"
    retry_backoff: float = 1.0
    retry_backoff_max: int = 600
    retry_jitter: bool = True

    def _validate(self) -> None:
        if self.retry_backoff <= 0:
            raise ValueError("celery: retry_backoff must be > 0 (a task without backoff "
                             "waits default_retry_delay: use fixed:intervals=180)")
        if not isinstance(self.retry_backoff_max, int) or self.retry_backoff_max < 0:
            raise ValueError(f"celery: retry_backoff_max must be an int >= 0, got "
                             f"{self.retry_backoff_max!r}")

    def countdown(self, count: int) -> int:
        factor = int(max(1.0, self.retry_backoff))
        if count >= 64:
            return self.retry_backoff_max
        return min(self.retry_backoff_max, factor * 2**count)

    def _delay(self, count: int, rng: random.Random, prev: float | None) -> float:
        countdown = self.countdown(count)
        if self.retry_jitter:
            countdown = rng.randrange(countdown + 1)
        return float(max(0, countdown))

    def _bounds(self, count: int) -> tuple[float, float]:
        countdown = float(self.countdown(count))
        return (0.0 if self.retry_jitter else countdown), countdown


@dataclass(frozen=True, kw_only=True)
class Rq(Policy):
    """RQ's ``Retry(max, interval)`` (rq 2.10.0, rq/job.py, ``Job.get_retry_interval``):
    retry ``count`` (0-based) waits ``interval[max(len(interval) - retries_left, 0)]`` with
    ``retries_left = max - count``. With fewer intervals than retries the FIRST interval
    repeats, at the start; a single number is used for every retry; 0 re-enqueues at once.
    """

    name: ClassVar[str] = "rq"
    max: int
    interval: tuple[float, ...] = (0.0,)

    def _validate(self) -> None:
        if isinstance(self.max, bool) or not isinstance(self.max, int) or self.max < 1:
            raise ValueError(f"rq: max must be an int >= 1, got {self.max!r}")
        values = self.interval
        if isinstance(values, int | float):
            values = (values,)
        if isinstance(values, str) or not values:
            raise ValueError("rq: interval must be a number or a non-empty list, e.g. 1|2|3")
        values = tuple(_number("interval", v) for v in values)
        if min(values) < 0:
            raise ValueError(f"rq: interval must be >= 0, got {list(values)}")
        object.__setattr__(self, "interval", values)

    def _interval(self, count: int) -> float:
        retries_left = self.max - count
        index = max(len(self.interval) - retries_left, 0)
        return self.interval[min(index, len(self.interval) - 1)]

    def _delay(self, count: int, rng: random.Random, prev: float | None) -> float:
        return self._interval(count)

    def _bounds(self, count: int) -> tuple[float, float]:
        value = self._interval(count)
        return value, value


POLICIES: dict[str, type[Policy]] = {
    cls.name: cls
    for cls in (Sidekiq, Sidekiq7, Sidekiq621, RetryIn, Seed, Exponential, Fixed, Grpc,
                Celery, Rq)
}
SIDEKIQ_RULES = ("sidekiq", "sidekiq_7", "sidekiq_6_2_1")
DEFAULT = "sidekiq"
"""The policy of a job that names none: Sidekiq 8.x's."""
_ALIASES = {"j": "jitter_fraction"}


def policy(name: str, **params: Any) -> Policy:
    """Build a policy by name; ``j`` and ``jitter_fraction`` are the same parameter."""
    cls = _policy_class(name)
    kwargs = {_ALIASES.get(k, k): v for k, v in params.items()}
    fields = {f.name for f in dataclasses.fields(cls)}
    for key in kwargs:
        if key not in fields:
            raise ValueError(
                f"{name}: unknown parameter {key!r}; valid: {', '.join(_keys(cls))}"
            )
    missing = [f.name for f in dataclasses.fields(cls) if _required(f) and f.name not in kwargs]
    if missing:
        raise ValueError(f"{name}: missing required parameter {', '.join(missing)}")
    return cls(**kwargs)


def parse(spec: str) -> Policy:
    """Inverse of ``Policy.spec()``: ``"name"`` or ``"name:k=v,k=v"`` (intervals as
    ``10|30|60``). Raises ValueError naming the bad part and the valid choices."""
    name, _, rest = spec.strip().partition(":")
    cls = _policy_class(name.strip())
    types = {f.name: f.type for f in dataclasses.fields(cls)}
    params: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, raw = (s.strip() for s in part.partition("="))
        field = _ALIASES.get(key, key)
        if field not in types:
            raise ValueError(f"{spec!r}: unknown key {key!r} for {cls.name}"
                             f"{_close(key, _keys(cls))}; valid: {', '.join(_keys(cls))}")
        if not eq or not raw:
            raise ValueError(f"{spec!r}: {key!r} needs a value ({key}=VALUE)")
        if field in params:
            raise ValueError(f"{spec!r}: key {key!r} given twice")
        params[field] = _convert(spec, key, raw, str(types[field]))
    return policy(cls.name, **params)


def custom(seconds: Any, policy: Policy) -> RetryIn | None:
    """What Sidekiq makes of a job's ``retry_in`` number, or None to use ``policy``.

    The number is truncated to whole seconds (Ruby's ``to_i``); zero, negative or
    non-numeric values fall back to the job's policy, as Sidekiq falls back to its default
    formula. Seconds get the random term of the job's Sidekiq version; a job on a
    non-Sidekiq policy gets the default version's (8.x). Sidekiq 7.0.x alone took only
    Integer values (a Float fell back); later and earlier versions truncate.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    if not math.isfinite(seconds) or int(seconds) <= 0:
        return None
    rule = policy.name if policy.name in SIDEKIQ_RULES else DEFAULT
    return RetryIn(seconds=float(int(seconds)), rule=rule)


def sidekiq_schedule_mean(retries: int = 25) -> float:
    """Expected seconds from first failure to the last of ``retries`` default retries."""
    sidekiq = Sidekiq()
    return sum(sidekiq.mean(count) for count in range(retries))


# ---- helpers --------------------------------------------------------------------------
def _policy_class(name: str) -> type[Policy]:
    if name == "custom":
        raise ValueError("'custom' means a retry_in hook chose the delay: it has no bounds")
    if name not in POLICIES:
        raise ValueError(f"unknown backoff policy {name!r}{_close(name, POLICIES)}; "
                         f"valid: {', '.join(POLICIES)} (a spec like 'exponential:base=1,"
                         "cap=600', not a duration)")
    return POLICIES[name]


@cache
def _sidekiq_rule(name: str) -> Sidekiq:
    found = POLICIES[name]()
    assert isinstance(found, Sidekiq)
    return found


def _close(name: str, choices: Any) -> str:
    """' (did you mean 'x'?)' for a near miss, so a typo in a spec is a one-glance fix."""
    close = difflib.get_close_matches(name[:100], sorted(choices), n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def _keys(cls: type[Policy]) -> list[str]:
    names = [f.name for f in dataclasses.fields(cls)]
    return sorted("j" if n == "jitter_fraction" else n for n in names)


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number, got {value!r}")
    return float(value)


def _convert(spec: str, key: str, raw: str, type_name: str) -> Any:
    try:
        if "tuple" in type_name:
            return tuple(float(v) for v in raw.split("|"))
        if type_name == "bool":
            return {"true": True, "1": True, "false": False, "0": False}[raw.lower()]
        if "int" in type_name:
            return int(raw)
        if type_name == "str":
            return raw
        return float(raw)
    except (ValueError, KeyError):
        raise ValueError(f"{spec!r}: bad value {raw!r} for {key!r} ({type_name})") from None


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "|".join(_fmt(v) for v in value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value) if isinstance(value, str | int) else repr(value)


def _spec_items(p: Policy) -> list[tuple[str, str]]:
    items = []
    for f in dataclasses.fields(p):
        value = getattr(p, f.name)
        if (f.name == "jitter_fraction" and value == 0) or value is None:
            continue
        items.append(("j" if f.name == "jitter_fraction" else f.name, _fmt(value)))
    return items


@cache
def _decorrelated_means(p: Exponential, n: int) -> tuple[float, ...]:
    """Means of the first n decorrelated delays from a fixed private seed (deterministic)."""
    rng = random.Random(20150304)  # not the run's streams: mean() is a pure function
    totals = [0.0] * n
    for _ in range(_DECORRELATED_PATHS):
        prev = None
        for count in range(n):
            prev = p.delay(count, rng, prev)
            totals[count] += prev
    return tuple(t / _DECORRELATED_PATHS for t in totals)
