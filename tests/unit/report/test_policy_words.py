"""Every retry policy is explained in words with its formula; no internal names leak."""

from __future__ import annotations

import re

import pytest

from jobsim import backoff
from jobsim.report.policy_words import explain
from jobsim.report.retries import DEFAULT_POLICIES, headline


def test_sidekiq_8_formula_reads_like_its_source() -> None:
    words = explain("sidekiq")
    assert words.line() == "Sidekiq 8 (its default): count⁴ + 15 + random(0 … 10(count+1)-1) s"


@pytest.mark.parametrize("spec", [*DEFAULT_POLICIES, "celery", "rq:max=3,interval=10|30",
                                  "sidekiq_6_2_1", "fixed:intervals=10|30"])
def test_every_policy_has_words_and_a_formula(spec: str) -> None:
    words = explain(spec)
    assert words.name
    assert re.search(r"\d.* s\b", words.formula)      # a formula in seconds
    assert spec not in words.formula                   # words, not the spec again
    assert "Policy." not in words.formula and "_" not in words.name


def test_jitter_fraction_is_spelled_out() -> None:
    assert "between 0.85 and 1.15 (j=0.15: ±15%)" in explain("seed:j=0.15").formula


def test_every_registered_kind_is_named() -> None:
    generic = {cls.name for cls in backoff.POLICIES.values()} - {"retry_in"}
    named = {backoff.parse(s).name for s in [*DEFAULT_POLICIES, "celery", "rq:max=1",
                                             "sidekiq_6_2_1", "fixed:intervals=1"]}
    assert generic <= named


def test_headline_names_the_gentlest_and_harshest() -> None:
    rows = [{"policy": "a", "peak_after_recovery_per_s": 300},
            {"policy": "b", "peak_after_recovery_per_s": 4}]
    assert headline(rows) == ("gentlest: b (4 retries/s at most after recovery); "
                              "harshest: a (300 retries/s)")
