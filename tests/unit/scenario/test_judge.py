"""The judge reads the history while the run records it: its verdicts, metrics, tables,
digest and saved file must be what reading the finished history gives, and anything
wrong with the judge must fall back to exactly that."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from jobsim.report import job_sets
from jobsim.scenario import judge as judge_module
from jobsim.scenario import runner

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the judge needs os.fork")

# Scenarios whose histories hold every kind of event the streamed passes read: crashes
# and recoveries, retries and the dead set, dependencies, duplicates, RQ and Celery.
SCENARIOS = [("black_friday", None, 0.03), ("order_pipeline", None, 0.05),
             ("redis_failover", None, 0.05), ("rq_abandoned", None, 0.1),
             ("celery_visibility_timeout", None, 0.1), ("duplicate_emails", None, 0.05),
             ("deploy_storm", None, 0.05)]


def _run(name: str, variant: str | None, scale: float, judged: bool,
         monkeypatch: pytest.MonkeyPatch, path: Path) -> runner.Result:
    monkeypatch.setattr(judge_module, "JUDGE_EVENTS", 1 if judged else 10**12)
    forked: list[int] = []
    real = judge_module.Judge.fork

    def watched(*args: Any) -> Any:
        judge = real(*args)
        forked.append(0 if judge is None else judge.pid)
        return judge

    monkeypatch.setattr(judge_module.Judge, "fork", watched)
    result = runner.run_scenario(name, variant=variant, scale=scale, seed=5,
                                 history_path=path)
    assert bool(forked) == judged and all(forked)
    return result


def _same(a: runner.Result, b: runner.Result) -> None:
    assert {n: c.to_dict() for n, c in a.checks.items()} == \
        {n: c.to_dict() for n, c in b.checks.items()}
    ma, mb = dict(a.metrics), dict(b.metrics)
    ma.pop("wall_seconds")
    mb.pop("wall_seconds")
    assert ma == mb


@pytest.mark.parametrize(("name", "variant", "scale"), SCENARIOS)
def test_a_judged_run_gives_what_reading_the_finished_history_gives(
        name: str, variant: str | None, scale: float, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    judged = _run(name, variant, scale, True, monkeypatch, tmp_path / "j.jsonl.gz")
    plain = _run(name, variant, scale, False, monkeypatch, tmp_path / "p.jsonl.gz")
    _same(judged, plain)
    assert judged.tables == job_sets.build(plain.history)
    assert judged.charts is not None and plain.charts is not None
    drawn, faults = judged.charts.result()
    drawn_plain, faults_plain = plain.charts.result()
    assert [c.png for c in drawn] == [c.png for c in drawn_plain] and faults == faults_plain
    assert len(drawn) >= 6
    lines = gzip.decompress((tmp_path / "j.jsonl.gz").read_bytes())
    assert "sha256:" + hashlib.sha256(lines).hexdigest() == plain.history.digest() \
        == judged.metrics["history_digest"]


def test_a_run_without_files_reads_its_history_after_the_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Python callers keep the one-pass-at-a-time memory profile (Judging's doc)."""
    forked: list[object] = []
    monkeypatch.setattr(judge_module, "JUDGE_EVENTS", 1)
    monkeypatch.setattr(judge_module.Judge, "fork", lambda *a: forked.append(a))
    result = runner.run_scenario("black_friday", scale=0.02, seed=5)
    assert not forked and result.tables is None


def test_a_lost_frame_falls_back_to_reading_the_history(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The judge counts what it read; an answer short of the parent's events is not
    used. Negative control: that short answer, trusted, would be wrong."""
    real_send, real_answer = judge_module.Judge.send, judge_module.Judge.answer
    answers: list[Any] = []

    def lossy(self: judge_module.Judge, last: bool = False) -> None:
        if not last and not answers and self.history is not None \
                and len(self.history.events) > self.sent:
            answers.append(None)                       # one slice never reaches the judge
            self.sent = len(self.history.events)
        real_send(self, last)

    def recorded(self: judge_module.Judge) -> Any:
        answers.append(real_answer(self))
        return answers[-1]

    monkeypatch.setattr(judge_module.Judge, "send", lossy)
    monkeypatch.setattr(judge_module.Judge, "answer", recorded)
    judged = _run("black_friday", None, 0.03, True, monkeypatch,
        tmp_path / "j.jsonl.gz")
    monkeypatch.setattr(judge_module.Judge, "send", real_send)
    plain = _run("black_friday", None, 0.03, False, monkeypatch,
        tmp_path / "p.jsonl.gz")
    _same(judged, plain)                               # the fallback read it here
    short = answers[-1]
    assert short is not None and short.events < len(plain.history)
    assert short.passes.tally["jobs"]["enqueued"] < plain.metrics["jobs"]["enqueued"]
    assert short.checks["no_loss"].to_dict() != plain.checks["no_loss"].to_dict()


def test_a_judge_that_dies_falls_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_send = judge_module.Judge.send

    def killing(self: judge_module.Judge, last: bool = False) -> None:
        if last and self.pid:
            os.kill(self.pid, signal.SIGKILL)
        real_send(self, last)

    monkeypatch.setattr(judge_module.Judge, "send", killing)
    judged = _run("order_pipeline", None, 0.05, True, monkeypatch,
        tmp_path / "j.jsonl.gz")
    monkeypatch.setattr(judge_module.Judge, "send", real_send)
    plain = _run("order_pipeline", None, 0.05, False, monkeypatch,
        tmp_path / "p.jsonl.gz")
    _same(judged, plain)
    assert judged.tables is None                       # made by the report, as before


def test_a_checker_that_raises_in_the_judge_is_unknown_as_in_process(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from jobsim.checks import no_loss

    def broken(self: Any, i: int, ev: tuple[Any, ...]) -> None:
        raise ValueError("replay broke")

    monkeypatch.setattr(no_loss._Replay, "_start", broken)
    judged = _run("order_pipeline", None, 0.05, True, monkeypatch,
        tmp_path / "j.jsonl.gz")
    plain = _run("order_pipeline", None, 0.05, False, monkeypatch,
        tmp_path / "p.jsonl.gz")
    assert judged.checks["no_loss"].error == plain.checks["no_loss"].error \
        == "ValueError: replay broke"
    assert judged.checks["no_loss"].verdict == "UNKNOWN"
    _same(judged, plain)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_the_judge_holds_no_other_descriptor(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    """A pipe end the chart helper waits on must not stay open in the judge."""
    seen: list[set[int]] = []
    real_send = judge_module.Judge.send

    def look(self: judge_module.Judge, last: bool = False) -> None:
        if self.pid and not seen:
            with contextlib.suppress(FileNotFoundError):
                seen.append({int(fd) for fd in os.listdir(f"/proc/{self.pid}/fd")})
        real_send(self, last)

    monkeypatch.setattr(judge_module.Judge, "send", look)
    _run("black_friday", None, 0.02, True, monkeypatch, tmp_path / "h.jsonl.gz")
    assert seen
    assert len(seen[0] - {0, 1, 2}) <= 3     # its two pipe ends and the history file
