"""The sweep's tidy table: one row per (point, variant, seed), durable while the sweep
runs and sorted once it ends.

While tasks finish, each row is appended to ``rows.jsonl`` as one whole line, flushed and
fsynced: Ctrl-C or a crash leaves whole rows only (a torn last line, possible only if the
machine dies mid-write, is cut off when the table is reopened). At the end the rows are
sorted by the plan's order and both files are rewritten by write-then-rename, so the
bytes depend on the plan alone, never on which worker finished first. ``rows.csv`` is the
same table for spreadsheets and data frames: one column per swept key, verdict and metric.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec

from jobsim.files import replace_file

ROWS = "rows.jsonl"
CSV = "rows.csv"
HEAD = ("point", "variant", "seed", "verdict", "ok", "digest", "error")

Key = tuple[str, str, int]


def key(row: dict[str, Any]) -> Key:
    return (row["point"], row["variant"], row["seed"])


def encode(row: dict[str, Any]) -> bytes:
    """One canonical JSON line (sorted keys, no spaces)."""
    return msgspec.json.encode(row, order="sorted") + b"\n"


class Table:
    """The rows of one sweep folder; reopening it resumes where it stopped."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / ROWS
        folder.mkdir(parents=True, exist_ok=True)
        self.rows: dict[Key, dict[str, Any]] = {}
        self._load()
        self._file = self.path.open("ab")

    def __contains__(self, k: Key) -> bool:
        return k in self.rows

    def append(self, row: dict[str, Any]) -> None:
        """Keep one finished row on disk before anything else happens."""
        if key(row) in self.rows:
            return
        self._file.write(encode(row))
        self._file.flush()
        os.fsync(self._file.fileno())
        self.rows[key(row)] = row

    def close(self) -> None:
        self._file.close()

    def finish(self, order: Callable[[dict[str, Any]], Any]) -> list[dict[str, Any]]:
        """Sort the rows, rewrite rows.jsonl and rows.csv atomically; the sorted rows."""
        self.close()
        rows = sorted(self.rows.values(), key=order)
        replace_file(self.path, b"".join(encode(r) for r in rows))
        replace_file(self.folder / CSV, to_csv(rows).encode())
        self._file = self.path.open("ab")
        return rows

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        whole = data[: data.rfind(b"\n") + 1]
        if len(whole) != len(data):               # a torn last line: cut it off
            with self.path.open("r+b") as f:
                f.truncate(len(whole))
        for line in whole.splitlines():
            try:
                row = msgspec.json.decode(line)
            except msgspec.DecodeError:
                continue
            self.rows.setdefault(key(row), row)


def read(folder: Path) -> list[dict[str, Any]]:
    """The rows of a finished sweep, in table order."""
    path = folder / ROWS
    return [msgspec.json.decode(line) for line in path.read_bytes().splitlines() if line]


def to_csv(rows: Iterable[dict[str, Any]]) -> str:
    rows = list(rows)
    settings = _columns(r["settings"] for r in rows)
    verdicts = _columns(r["verdicts"] for r in rows)
    metrics = _columns(r["metrics"] for r in rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*HEAD[:1], *(f"set:{k}" for k in settings), *HEAD[1:], *verdicts,
                     *metrics, "replay"])
    for r in rows:
        writer.writerow([r["point"], *(_cell(r["settings"].get(k)) for k in settings),
                         r["variant"], r["seed"], r["verdict"], _cell(r["ok"]), r["digest"],
                         r.get("error", ""),
                         *(_cell(r["verdicts"].get(k)) for k in verdicts),
                         *(_cell(r["metrics"].get(k)) for k in metrics), r["replay"]])
    return out.getvalue()


def _columns(parts: Iterable[dict[str, Any]]) -> list[str]:
    return sorted({name for part in parts for name in part})


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return msgspec.json.encode(value, order="sorted").decode()
    return str(value)
