"""Append-only record of a run: the input to every checker and report.

Events are flat tuples ``(t, kind, jid, *fields)`` with the fields of ``events.FIELDS``.
Tuples of shared objects keep a multi-million-event run small (about 100 bytes an event);
the JSONL form spells the field names out so a saved history is self-describing.

This module deliberately imports nothing from the simulator, so checkers and reports can
read a history without pulling in simpy, the job system or the world.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import queue
import stat
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

import msgspec

from jobsim.history.events import FIELDS, LATE_FIELDS
from jobsim.history.strict import Incomplete, verify

Event = tuple[Any, ...]
ARITY = {kind: len(fields) for kind, fields in FIELDS.items()}
# kind -> the defaults of its late fields, in field order (see events.LATE_FIELDS)
_LATE: dict[str, tuple[Any, ...]] = {
    kind: tuple(LATE_FIELDS[kind, f] for f in fields if (kind, f) in LATE_FIELDS)
    for kind, fields in FIELDS.items()
}
# msgspec rather than the json module: about 9x faster, and the digest of a large run is
# one encode per event. It sorts keys at every depth, which is what "canonical" needs.
_ENCODER = msgspec.json.Encoder(order="sorted")


def _row_type(kind: str, fields: tuple[str, ...]) -> tuple[type, Callable[[Event], Any]]:
    """A msgspec Struct per kind whose fields are the line's keys in sorted order, and
    the getter that reorders an event tuple to match: building one Struct costs half
    what a dict per event did, and encodes to the same canonical line."""
    names = ("t", "kind", "jid", *fields)
    order = sorted(range(len(names)), key=names.__getitem__)
    row = msgspec.defstruct(f"Line_{kind}", [(names[i], Any) for i in order])
    return row, itemgetter(*order)


_ROWS = {kind: _row_type(kind, fields) for kind, fields in FIELDS.items()}
_BLOCK = 8192      # events per encoded block handed to the writer thread (about 1 MB)
# Reading caps: a history is read whole into memory (about 100 bytes an event against
# 150 on disk), so 4 GiB of lines is far past any run that fits; a line is one event.
MAX_HISTORY_BYTES = 4 << 30
MAX_LINE_BYTES = 16 << 20


class HistoryError(ValueError):
    """A malformed event: unknown kind, wrong field count, or a bad JSONL line."""


def complete(kind: str, fields: tuple[Any, ...]) -> tuple[Any, ...]:
    """``fields`` of a ``kind`` event that left out some late fields, with their defaults;
    HistoryError when the count is wrong otherwise."""
    arity, late = ARITY[kind], _LATE[kind]
    missing = arity - len(fields)
    if 0 < missing <= len(late):
        return (*fields, *late[len(late) - missing:])
    raise HistoryError(f"event {kind!r} takes {arity} fields {FIELDS[kind]}, got {len(fields)}")


class History:
    """An ordered list of events with JSONL round trip and a canonical digest."""

    __slots__ = ("events",)

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self.events: list[Event] = []
        for event in events:
            self.append(*event)

    def append(self, t: float, kind: str, jid: str | None, *fields: Any) -> None:
        """Record one event; the field count is checked against its kind."""
        arity = ARITY.get(kind)
        if arity is None:
            raise HistoryError(f"unknown event kind {kind!r}")
        if len(fields) != arity:
            fields = complete(kind, fields)
        self.events.append((t, kind, jid, *fields))

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def of_kind(self, *kinds: str) -> Iterator[Event]:
        """Events whose kind is one of ``kinds``, in order."""
        wanted = set(kinds)
        return (e for e in self.events if e[1] in wanted)

    @staticmethod
    def as_dict(event: Event) -> dict[str, Any]:
        """The event with its fields named, as written to JSONL."""
        t, kind, jid, *values = event
        out: dict[str, Any] = {"t": float(t), "kind": kind, "jid": jid}
        out.update(zip(FIELDS[kind], values, strict=True))
        return out

    def lines(self) -> Iterator[str]:
        """Canonical JSON lines: keys sorted at every depth, no spaces, floats in their
        shortest round-trip form (msgspec's spelling, e.g. ``1e16``)."""
        for block in self.blocks():
            yield from block.decode().split("\n")[:-1]   # not splitlines: U+2028 is data

    def blocks(self) -> Iterator[bytes]:
        """The canonical lines, each ending in a newline, UTF-8, a few thousand a block
        (one ``encode_lines`` call each)."""
        return encoded_blocks(self.events)

    def digest(self) -> str:
        """``sha256:<hex>`` of the canonical lines; equal runs give equal digests."""
        h = hashlib.sha256()
        for block in self.blocks():
            h.update(block)
        return "sha256:" + h.hexdigest()

    def to_jsonl(self, path: str | Path) -> str:
        """Write one canonical line per event (``.gz``: gzip, fast level) and return the
        digest, computed in the same pass so a saved run is encoded only once. A second
        thread hashes, compresses and writes while this one encodes: zlib, hashlib and
        file writes release the GIL, so on two cores the two halves overlap."""
        h = hashlib.sha256()
        with _open(path, "wb") as fh:

            def sink(block: bytes) -> None:
                h.update(block)
                fh.write(block)

            _pipe(self.blocks(), sink)
        return "sha256:" + h.hexdigest()

    @classmethod
    def from_jsonl(cls, path: str | Path, strict: bool = False) -> History:
        """Read a history written by ``to_jsonl``; errors name the line. ``strict``:
        refuse anything but one complete, well-typed run (``strict.verify``)."""
        return read_jsonl(path, strict=strict)[0]


def read_jsonl(path: str | Path, strict: bool = False,
               max_bytes: int = MAX_HISTORY_BYTES) -> tuple[History, str]:
    """The history saved at ``path`` and the digest of its lines as read (what
    ``to_jsonl`` returned when it wrote them). Only a regular file is read, at most
    ``max_bytes`` after decompression and ``MAX_LINE_BYTES`` a line, so a link to
    /dev/zero or a gzip bomb ends at once with a HistoryError."""
    _regular(path)
    history, h = History(), hashlib.sha256()
    events = history.events
    try:
        with _open(path, "rb") as fh:
            for lineno, line in enumerate(_lines(fh, h, path, max_bytes), 1):
                if line.strip():
                    events.append(_parse(line, path, lineno))
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise HistoryError(f"{path}: not a complete gzip file ({exc})") from None
    if strict:
        try:
            verify(events)
        except Incomplete as exc:
            raise HistoryError(f"{path}: not a complete history: {exc}") from None
    return history, "sha256:" + h.hexdigest()


def _lines(fh: IO[bytes], h: Any, path: str | Path, max_bytes: int) -> Iterator[bytes]:
    """The file's lines (without their newlines), read 1 MiB at a time and hashed as
    read; at most ``max_bytes`` in all and ``MAX_LINE_BYTES`` a line."""
    rest, total = b"", 0
    while chunk := fh.read(1 << 20):
        total += len(chunk)
        if total > max_bytes:
            raise HistoryError(f"{path}: larger than {max_bytes:,} bytes; refused")
        h.update(chunk)
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        if len(rest) > MAX_LINE_BYTES:
            raise HistoryError(f"{path}: a line longer than {MAX_LINE_BYTES:,} bytes")
        yield from lines
    if rest:
        yield rest


def _regular(path: str | Path) -> None:
    """Refuse devices, pipes and folders before reading: they may never end."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise HistoryError(f"{path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise HistoryError(f"{path}: not a regular file")


_decode = msgspec.json.Decoder().decode


def _parse(line: bytes | str, path: str | Path, lineno: int) -> Event:
    try:
        obj = _decode(line)
        kind = obj.pop("kind")
        names = FIELDS[kind]
        t, jid = obj.pop("t"), obj.pop("jid")
        values = [obj.pop(name) if name in obj or (kind, name) not in LATE_FIELDS
                  else LATE_FIELDS[kind, name] for name in names]
    except (msgspec.DecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise HistoryError(f"{path}:{lineno}: not a history event ({_why(line, exc)})"
                           ) from None
    if obj:
        raise HistoryError(f"{path}:{lineno}: unexpected fields {sorted(obj)}")
    return (t, kind, jid, *values)


def _why(line: bytes | str, exc: Exception) -> str:
    """What is wrong with a line ``_parse`` refused, in the history's own terms (a bare
    KeyError said only ``'kind'``). Only for the error: the good path never comes here."""
    if isinstance(exc, msgspec.DecodeError):
        return str(exc)
    obj = _decode(line)
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in FIELDS:
        return (f"unknown kind {kind!r}" if "kind" in obj else "no 'kind' field")
    missing = [name for name in ("t", "jid", *FIELDS[kind])
               if name not in obj and (kind, name) not in LATE_FIELDS]
    if missing:
        return f"a {kind!r} event needs {', '.join(repr(m) for m in missing)}"
    return str(exc)


def encoded_blocks(events: list[Event]) -> Iterator[bytes]:
    """The canonical lines of ``events``, a few thousand a block: ``History.blocks``."""
    encode_lines = _ENCODER.encode_lines
    rows = _ROWS
    for lo in range(0, len(events), _BLOCK):
        block: list[Any] = []
        append = block.append
        for event in events[lo:lo + _BLOCK]:
            row, pick = rows[event[1]]
            if event[0].__class__ is not float:
                event = (float(event[0]), *event[1:])
            append(row(*pick(event)))
        yield encode_lines(block)


class LineWriter:
    """A history's canonical lines hashed, and written to ``path`` when one is given,
    as its events are handed over in order: ``to_jsonl``'s file and digest built in
    pieces, for a history saved while its run still records it (scenario/judge.py)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._hash = hashlib.sha256()
        self._file = None if path is None else _open(path, "wb")

    def write(self, events: list[Event]) -> None:
        """The next events, right after those written before."""
        for block in encoded_blocks(events):
            self._hash.update(block)
            if self._file is not None:
                self._file.write(block)

    def close(self) -> str:
        """Finish the file; the digest of every line written (``History.digest``)."""
        if self._file is not None:
            self._file.close()
        return "sha256:" + self._hash.hexdigest()


def _pipe(blocks: Iterator[bytes], sink: Callable[[bytes], None]) -> None:
    """Feed ``blocks`` to ``sink`` on a second thread, in order. The first error on
    either side is raised here, after the thread has finished."""
    pending: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
    failed: list[BaseException] = []

    def drain() -> None:
        while (block := pending.get()) is not None:
            if not failed:
                try:
                    sink(block)
                except BaseException as exc:   # re-raised by the producer below
                    failed.append(exc)

    worker = threading.Thread(target=drain, name="history-writer", daemon=True)
    worker.start()
    try:
        for block in blocks:
            if failed:
                break
            pending.put(block)
    finally:
        pending.put(None)
        worker.join()
    if failed:
        raise failed[0]


def _open(path: str | Path, mode: str) -> IO[Any]:
    """A history file: gzip (fast level) when the name ends in ``.gz``; text modes are
    UTF-8."""
    encoding = None if "b" in mode else "utf-8"
    if str(path).endswith(".gz"):
        return gzip.open(path, mode, encoding=encoding, compresslevel=1)
    return open(path, mode, encoding=encoding)
