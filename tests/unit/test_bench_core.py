"""The core benchmark runs end to end and reports sane, consistent figures."""

from __future__ import annotations

import pytest

from jobsim.bench import core


@pytest.fixture(scope="module")
def result() -> dict:
    return core.run(jobs=300, processes=2, concurrency=3, redis_jobs=40, timeouts=20_000,
                    memory_jobs=200, redis_memory_jobs=20)


def test_keys_and_positive_figures(result: dict) -> None:
    for key in ("jobs_per_s", "simpy_timeouts_per_s", "cost_in_timeouts",
                "peak_bytes_per_job", "events_per_job", "wall_s"):
        assert result[key] > 0, key
    assert result["jobs"] == 300 and result["memory_pass_jobs"] == 200
    redis = result["fakeredis"]
    assert redis["jobs"] == 40 and redis["memory_pass_jobs"] == 20
    for key in ("jobs_per_s", "cost_in_timeouts", "peak_bytes_per_job"):
        assert redis[key] > 0, key
    assert result["targets"] == {"cost_in_timeouts_max": 15, "peak_bytes_per_job_max": 1024}
    assert set(result["pass"]) == {"cost_in_timeouts", "peak_bytes_per_job", "all"}


def test_figures_are_consistent(result: dict) -> None:
    assert result["cost_in_timeouts"] == pytest.approx(
        result["simpy_timeouts_per_s"] / result["jobs_per_s"])
    assert result["jobs_per_s"] == pytest.approx(result["jobs"] / result["wall_s"])
    # enqueue, start and success per job, plus the config event: the sim stopped at the
    # last success instead of idling on
    assert result["events_per_job"] == pytest.approx(3 + 1 / 300)
    assert result["pass"]["all"] == (result["pass"]["cost_in_timeouts"]
                                     and result["pass"]["peak_bytes_per_job"])


def test_render_names_every_figure(result: dict) -> None:
    text = core.render(result)
    for label in ("timeouts/s", "jobs/s", "cost in simpy timeouts/job", "peak bytes/job",
                  "history events/job", "fakeredis", "200 jobs on memory", "overall"):
        assert label in text, label
    assert f"{result['jobs_per_s']:,.0f}" in text
