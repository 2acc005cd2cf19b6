"""`jobsim check` refuses every damaged history with exit 2 and one line; it passes only a
complete run, and verifies the digest recorded in the metrics.json beside it."""

from __future__ import annotations

import gzip
import json
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobsim.checks.registry import run_checks
from jobsim.cli import main
from jobsim.history.history import read_jsonl

BLACK_FRIDAY = Path(__file__).parents[2] / "scenarios" / "black_friday.yaml"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "bf"
    code, _, err = invoke("simulate", str(BLACK_FRIDAY), "--scale", "0.01", "--quiet",
                          "--out", str(out))
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def lines(run: Path) -> list[str]:
    with gzip.open(run / "history.jsonl.gz", "rt", encoding="utf-8") as fh:
        return fh.read().splitlines()


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def refused(path: Path, needle: str) -> str:
    code, _, err = invoke("check", str(path))
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert needle in err, err
    return err


def test_the_complete_history_passes_and_its_digest_matches(run: Path) -> None:
    code, _, err = invoke("check", str(run / "history.jsonl.gz"))
    assert code == 0, err


def test_an_empty_file_is_not_a_complete_history(tmp_path: Path) -> None:
    refused(write(tmp_path / "h.jsonl", []), "not a complete history")
    empty_gz = tmp_path / "h.jsonl.gz"
    with gzip.open(empty_gz, "wb"):
        pass
    refused(empty_gz, "not a complete history")


def test_a_config_only_file_is_refused(tmp_path: Path, lines: list[str]) -> None:
    refused(write(tmp_path / "h.jsonl", lines[:1]), "no 'horizon' event")


def test_a_history_cut_at_a_line_boundary_is_refused(tmp_path: Path,
                                                     lines: list[str]) -> None:
    horizon = next(i for i, line in enumerate(lines) if '"kind":"horizon"' in line)
    refused(write(tmp_path / "h.jsonl", lines[:horizon]), "no 'horizon' event")
    refused(write(tmp_path / "h2.jsonl", lines[: len(lines) // 2]), "cut short")


def test_without_the_strict_reader_the_cut_history_would_pass(tmp_path: Path,
                                                              lines: list[str]) -> None:
    """Negative control: the damage is invisible to the checkers themselves."""
    path = write(tmp_path / "h.jsonl", lines[:1])
    history, _ = read_jsonl(path, strict=False)
    results = run_checks(history, ["no_loss", "lifecycle", "idempotency"], {})
    assert all(r.ok for r in results.values())


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("t", "soon", "'t' must be a finite number"),
    ("t", -1.0, "'t' must be a finite number"),
    ("jid", {"a": 1}, "'jid' must be a string"),
    ("queue", 7, "field 'queue' has the wrong type"),
    ("retry", "yes", "field 'retry' has the wrong type"),
])
def test_ill_typed_fields_are_refused(tmp_path: Path, lines: list[str], field: str,
                                      value: object, needle: str) -> None:
    at = next(i for i, line in enumerate(lines) if '"kind":"enqueue"' in line)
    event = json.loads(lines[at])
    event[field] = value
    damaged = [*lines[:at], json.dumps(event), *lines[at + 1:]]
    err = refused(write(tmp_path / "h.jsonl", damaged), needle)
    assert f":line {at + 1}:" in err.replace(" ", "") or f"line {at + 1}" in err


@pytest.mark.parametrize("damage", ["not_first", "second_run", "after_horizon",
                                    "time_back"])
def test_framing_damage_is_refused(tmp_path: Path, lines: list[str], damage: str) -> None:
    horizon = next(i for i, line in enumerate(lines) if '"kind":"horizon"' in line)
    late = json.loads(lines[horizon - 1])
    early = json.loads(lines[2])
    damaged = {
        "not_first": lines[1:],
        "second_run": [*lines, *lines],
        "after_horizon": [*lines[:horizon + 1], json.dumps(late)],
        "time_back": [*lines[:horizon], json.dumps({**early, "t": -0.0 + 0.0}),
                      *lines[horizon:]],
    }[damage]
    if damage == "time_back" and json.loads(lines[horizon - 1])["t"] == 0.0:
        pytest.skip("the run has no time to go back from")
    refused(write(tmp_path / "h.jsonl", damaged), "not a complete history")


def test_a_link_to_dev_zero_ends_quickly(tmp_path: Path) -> None:
    link = tmp_path / "history.jsonl"
    link.symlink_to("/dev/zero")
    started = time.monotonic()
    refused(link, "not a regular file")
    assert time.monotonic() - started < 2


def test_a_gzip_bomb_without_newlines_ends_quickly(tmp_path: Path) -> None:
    bomb = tmp_path / "history.jsonl.gz"
    with gzip.open(bomb, "wb") as fh:
        for _ in range(40):
            fh.write(b"\0" * (1 << 20))                 # 40 MiB, one endless "line"
    started = time.monotonic()
    refused(bomb, "line longer than")
    assert time.monotonic() - started < 10


def test_a_truncated_gzip_is_refused(tmp_path: Path, run: Path) -> None:
    data = (run / "history.jsonl.gz").read_bytes()
    cut = tmp_path / "history.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    refused(cut, "not a complete gzip file")


def test_a_folder_mixing_two_runs_fails_the_digest(tmp_path: Path, run: Path,
                                                   lines: list[str]) -> None:
    folder = tmp_path / "mixed"
    shutil.copytree(run, folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["history_digest"] = "sha256:" + "0" * 64          # another run's metrics
    (folder / "metrics.json").write_text(json.dumps(metrics))
    refused(folder / "history.jsonl.gz", "does not match")


def test_a_history_cut_among_held_lines_is_caught_by_the_digest(tmp_path: Path,
                                                                run: Path,
                                                                lines: list[str]) -> None:
    """Cut after the horizon, the framing still holds: only the digest can tell."""
    horizon = json.loads(lines[-1])
    held = [json.dumps({"t": horizon["t"], "kind": "held", "jid": f"j{i}", "where": "retry"},
                       sort_keys=True, separators=(",", ":")) for i in range(2)]
    whole = write(tmp_path / "history.jsonl", [*lines, *held])
    _, digest = read_jsonl(whole, strict=True)
    (tmp_path / "metrics.json").write_text(json.dumps({"history_digest": digest}))
    assert invoke("check", str(whole))[0] == 0
    write(whole, [*lines, held[0]])
    refused(whole, "does not match")


def test_unreadable_metrics_beside_the_history_is_refused(tmp_path: Path, run: Path) -> None:
    folder = tmp_path / "bad"
    shutil.copytree(run, folder)
    (folder / "metrics.json").write_text("{not json")
    refused(folder / "history.jsonl.gz", "metrics.json: unreadable")


def test_every_kind_and_field_has_a_type() -> None:
    from jobsim.history.events import FIELDS
    from jobsim.history.strict import TYPES

    assert set(TYPES) == set(FIELDS)
    for kind, fields in FIELDS.items():
        assert tuple(TYPES[kind]) == fields, kind
