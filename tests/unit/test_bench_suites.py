"""The bench suites run at smoke-test sizes and report every figure with a verdict."""

from __future__ import annotations

import json

import pytest

import jobsim.bench as bench
from jobsim.bench import render, run_suites


@pytest.fixture(scope="module")
def quick() -> tuple[dict, str]:
    return run_suites(["fakeredis", "properties"], quick=True)


def test_fast_suites_report_figures_and_verdicts(quick: tuple[dict, str]) -> None:
    results, text = quick
    assert set(results) >= {"machine", "quick", "fakeredis", "properties", "all_pass"}
    assert results["quick"] is True and results["machine"]["nproc"] >= 1
    redis = results["fakeredis"]
    assert redis["digests_equal"] is True and redis["pass"] == {"digests_equal": True}
    assert redis["ratio"] == pytest.approx(redis["fakeredis_wall_s"] / redis["memory_wall_s"])
    props = results["properties"]
    assert props["examples"] == 20 and props["property_held"] is True
    assert props["examples_per_s"] == pytest.approx(props["examples"] / props["wall_s"])
    assert results["all_pass"] == all(
        ok for name in ("fakeredis", "properties") for ok in results[name]["pass"].values())
    for label in ("== fakeredis", "== properties", "examples_per_s", ">= 20", "overall:"):
        assert label in text, label
    json.dumps(results)          # --json prints it as one object


def test_missing_suite_module_is_skipped_and_a_broken_one_reported(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(quick: bool) -> dict:
        raise ModuleNotFoundError("no", name="jobsim.bench.not_written_yet")

    def broken(quick: bool) -> dict:
        raise RuntimeError("child died")

    monkeypatch.setitem(bench.SUITES, "missing", (missing, str))
    monkeypatch.setitem(bench.SUITES, "broken", (broken, str))
    results, text = run_suites(["missing", "broken"], quick=True)
    assert "not_written_yet" in results["missing"]["skipped"]
    assert results["broken"]["pass"] == {"ran": False} and not results["all_pass"]
    assert "skipped" in text and "ERROR RuntimeError: child died" in text


def test_render_prints_the_rule_applied() -> None:
    text = render.figures("million", {"wall_s": 130.0, "peak_rss_mb": 900.5,
                                      "pass": {"wall_s": False, "peak_rss_mb": True}})
    assert "<= 120" in text and "<= 2048" in text
    assert "NO" in text and "yes" in text
