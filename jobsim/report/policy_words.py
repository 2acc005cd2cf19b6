"""Each retry policy in plain words with its formula, for the retry report's readers.

Why a separate vocabulary: a spec such as ``seed:j=0.15`` or ``grpc`` is what a user
types, not what it means. ``explain`` turns a parsed policy into a name and the delay
before retry ``count`` (0 on the first retry, as Sidekiq counts), with the policy's own
parameter values filled in. The formulas are those ``jobsim.backoff`` implements; the
sources (library, version and file) are in that module's docstrings.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobsim import backoff


@dataclass(frozen=True)
class Explanation:
    spec: str
    name: str
    formula: str

    def line(self) -> str:
        return f"{self.name}: {self.formula}"


def _g(value: float) -> str:
    return f"{value:g}"


def _jitter_words(j: float) -> str:
    return (f", then multiplied by a random factor between {_g(1 - j)} and {_g(1 + j)} "
            f"(j={_g(j)}: ±{j:.0%})") if j else ""


def _exponential(p: backoff.Exponential) -> tuple[str, str]:
    e = f"e = min({_g(p.cap)}, {_g(p.base)}·2^(count+1))"
    return {
        "none": ("Capped exponential, no jitter",
                 f"{e} s exactly: jobs that failed together retry together"),
        "full": ("Capped exponential, full jitter (AWS)", f"random(0 … e) s, {e}"),
        "equal": ("Capped exponential, equal jitter (AWS)", f"e/2 + random(0 … e/2) s, {e}"),
        "decorrelated": ("Decorrelated jitter (AWS)",
                         f"min({_g(p.cap)}, random({_g(p.base)} … 3·previous delay)) s, "
                         f"the first previous delay being {_g(p.base)} s"),
    }[p.jitter]


def _formula(p: backoff.Policy) -> tuple[str, str]:
    if isinstance(p, backoff.Sidekiq7):
        return "Sidekiq 6.2.2 to 7", "count⁴ + 15 + random(0 … 9)·(count+1) s"
    if isinstance(p, backoff.Sidekiq621):
        return "Sidekiq up to 6.2.1", "count⁴ + 15 + random(0 … 29)·(count+1) s"
    if isinstance(p, backoff.Sidekiq):
        return "Sidekiq 8 (its default)", "count⁴ + 15 + random(0 … 10(count+1)-1) s"
    if isinstance(p, backoff.RetryIn):
        return ("A job's own retry_in", f"{_g(p.seconds)} s plus the random term of "
                f"{p.rule}")
    if isinstance(p, backoff.Seed):
        return "The seed application's worker", "count² + random(0 … 29) s"
    if isinstance(p, backoff.Exponential):
        return _exponential(p)
    if isinstance(p, backoff.Grpc):
        return ("gRPC connection backoff",
                f"b ± random(0 … {_g(p.jitter)}·b) s, b = min({_g(p.initial)}·"
                f"{_g(p.multiplier)}^count, {_g(p.max)})")
    if isinstance(p, backoff.Celery):
        cap = f"min({p.retry_backoff_max}, {int(max(1.0, p.retry_backoff))}·2^count)"
        return ("Celery autoretry backoff",
                f"a whole number in random(0 … {cap}) s" if p.retry_jitter else f"{cap} s")
    if isinstance(p, backoff.Rq):
        return ("RQ Retry", f"interval[max(n - retries left, 0)] s of "
                f"[{', '.join(_g(v) for v in p.interval)}], n intervals, max {p.max}")
    if isinstance(p, backoff.Fixed):
        return ("Fixed intervals (RQ style)", f"intervals[min(count, n-1)] s of "
                f"[{', '.join(_g(v) for v in p.intervals)}]: the last one repeats")
    return p.name, p.spec()


def explain(spec: str) -> Explanation:
    """The policy ``spec`` names, in words, with its formula for retry ``count``."""
    policy = backoff.parse(spec)
    name, formula = _formula(policy)
    return Explanation(spec, name, formula + _jitter_words(policy.jitter_fraction))
