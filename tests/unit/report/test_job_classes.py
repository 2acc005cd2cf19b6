"""Per-class metrics from hand-written histories, worked out by hand."""

from __future__ import annotations

from jobsim.history.history import History
from jobsim.report import job_classes
from jobsim.report.summary import fmt, sections

from .conftest import CONFIG, hand_history


def test_hand_history_by_class() -> None:
    stats = job_classes.stats(hand_history())
    job = stats["Job"]
    assert job["enqueued"] == 3
    assert job["executions"] == 4                     # a twice, c once plus its dup copy
    assert job["succeeded"] == 2
    # waits: a 1->12 = 11 and 35->41 = 6; c 3->13 = 10 (the dup copy is not a wait)
    assert job["latency_max_s"] == 11.0
    assert job["latency_p50_s"] == 10.0
    assert job["latency_mean_s"] == 9.0
    # run times: a 12->15 (failure) = 3, 41->42 = 1; c 13->16 = 3
    assert job["run_time_max_s"] == 3.0 and job["run_time_p50_s"] == 3.0
    assert job["retries"] == 1 and job["retries_by_error"] == {"Boom": 1}
    assert job["discarded"] == 1 and job["discarded_by_error"] == {"replaced": 1}
    assert job["dead"] == 0 and job["dead_by_error"] == {}


def test_classes_are_separate_and_deaths_name_the_last_error() -> None:
    history = History([
        (0.0, "config", None, CONFIG),
        (1.0, "enqueue", "p", "critical", "PaymentJob", True, True),
        (1.0, "enqueue", "e", "default", "EmailJob", True, True),
        (2.0, "start", "p", "critical", "p0", 1, 0),
        (4.0, "failure", "p", "ServiceTimeout", 1, 0),
        (4.0, "dead", "p", "exhausted"),
        (9.0, "horizon", None),
    ])
    stats = job_classes.stats(history)
    assert set(stats) == {"EmailJob", "PaymentJob"}
    assert stats["PaymentJob"]["dead_by_error"] == {"ServiceTimeout": 1}
    assert stats["PaymentJob"]["latency_p99_s"] == 1.0
    email = stats["EmailJob"]                          # never started: no data, not 0
    assert email["latency_p99_s"] is None and email["run_time_max_s"] is None
    assert fmt(email["latency_p99_s"]) == "—"


def test_summary_shows_no_data_as_a_dash() -> None:
    m = {"jobs": {"executions": 0, "retries": 0}, "retries": {"peak_per_minute": 0},
         "effects": {"total": 0, "duplicates": 0}, "checks": {}, "expectations": [],
         "queues": {"low": {"fetched": 0, "latency_p50_s": None, "latency_p95_s": None,
                            "latency_p99_s": None, "latency_max_s": None, "max_depth": 0}},
         "jobs_by_class": job_classes.stats(hand_history())}
    queues = next(rows for title, _, rows in sections(m) if title.startswith("Queues"))
    assert queues == [["low", "0", "—", "—", "—", "—", "0"]]
    classes = next(rows for title, _, rows in sections(m) if title.startswith("Job classes"))
    assert classes[0][:3] == ["Job", "3", "10.000"]


def test_events_before_a_jobs_birth_count_for_the_unknown_class() -> None:
    # A start the system never announced (a copy of a job whose enqueue is lost) runs
    # under "(unknown)"; once the jid is born, its events count for its own class.
    history = History([
        (0.0, "config", None, CONFIG),
        (1.0, "start", "x", "default", "p0", 1, 0),
        (2.0, "success", "x", 0),
        (3.0, "enqueue", "x", "default", "EmailJob", True, True),
        (4.0, "start", "x", "default", "p0", 1, 0),
        (6.0, "success", "x", 0),
        (9.0, "horizon", None),
    ])
    stats = job_classes.stats(history)
    assert stats[job_classes.UNKNOWN_CLASS]["executions"] == 1
    assert stats[job_classes.UNKNOWN_CLASS]["enqueued"] == 0
    assert stats["EmailJob"]["executions"] == 1
    assert stats["EmailJob"]["latency_max_s"] == 1.0
    assert stats["EmailJob"]["run_time_max_s"] == 2.0
