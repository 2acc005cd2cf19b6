"""History: arity checks, JSONL round trips for every event kind, digests, error lines."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import threading
from pathlib import Path
from typing import Any

import msgspec
import pytest

from jobsim.history.events import FIELDS, KINDS, STATE_OF
from jobsim.history.history import History, HistoryError
from jobsim.sim.offload import Offload

NESTED: dict[str, Any] = {
    "config": {"queues": [["critical", 6], ["default", 3]], "mode": "weighted", "seed": 4},
    "params": {"extra": 2.5, "targets": ["payment_api", None], "on": True},
    "deps": ["j1", "j2"],
    "value": 0.125,
}


def every_kind() -> History:
    """One event per kind; nested dict/list values where a field can hold them."""
    history = History()
    for i, kind in enumerate(KINDS):
        values = [NESTED.get(name, f"{name}-{i}") for name in FIELDS[kind]]
        history.append(i * 0.5, kind, None if kind == "config" else f"j{i}", *values)
    return history


def test_append_checks_the_field_count() -> None:
    history = History()
    with pytest.raises(HistoryError, match="'success' takes 1 fields"):
        history.append(0.0, "success", "j1")
    with pytest.raises(HistoryError, match="got 2"):
        history.append(0.0, "success", "j1", 0, 0)
    with pytest.raises(HistoryError, match="unknown event kind 'explode'"):
        history.append(0.0, "explode", "j1")
    with pytest.raises(HistoryError):
        History([(0.0, "start", "j1", "default")])  # the constructor checks too
    assert len(history) == 0


def test_state_kinds_exist_and_of_kind_keeps_history_order() -> None:
    assert set(STATE_OF) <= set(KINDS)
    history = every_kind()
    assert len(history) == len(KINDS)
    assert [e[1] for e in history.of_kind("held", "config")] == ["config", "held"]


@pytest.mark.parametrize("name", ["h.jsonl", "h.jsonl.gz"])
def test_jsonl_round_trip_keeps_every_event(tmp_path: Path, name: str) -> None:
    history = every_kind()
    path = tmp_path / name
    history.to_jsonl(path)
    back = History.from_jsonl(path)
    assert back.events == history.events
    assert back.digest() == history.digest()
    config = next(back.of_kind("config"))
    assert config[3]["queues"] == [["critical", 6], ["default", 3]]
    raw = path.read_bytes()
    assert raw.startswith(b"\x1f\x8b") == name.endswith(".gz")


def test_digest_is_sha256_of_the_written_lines(tmp_path: Path) -> None:
    history = every_kind()
    path = tmp_path / "h.jsonl"
    history.to_jsonl(path)
    assert history.digest() == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    first = json.loads(path.read_text().splitlines()[0])
    assert first == {"t": 0.0, "kind": "config", "jid": None, "config": NESTED["config"]}


def test_digest_changes_with_any_field_and_with_order() -> None:
    a, b = History(), History()
    a.append(1.0, "enqueue", "j1", "default", "Job", True, True)
    b.append(1, "enqueue", "j1", "default", "Job", True, True)  # int time, same value
    assert a.digest() == b.digest()
    c = History([(1.0, "enqueue", "j1", "default", "Job", True, False)])
    assert c.digest() != a.digest()
    a.append(2.0, "start", "j1", "default", "p0", 1, 0)
    d = History([(2.0, "start", "j1", "default", "p0", 1, 0)])
    d.append(1.0, "enqueue", "j1", "default", "Job", True, True)
    assert d.digest() != a.digest()


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("{not json", "not a history event"),
        ('{"t": 1.0, "kind": "nope", "jid": null}',
         r"not a history event \(unknown kind 'nope'\)"),
        ('{"t": 1.0, "kind": "success", "jid": "j1"}',
         r"not a history event \(a 'success' event needs 'dup'\)"),
        ('{"t": 1.0, "jid": "j1"}', r"not a history event \(no 'kind' field\)"),
        ("[1, 2]", r"not a history event \(expected a JSON object, got list\)"),
        ('{"kind": "horizon", "jid": null}',
         r"not a history event \(a 'horizon' event needs 't'\)"),
        ('{"t": 1.0, "kind": "success", "jid": "j1", "dup": 0, "x": 1}', "unexpected fields"),
    ],
)
def test_from_jsonl_errors_name_the_line(tmp_path: Path, line: str, why: str) -> None:
    path = tmp_path / "bad.jsonl.gz"
    good = '{"t":0.0,"kind":"horizon","jid":null}'
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(f"{good}\n\n{line}\n")
    with pytest.raises(HistoryError, match=rf"bad\.jsonl\.gz:3: {why}"):
        History.from_jsonl(path)


def _reference_line(event: tuple[Any, ...]) -> str:
    """The canonical line spelled the plain way: a dict with every key, sorted encoding."""
    t, kind, jid, *values = event
    line = {"t": float(t), "kind": kind, "jid": jid, **dict(zip(FIELDS[kind], values, strict=True))}
    return msgspec.json.encode(line, order="sorted").decode()


def test_lines_span_blocks_and_match_the_plain_encoding(tmp_path: Path) -> None:
    history = every_kind()
    for i in range(20_000):                      # several encoding blocks
        history.append(i / 7, "start", f"j{i}", "default", f"p{i % 3}", 1 + i % 2, i % 2)
    history.append(1, "effect", "j1", "a\u2028b\nc", "svc", True)  # separators are data
    expected = [_reference_line(e) for e in history.events]
    assert list(history.lines()) == expected
    body = "".join(line + "\n" for line in expected).encode()
    assert history.digest() == "sha256:" + hashlib.sha256(body).hexdigest()
    path = tmp_path / "h.jsonl.gz"
    assert history.to_jsonl(path) == history.digest()
    assert gzip.decompress(path.read_bytes()) == body
    assert History.from_jsonl(path).events[-1][3] == "a\u2028b\nc"


def test_a_write_error_in_the_writer_thread_surfaces(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    history = every_kind()

    class Broken(io.BytesIO):
        def write(self, data: Any) -> int:
            raise OSError("disk full")

    monkeypatch.setattr("jobsim.history.history._open", lambda path, mode: Broken())
    with pytest.raises(OSError, match="disk full"):
        history.to_jsonl(tmp_path / "h.jsonl")
    assert not [t for t in threading.enumerate() if t.name == "history-writer"]  # joined


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_offload_returns_the_childs_value_and_surfaces_its_errors(tmp_path: Path) -> None:
    history = every_kind()
    path = tmp_path / "h.jsonl.gz"
    saving = Offload(lambda: history.to_jsonl(path), "saving")
    assert saving.pid != os.getpid() and saving.pid > 0
    assert saving.result() == history.digest()
    assert History.from_jsonl(path).events == history.events   # the child wrote it

    def broken() -> str:
        raise ValueError("no space")

    with pytest.raises(RuntimeError, match=r"(?s)saving failed in the helper.*ValueError"):
        Offload(broken, "saving").result()
    calls: list[int] = []
    inline = Offload(lambda: calls.append(os.getpid()) or "x", "inline", fork=False)
    assert calls == [] and inline.result() == "x" and calls == [os.getpid()]  # lazily, here


def test_late_fields_default_for_older_callers_and_files(tmp_path) -> None:
    """An enqueue written without its args (an older file or caller) reads with args None;
    a count short by more than the late fields is still an error."""
    h = History([(1.0, "enqueue", "j1", "default", "Job", True, True)])
    assert h.events[0] == (1.0, "enqueue", "j1", "default", "Job", True, True, None)
    old = tmp_path / "old.jsonl"
    old.write_text('{"ack":true,"cls":"Job","jid":"j1","kind":"enqueue","queue":"q",'
                   '"retry":true,"t":1.0}\n')
    assert History.from_jsonl(old).events[0][-1] is None
    with pytest.raises(HistoryError):
        History([(1.0, "enqueue", "j1", "default", "Job", True)])



def test_record_shares_one_float_per_instant_and_keeps_the_clock_type() -> None:
    """Events of one instant share a float object (memory), never changing a value or
    a type: the clock's int 0 stays int, an equal float keeps its value."""
    from jobsim.sim.simulation import Simulation

    sim = Simulation()
    env = sim.env

    def clock() -> Any:
        sim.record("stop", None, "p0")          # t = int 0, simpy's start
        for delay in (0.0, 0, 0.5, 0, 0.25):    # each timeout makes a new float
            yield env.timeout(delay)
            sim.record("stop", None, "p0")
            sim.record("stop", None, "p1")

    env.process(clock())
    env.run()
    times = [e[0] for e in sim.history]
    assert times == [0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 0.75, 0.75]
    assert type(times[0]) is int and all(type(t) is float for t in times[1:])
    assert len({id(t) for t in times[1:]}) == 3          # one object per instant
