"""Small runs draw their charts in-process; large ones in a forked child."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobsim.bench.targets import mm4_document
from jobsim.scenario import runner
from jobsim.scenario.output import write_run
from jobsim.validate.runs import scenario


@pytest.mark.parametrize("threshold", [10**9, 1])
def test_charts_fork_only_from_the_threshold(tmp_path: Path, threshold: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "CHARTS_OFFLOAD_EVENTS", threshold)
    result = runner.run_scenario(scenario(mm4_document(100)), seed=1,
                                 history_path=tmp_path / "history.jsonl")
    forked = result.charts is not None
    assert forked == (len(result.history) >= threshold)
    paths = write_run(tmp_path, result.metrics, result.history, result.charts)
    assert "data:image/png;base64," in Path(paths["report"]).read_text()
