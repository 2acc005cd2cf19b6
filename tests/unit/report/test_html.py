"""Self-contained HTML reports: the run report, the variant comparison, retries, contention."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from jobsim.history.history import History
from jobsim.report import compare, contention, retries
from jobsim.report.html import write_run_report
from jobsim.report.metrics import compute

from .selfcontained import assert_self_contained


def _metrics(history: History, variant: str | None = None) -> dict:
    meta = {"scenario": "hand", "variant": variant, "seed": 7, "broker": "memory",
            "sim_seconds": 100.0, "wall_seconds": 0.1}
    m = compute(history, {}, meta)
    m["checks"] = {
        "no_loss": {"ok": True, "violations": 0, "examples": [], "stats": {"lost": 0}},
        "idempotency": {"ok": False, "violations": 1, "stats": {},
                        "examples": [{"key": "charge:c", "count": 2, "jids": ["c"]}]},
    }
    return m


def test_run_report_has_every_figure_and_check(tmp_path: Path, history: History) -> None:
    path = write_run_report(tmp_path, _metrics(history), history)
    assert path == tmp_path / "report.html"
    assert assert_self_contained(path) == 6
    text = path.read_text()
    for fig in ("class-latency", "queue-depth", "latency", "states", "retries", "effects"):
        assert f'id="fig-{fig}"' in text
    assert "charge:c" in text and "FAIL" in text          # the failing check and its example
    assert "latency payments: 50 s to 70 s" in text       # the fault window is named
    assert "<h2 id=\"retries\">Retries</h2>" in text and "<code>Boom</code>: 1" in text
    assert "none: no job was moved to the dead set." in text
    assert "queues (name, weight)</td><td>critical 2, default 1" in text


def test_a_service_with_traffic_gets_its_chart_with_the_fault_band(tmp_path: Path,
                                                                   history: History) -> None:
    """The world's running-total gauges become a per-service figure."""
    events = list(history.events[:-1])
    for t, calls, total in ((10.0, 5, 1.0), (50.0, 9, 1.8), (60.0, 14, 11.8), (70.0, 18, 19.8)):
        events += [(t, "sample", None, f"traffic.payments.{k}", v) for k, v in
                   (("calls", calls), ("ended", calls), ("errors", 0), ("timeouts", 0),
                    ("latency_total_s", total))]
    events.sort(key=lambda e: e[0])
    with_traffic = History([*events, history.events[-1]])
    path = write_run_report(tmp_path, _metrics(with_traffic), with_traffic)
    assert 'id="fig-service-payments"' in path.read_text()
    assert assert_self_contained(path) == 7


def test_comparison_highlights_the_metric_that_moved_most(tmp_path: Path,
                                                          history: History) -> None:
    base = _metrics(history)
    variant = copy.deepcopy(base)
    variant["variant"] = "no_unique"
    variant["effects"]["duplicates"] = 40                  # base has 1: x41
    variant["jobs"]["succeeded"] = 3                       # base 2: +50 %
    table = compare.build([base, variant])
    assert table["winner"]["metric"] == "effects.duplicates"
    assert table["winner"]["rel"] == 39.0
    path = compare.write_comparison(tmp_path, [base, variant])
    assert assert_self_contained(path) == 1
    text = path.read_text()
    assert 'class="highlight"' in text and "no_unique/report.html" in text


def test_relative_difference_is_signed_and_handles_zero() -> None:
    assert compare.relative(10, 5) == -0.5
    assert compare.relative(0, 3) == float("inf")
    assert compare.relative(0, 0) == 0.0
    assert compare.relative(None, 3) is None


def test_retries_report_files(tmp_path: Path) -> None:
    specs = ["sidekiq", "exponential:jitter=full,base=1,cap=600"]
    doc = retries.write_report(tmp_path, specs, jobs=50, recover_s=120)
    assert [p["policy"] for p in doc["policies"]] == specs
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(pngs) == 2 + len(specs)                     # load, cumulative, one per policy
    assert assert_self_contained(tmp_path / "report.html") == len(pngs)
    assert "| sidekiq |" in (tmp_path / "summary.md").read_text()


def test_contention_report_files(tmp_path: Path) -> None:
    doc = contention.write_report(tmp_path, [2, 4], reps=1)
    assert (tmp_path / "metrics.json").exists() and (tmp_path / "summary.md").exists()
    assert assert_self_contained(tmp_path / "report.html") == 2
    assert ("REPRODUCED" if doc["reproduced"] else "NOT REPRODUCED") in \
        (tmp_path / "report.html").read_text()


def test_the_checker_catches_an_external_reference(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text('<html><body><img src="https://example.com/x.png"></body></html>')
    try:
        assert_self_contained(page)
    except AssertionError:
        return
    raise AssertionError("an external image went unnoticed")


def test_comparison_leads_with_the_story_and_draws_only_what_differs(
        tmp_path: Path, history: History) -> None:
    story = {"question": "How long do jobs wait?", "metric": "queues.default.latency_p99_s",
             "label": "default p99 wait"}
    base = _metrics(history)
    base["story"] = {**story, "value": 0.5}
    base["description"] = "A hand-made story."
    variant = copy.deepcopy(base)
    variant["variant"] = "slow"
    variant["story"]["value"] = 431.0
    variant["queues"]["default"]["latency_p99_s"] = 431.0
    variant["queues"]["critical"]["latency_p99_s"] = None          # started nothing
    table = compare.build([base, variant])
    assert [row["metric"] for row in table["differing"]] == ["queues.default.latency_p99_s"]
    assert table["winner"]["metric"] == "queues.default.latency_p99_s"  # not the empty queue
    path = compare.write_comparison(tmp_path, [base, variant])
    text = path.read_text()
    assert assert_self_contained(path) == 2
    assert text.index('id="fig-story"') < text.index('id="fig-compare"')
    assert "default p99 wait: 0.5 s (base) -&gt; 431 s (slow)" in text
    assert "A hand-made story." in text


def test_comparison_draws_no_story_chart_when_every_run_has_the_same_value(
        tmp_path: Path, history: History) -> None:
    story = {"question": "Lost?", "metric": "jobs.lost", "label": "jobs lost"}
    base = _metrics(history)
    base["story"] = {**story, "value": 0}
    variant = copy.deepcopy(base)
    variant["variant"] = "timeout_above_countdown"
    variant["queues"]["default"]["latency_p99_s"] = 431.0      # something else differs
    assert compare.story_chart([base, variant]) is None
    text = compare.write_comparison(tmp_path, [base, variant]).read_text()
    assert 'id="fig-story"' not in text and 'id="fig-compare"' in text
    assert "jobs lost: 0 in every run (base, timeout_above_countdown)" in text
    variant["story"]["value"] = 3                               # control: now it differs
    assert compare.story_chart([base, variant]) is not None


def test_the_compare_caption_counts_in_words_that_agree(history: History) -> None:
    base = _metrics(history)
    variant = copy.deepcopy(base)
    variant["variant"] = "v"

    def row(i: int) -> dict[str, Any]:
        return {"metric": f"m{i}", "base": 1, "cells": [{"value": 2 + i, "rel": 1.0 + i}]}

    captions = {n: compare.chart([base, variant], [row(i) for i in range(n)], limit=6).caption
                for n in (1, 7, 8)}
    assert captions[1].startswith("The one compared metric that differs between the runs")
    assert "others" not in captions[1] and "other one" not in captions[1]
    assert captions[7].startswith("The 6 compared metrics that differ most")
    assert captions[7].endswith("The other one is in the table.")
    assert captions[8].endswith("The 2 others are in the table.")


def test_set_up_leaves_out_sidekiq_settings_another_flavour_does_not_run_by() -> None:
    """A Celery run's config still records Sidekiq's default fetch and dead set limit;
    its page said 'fetch: basic' (a crash loses jobs) of a late-ack Celery worker."""
    from jobsim.report.html import settings

    def rows(flavor: dict | None) -> dict[str, str]:
        config = {"processes": 2, "fetch": "basic", "dead_max_jobs": 10000,
                  **({"flavor": flavor} if flavor else {})}
        return dict(settings(History([(0.0, "config", None, config)])))

    assert {"fetch", "dead set size limit"} <= set(rows(None))                # Sidekiq
    assert {"fetch", "dead set size limit"} <= set(rows({"name": "sidekiq"}))
    for name in ("celery", "rq"):
        shown = rows({"name": name, "task_acks_late": True})
        assert "fetch" not in shown and "dead set size limit" not in shown
        assert shown["worker processes"] == "2" and "job system" in shown


def test_with_capsules_the_thread_row_says_it_is_the_default_capsules() -> None:
    """'threads per process: 5' read as the whole process while a capsule ran a sixth."""
    from jobsim.report.html import settings

    capsule = {"name": "exports", "concurrency": 1, "queues": [["exports", 1]],
               "mode": "strict"}
    with_capsule = dict(settings(History([(0.0, "config", None,
                                           {"concurrency": 5, "capsules": [capsule]})])))
    assert with_capsule["threads per process, default capsule"] == "5"
    assert with_capsule["capsules (Sidekiq 7)"] == "exports: 1 thread on exports 1 (strict)"
    plain = dict(settings(History([(0.0, "config", None, {"concurrency": 5})])))
    assert plain == {"threads per process": "5"}
