"""Every pass the judge feeds in pieces gives, for any cut of the history into
consecutive pieces, what it gives fed the history whole."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jobsim.checks import lifecycle, no_loss, priority, registry
from jobsim.checks.priority import QueueLatency
from jobsim.history.history import History, LineWriter
from jobsim.report import timeseries
from jobsim.report.job_classes import ClassStats
from jobsim.report.job_sets import Tables
from jobsim.report.metrics import Tally
from jobsim.report.timeseries import Recorder
from jobsim.scenario.runner import run_scenario


@cache
def _history() -> History:
    """A history with failures, retries, the dead set and a final inventory."""
    return run_scenario("api_outage", scale=0.1, seed=3).history


PASSES: dict[str, tuple[Callable[[], Any], Callable[[Any], Any]]] = {
    "no_loss": (lambda: registry.stream("no_loss", {}), lambda s: s.finish().to_dict()),
    "lifecycle": (lambda: registry.stream("lifecycle", {}), lambda s: s.finish().to_dict()),
    "priority": (lambda: registry.stream("priority", registry.config_of(_history()),
                                         {"latency_bounds": {"default": 1.0}}),
                 lambda s: s.finish().to_dict()),
    "idempotency": (lambda: registry.stream("idempotency", {}),
                    lambda s: s.finish().to_dict()),
    "retry_spread": (lambda: registry.stream("retry_spread", {}, {"min_group": 2}),
                     lambda s: s.finish().to_dict()),
    "tally": (Tally, lambda s: s.result()),
    "classes": (ClassStats, lambda s: s.result()),
    "tables": (Tables, lambda s: s.result()),
    "latency": (QueueLatency, lambda s: s.result(registry.config_of(_history()))),
    "lines": (LineWriter, lambda s: s.close()),
    "series": (Recorder, lambda s: s.series(s.end())),
}


def _feed(target: Any, piece: list[Any], start: int) -> None:
    if isinstance(target, (Tally, ClassStats, Tables, QueueLatency, LineWriter, Recorder)):
        getattr(target, "write" if isinstance(target, LineWriter) else "feed")(piece)
    else:
        target.feed(piece, start)


def _pieces(cuts: list[int], drop: int | None = None) -> list[tuple[list[Any], int]]:
    events = _history().events
    bounds = [0, *sorted({c % len(events) for c in cuts}), len(events)]
    out = [(events[a:b], a) for a, b in pairwise(bounds)]
    if drop is not None:
        del out[drop]
    return out


def _result(name: str, pieces: list[tuple[list[Any], int]]) -> Any:
    make, finish = PASSES[name]
    target = make()
    for piece, start in pieces:
        _feed(target, piece, start)
    return finish(target)


@settings(max_examples=10, deadline=None)
@given(cuts=st.lists(st.integers(0, 10**9), max_size=8))
def test_any_cut_gives_the_whole_result(cuts: list[int]) -> None:
    whole = [(_history().events, 0)]
    for name in PASSES:
        assert _result(name, _pieces(cuts)) == _result(name, whole), name


def test_a_piece_left_out_changes_every_result() -> None:
    """Negative control: the equality above can fail."""
    events = _history().events
    whole = [(events, 0)]
    retry = next(i for i, ev in enumerate(events) if ev[1] == "retry")
    for name in PASSES:
        assert _result(name, _pieces([retry - 100, retry + 100], drop=1)) != \
            _result(name, whole), name


def test_the_checks_are_the_streams_fed_whole() -> None:
    history = _history()
    assert timeseries.build(history) == _result("series", [(history.events, 0)])
    assert no_loss.check(history).to_dict() == _result("no_loss", [(history.events, 0)])
    assert lifecycle.check(history).to_dict() == _result("lifecycle", [(history.events, 0)])
    config = registry.config_of(history)
    assert priority.check(history, config, latency_bounds={"default": 1.0}).to_dict() == \
        _result("priority", [(history.events, 0)])
    assert registry.run_check("idempotency", history, config).to_dict() == \
        _result("idempotency", [(history.events, 0)])
    assert registry.run_check("retry_spread", history, config, {"min_group": 2}).to_dict() \
        == _result("retry_spread", [(history.events, 0)])
    assert all(registry.streams(n)
               for n in ("no_loss", "lifecycle", "priority", "idempotency", "retry_spread"))
    assert not registry.streams("due")
