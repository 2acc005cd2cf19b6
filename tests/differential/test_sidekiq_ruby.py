"""jobsim against the real Sidekiq 6.4.1 (Debian's ruby-sidekiq), called from Ruby.

``JobRetry#delay_for`` is compared with jobsim's ``sidekiq_7`` policy (the rule of
Sidekiq 6.2.2 to 7.x) and with its handling of a job's own ``retry_in``;
``BasicFetch#queues_cmd`` with jobsim's weighted and strict queue selection. Bounds and
supports must match exactly; distributions are compared by a chi-square test of
homogeneity. Each comparison has a negative control: a rule jobsim does not use for this
version must be told apart by the same test.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from scipy.stats import chi2_contingency

from jobsim import backoff
from jobsim.system.fetch import QueueSelector

COUNTS = [0, 1, 2, 5, 10, 24]
SAMPLES = 3000
ALPHA = 1e-4          # a false alarm once in ten thousand runs


def jobsim_delays(chosen: Callable[[], backoff.Policy], count: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [chosen().delay(count, rng) for _ in range(SAMPLES)]


def homogeneous(a: list[Any], b: list[Any]) -> float:
    """p-value of a chi-square test that two samples come from one distribution."""
    support = sorted(set(a) | set(b))
    left, right = Counter(a), Counter(b)
    table = [[left[v] for v in support], [right[v] for v in support]]
    if len(support) == 1:
        return 1.0
    return float(chi2_contingency(table).pvalue)


def same_rule(ruby: list[float], ours: list[float]) -> bool:
    """Exact: same least, greatest and set of values; and a homogeneous distribution."""
    return (set(ruby) == set(ours) and min(ruby) == min(ours) and max(ruby) == max(ours)
            and homogeneous(ruby, ours) > ALPHA)


def ruby_delays(sidekiq: Any, retry_in: Any) -> dict[int, list[float]]:
    answer = sidekiq({"seed": 20240601, "delay": {"counts": COUNTS, "samples": SAMPLES,
                                                  "retry_in": retry_in}})
    assert answer["version"] == "6.4.1"
    return {int(k): [float(v) for v in draws] for k, draws in answer["delay"].items()}


def jobsim_custom(seconds: Any, base: str) -> Callable[[], backoff.Policy]:
    policy = backoff.parse(base)
    return lambda: backoff.custom(seconds, policy) or policy


def test_default_delay_is_sidekiq_7(sidekiq: Any) -> None:
    ruby = ruby_delays(sidekiq, None)
    ours = backoff.parse("sidekiq_7")
    for count in COUNTS:
        assert same_rule(ruby[count], jobsim_delays(lambda: ours, count, count)), count
        assert (min(ruby[count]), max(ruby[count])) == ours.bounds(count)


def test_negative_control_sidekiq_8_is_told_apart(sidekiq: Any) -> None:
    ruby = ruby_delays(sidekiq, None)
    eight = backoff.parse("sidekiq")
    assert not all(same_rule(ruby[c], jobsim_delays(lambda: eight, c, c)) for c in COUNTS)


@pytest.mark.parametrize("seconds", [30, 7])
def test_retry_in_seconds_get_the_random_term(sidekiq: Any, seconds: int) -> None:
    ruby = ruby_delays(sidekiq, seconds)
    ours = jobsim_custom(seconds, "sidekiq_7")
    for count in COUNTS:
        assert same_rule(ruby[count], jobsim_delays(ours, count, count)), count
        assert (min(ruby[count]), max(ruby[count])) == ours().bounds(count)


def test_negative_control_verbatim_retry_in_is_told_apart(sidekiq: Any) -> None:
    """jobsim's old rule (the seconds, no random term) is what Sidekiq <= 6.2.1 did."""
    ruby = ruby_delays(sidekiq, 30)
    verbatim = jobsim_custom(30, "sidekiq_6_2_1")
    assert not any(same_rule(ruby[c], jobsim_delays(verbatim, c, c)) for c in COUNTS)


@pytest.mark.parametrize("seconds", [0, -5])
def test_retry_in_at_or_below_zero_falls_back_to_the_default(sidekiq: Any, seconds: int) -> None:
    ruby = ruby_delays(sidekiq, seconds)
    ours = jobsim_custom(seconds, "sidekiq_7")
    assert ours().name == "sidekiq_7"
    for count in COUNTS:
        assert same_rule(ruby[count], jobsim_delays(ours, count, count)), count


def test_negative_control_a_negative_retry_in_used_as_is_is_told_apart(sidekiq: Any) -> None:
    ruby = ruby_delays(sidekiq, -5)
    taken = backoff.parse("retry_in:seconds=1,rule=sidekiq_7")   # no fallback
    assert not any(same_rule(ruby[c], jobsim_delays(lambda: taken, c, c)) for c in COUNTS)


class Sizes:
    """A broker stand-in that reports which queues hold jobs."""

    def __init__(self, nonempty: set[str]) -> None:
        self.nonempty = nonempty

    def queue_size(self, name: str) -> int:
        return int(name in self.nonempty)

    def queue_sizes(self, names: list[str]) -> list[int]:
        return [self.queue_size(name) for name in names]


WEIGHTED = [["critical", 6], ["default", 3], ["low", 1]]
FETCHES = 20000


def ruby_first_nonempty(sidekiq: Any, queues: list[list[Any]], strict: bool,
                        nonempty: set[str]) -> list[str]:
    orders = sidekiq({"seed": 7, "fetch": {"queues": queues, "strict": strict,
                                           "samples": FETCHES}})["fetch"]
    return [next(q for q in order if q in nonempty) for order in orders]


def jobsim_picks(queues: list[list[Any]], mode: str, nonempty: set[str]) -> list[str]:
    selector = QueueSelector([(n, w) for n, w in queues], mode, random.Random(7))
    sizes = Sizes(nonempty)
    return [selector.choose(sizes) for _ in range(FETCHES)]  # type: ignore[misc]


@pytest.mark.parametrize("nonempty", [
    {"critical", "default", "low"}, {"default", "low"}, {"critical", "low"}])
def test_weighted_fetch_matches_queues_cmd(sidekiq: Any, nonempty: set[str]) -> None:
    ruby = ruby_first_nonempty(sidekiq, WEIGHTED, False, nonempty)
    ours = jobsim_picks(WEIGHTED, "weighted", nonempty)
    assert set(ruby) == set(ours) == nonempty
    assert homogeneous(ruby, ours) > ALPHA


def test_negative_control_weights_ignored_is_told_apart(sidekiq: Any) -> None:
    nonempty = {"critical", "default", "low"}
    ruby = ruby_first_nonempty(sidekiq, WEIGHTED, False, nonempty)
    equal = jobsim_picks([[n, 1] for n, _ in WEIGHTED], "weighted", nonempty)
    assert homogeneous(ruby, equal) < ALPHA


@pytest.mark.parametrize("nonempty", [{"critical", "low"}, {"default", "low"}, {"low"}])
def test_strict_fetch_matches_queues_cmd_exactly(sidekiq: Any, nonempty: set[str]) -> None:
    queues = [[n, 1] for n, _ in WEIGHTED]
    ruby = ruby_first_nonempty(sidekiq, queues, True, nonempty)
    assert ruby == jobsim_picks(queues, "strict", nonempty)
    # negative control: the reversed order (a planted bug) is told apart
    reversed_order = list(reversed(queues))
    if len(nonempty) > 1:
        assert ruby != jobsim_picks(reversed_order, "strict", nonempty)
