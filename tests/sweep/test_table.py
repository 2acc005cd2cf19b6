"""The table: whole rows only, resumable, the same bytes in any completion order."""

from __future__ import annotations

import random
from pathlib import Path

from jobsim.sweep.table import CSV, ROWS, Table, read


def _row(point: str, seed: int, ok: bool = True) -> dict:
    return {"point": point, "settings": {"k": point}, "variant": "", "seed": seed,
            "digest": f"d{seed}", "ok": ok, "verdict": "PASS" if ok else "FAIL",
            "verdicts": {"check:no_loss": ok}, "metrics": {"jobs.lost": 0 if ok else 2},
            "replay": f"jobsim simulate x --seed {seed}"}


def _order(row: dict) -> tuple:
    return (row["point"], row["seed"])


def test_same_bytes_in_any_completion_order(tmp_path: Path) -> None:
    rows = [_row(p, s, ok=s != 3) for p in ("a", "b") for s in range(6)]
    outputs = []
    for seed in range(3):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        table = Table(tmp_path / str(seed))
        for row in shuffled:
            table.append(row)
        table.finish(_order)
        table.close()
        outputs.append(((tmp_path / str(seed) / ROWS).read_bytes(),
                        (tmp_path / str(seed) / CSV).read_bytes()))
    assert outputs[0] == outputs[1] == outputs[2]
    assert [r["seed"] for r in read(tmp_path / "0")][:6] == list(range(6))
    header = outputs[0][1].decode().splitlines()[0]
    assert header.startswith("point,set:k,variant,seed,verdict,ok,digest,error,check:no_loss")


def test_torn_last_line_is_cut_and_rows_resume(tmp_path: Path) -> None:
    table = Table(tmp_path)
    table.append(_row("a", 0))
    table.append(_row("a", 1))
    table.close()
    with (tmp_path / ROWS).open("ab") as f:
        f.write(b'{"point": "a", "seed"')          # a write cut by a crash
    reopened = Table(tmp_path)
    assert ("a", "", 0) in reopened and ("a", "", 1) in reopened
    assert len(reopened.rows) == 2
    reopened.append(_row("a", 1))                  # a row already kept is not doubled
    reopened.append(_row("a", 2))
    reopened.close()
    lines = (tmp_path / ROWS).read_bytes().splitlines()
    assert len(lines) == 3 and all(line.endswith(b"}") for line in lines)
