"""A run whose files are written starts the chart helper before it simulates."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobsim.bench.targets import mm4_document
from jobsim.scenario import runner
from jobsim.scenario.output import write_run
from jobsim.validate.runs import scenario


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_run_with_files_draws_its_charts_in_the_helper(tmp_path: Path) -> None:
    result = runner.run_scenario(scenario(mm4_document(100)), seed=1,
                                 history_path=tmp_path / "history.jsonl")
    assert result.charts is not None and result.charts.pid and result.charts.feeder
    paths = write_run(tmp_path, result.metrics, result.history, result.charts)
    assert Path(paths["report"]).read_text().count("data:image/png;base64,") >= 6


def test_a_run_without_files_starts_no_helper() -> None:
    assert runner.run_scenario(scenario(mm4_document(50)), seed=1).charts is None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_failed_run_leaves_no_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = []
    real = runner.ChartDrawer

    def watched(**options: object) -> object:
        charts = real(**options)
        started.append(charts.pid)
        return charts

    def broken(self: object, progress: object, after_slice: object = None) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "ChartDrawer", watched)
    monkeypatch.setattr(runner._Run, "simulate", broken)
    with pytest.raises(KeyboardInterrupt):
        runner.run_scenario(scenario(mm4_document(50)), seed=1,
                            history_path=tmp_path / "history.jsonl")
    assert started and started[0]
    with pytest.raises(ChildProcessError):
        os.waitpid(started[0], os.WNOHANG)
