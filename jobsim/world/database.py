"""A primary database with lagging read replicas and unique constraints.

Why it exists: the seed's duplicate emails came from an existence check that read
a replica a few seconds behind the primary. To reproduce that, every write is kept as a
timestamped version, and a replica answers "as of" ``now - lag``.

Style: every operation is **synchronous and takes zero simulated time**. Jobs model query
time themselves (``yield self.sleep(...)``) where it matters; the race windows that matter
here come from replica lag and from the time spent on *other* calls between a check and a
write, not from the query itself. Zero-time calls keep the hot path cheap.

Storage: per table, an append-only version list per row id, a write log, and lazily built
indexes (one per set of ``where`` columns) mapping values to ``(t, row id)`` in time order.
A read at time ``T`` looks up index candidates written at ``t <= T`` and confirms each with
the row's version as of ``T``, so lookups stay fast with tens of thousands of rows.

Replicas apply writes in order and never un-apply them: a replica's read point is
``max(previous read point, now - lag)``. Raising the lag therefore *stalls* the replica
(new writes stop appearing) rather than making old rows vanish, as a real replica does.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Any

from jobsim.sim.simulation import Simulation

Row = dict[str, Any]
PRIMARY = "primary"


class DatabaseError(Exception):
    """Base class of database errors (named like psycopg's hierarchy)."""


class UniqueViolation(DatabaseError):
    """An insert or update would duplicate a unique key; nothing was written."""


class UndeclaredTable(DatabaseError, LookupError):
    """A job touched a table the world does not declare."""


class Read:
    """A read's answer and the copy that gave it; truthy iff a row was found.

    Unpacks as ``row, copy = db.find(...)``. ``__bool__`` is explicit so that
    ``if db.exists(...)`` tests the row, not the (always non-empty) pair.
    """

    __slots__ = ("copy", "row")

    def __init__(self, row: Row | None, copy: str) -> None:
        self.row = row
        self.copy = copy

    def __bool__(self) -> bool:
        return self.row is not None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.row, self.copy))

    def __repr__(self) -> str:
        return f"Read({self.row!r}, {self.copy!r})"


class Table:
    """One table's versions, write log and indexes."""

    __slots__ = ("_log", "indexes", "name", "next_id", "times", "unique", "unique_index", "vals")

    def __init__(self, name: str, unique: tuple[str, ...] | None) -> None:
        self.name = name
        self.unique = unique
        self.unique_index: dict[tuple[Any, ...], Hashable] = {}  # current values -> id
        self.times: dict[Hashable, list[float]] = {}  # row id -> version times
        self.vals: dict[Hashable, list[Row | None]] = {}  # row id -> versions (None: deleted)
        self._log: list[tuple[float, Hashable]] = []  # every write, in time order
        self.indexes: dict[tuple[str, ...], dict[tuple[Any, ...], list[tuple[float, Hashable]]]]
        self.indexes = {}
        self.next_id = 1

    def row_at(self, rid: Hashable, t: float) -> Row | None:
        """The version of row ``rid`` visible at time ``t``."""
        times = self.times[rid]
        i = bisect_right(times, t)
        return self.vals[rid][i - 1] if i else None

    def current(self, rid: Hashable) -> Row | None:
        return self.vals[rid][-1]

    def write(self, t: float, rid: Hashable, row: Row | None) -> None:
        """Append a version (None: a deletion) and index it."""
        if rid in self.times:
            self.times[rid].append(t)
            self.vals[rid].append(row)
        else:
            self.times[rid] = [t]
            self.vals[rid] = [row]
        self._log.append((t, rid))
        if row is not None:
            for cols, index in self.indexes.items():
                index.setdefault(_values(row, cols), []).append((t, rid))

    def index(self, cols: tuple[str, ...]) -> dict[tuple[Any, ...], list[tuple[float, Hashable]]]:
        """The index on ``cols``, built from the write log on first use."""
        index = self.indexes.get(cols)
        if index is None:
            index = {}
            counters: dict[Hashable, int] = {}
            for t, rid in self._log:
                n = counters.get(rid, 0)
                counters[rid] = n + 1
                version = self.vals[rid][n]
                if version is not None:
                    index.setdefault(_values(version, cols), []).append((t, rid))
            self.indexes[cols] = index
        return index

    def matches(self, where: Mapping[str, Any], t: float) -> Iterator[Row]:
        """Rows visible at ``t`` matching ``where``, in first-write order."""
        if not where:
            candidates: Iterable[tuple[float, Hashable]] = self._log
        else:
            if len(where) == 1:         # the usual lookup: by one column, no sorting
                cols, values = tuple(where), tuple(where.values())
            else:
                cols = tuple(sorted(where))
                values = _values(where, cols)
            index = self.indexes.get(cols)
            if index is None:
                index = self.index(cols)
            candidates = index.get(values, ())
        items = where.items()
        seen: set[Hashable] = set()
        for wt, rid in candidates:
            if wt > t:
                break  # entries are in time order
            if rid in seen:
                continue
            seen.add(rid)
            row = self.row_at(rid, t)
            if row is not None and _matches(row, items):
                yield row


def _matches(row: Row, items: Iterable[tuple[str, Any]]) -> bool:
    for k, v in items:  # noqa: SIM110 (all() over a generator costs twice as much)
        if row.get(k) != v:
            return False
    return True


def _values(row: Mapping[str, Any], cols: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(map(row.get, cols))


def _primary_rows(tbl: Table, where: Mapping[str, Any], now: float) -> Iterable[Row]:
    """``tbl.matches(where, now)`` for a write on the primary. A ``where`` on exactly the
    unique columns (the shop's notification row) has at most one current row, the one
    the unique index names: no secondary index is built or kept up to date for it."""
    unique = tbl.unique
    if unique is None or len(where) != len(unique) or any(c not in where for c in unique):
        return tbl.matches(where, now)
    rid = tbl.unique_index.get(_values(where, unique))
    row = None if rid is None else tbl.current(rid)   # no write is later than now
    return (row,) if row is not None and _matches(row, where.items()) else ()


class Database:
    """Primary plus ``replicas`` read replicas, each ``lags[i]`` seconds behind."""

    def __init__(
        self, sim: Simulation, replicas: int = 0, lags: list[float] | float = 0.0
    ) -> None:
        self.sim = sim
        self.tables: dict[str, Table] = {}
        if isinstance(lags, (int, float)):
            lags = [float(lags)] * replicas
        if len(lags) != replicas:
            raise ValueError(f"{replicas} replicas need {replicas} lags, got {len(lags)}")
        self.lags: list[float] = [float(x) for x in lags]
        self._read_points: list[float] = [float("-inf")] * replicas
        self._next_replica = 0
        self.reads = {PRIMARY: 0, **{f"replica{i}": 0 for i in range(replicas)}}

    # ---- schema --------------------------------------------------------------------
    def create_table(self, name: str, unique: tuple[str, ...] | None = None) -> Table:
        """Create ``name`` with an optional composite unique constraint (idempotent)."""
        table = self.tables.get(name)
        if table is None:
            table = self.tables[name] = Table(name, tuple(unique) if unique else None)
        elif unique and table.unique != tuple(unique):
            raise ValueError(f"table {name!r} already exists with unique={table.unique}")
        return table

    def add_unique(self, name: str, unique: tuple[str, ...]) -> None:
        """Put a composite unique constraint on an empty declared table (a migration run
        before any write; a plug-in's safeguard hook uses it)."""
        table = self.table(name)
        if table.vals:
            raise ValueError(f"table {name!r} has rows; add its constraint before writing")
        table.unique = tuple(unique)

    def table(self, name: str) -> Table:
        """The declared table ``name``; UndeclaredTable if the world has none by that name
        (a misspelt table must not quietly become a new, empty one)."""
        table = self.tables.get(name)
        if table is None:
            known = ", ".join(sorted(self.tables)) or "none"
            raise UndeclaredTable(f"table {name!r} is not declared (world.tables: {known})")
        return table

    # ---- replicas ------------------------------------------------------------------
    def set_lag(self, replica: int, seconds: float) -> None:
        """Change a replica's lag (chaos layer). Raising it stalls the replica."""
        self.lags[replica] = float(seconds)

    def read_point(self, on: str | int = PRIMARY) -> tuple[float, str]:
        """The time a read on ``on`` sees, and the copy's name.

        ``on`` is "primary", "replica" (round-robin over replicas; the primary when there
        are none, as Rails does without a replica configured) or a replica index.
        """
        now = self.sim.env.now
        if on == PRIMARY or (on == "replica" and not self.lags):
            return now, PRIMARY
        if on == "replica":
            on = self._next_replica
            self._next_replica = (on + 1) % len(self.lags)
        if not isinstance(on, int):
            raise ValueError(f"unknown copy {on!r}")
        point = max(self._read_points[on], now - self.lags[on])
        self._read_points[on] = point
        return point, f"replica{on}"

    # ---- reads ---------------------------------------------------------------------
    def find(self, table: str, where: Mapping[str, Any], on: str | int = PRIMARY) -> Read:
        """The first row matching ``where`` on copy ``on`` (see ``read_point``)."""
        t, copy = self.read_point(on)
        self.reads[copy] += 1
        return Read(next(self.table(table).matches(where, t), None), copy)

    def exists(self, table: str, where: Mapping[str, Any], on: str | int = PRIMARY) -> Read:
        """Like ``find``; use its truth value. Named for readability in guards."""
        return self.find(table, where, on)

    def find_all(
        self, table: str, where: Mapping[str, Any], on: str | int = PRIMARY
    ) -> tuple[list[Row], str]:
        t, copy = self.read_point(on)
        self.reads[copy] += 1
        return list(self.table(table).matches(where, t)), copy

    def count(self, table: str, where: Mapping[str, Any] | None = None) -> int:
        """Rows on the primary now (for tests and reports)."""
        return sum(1 for _ in self.table(table).matches(where or {}, self.sim.env.now))

    # ---- writes (always on the primary) --------------------------------------------
    def insert(
        self,
        job: Any,
        table: str,
        row: Mapping[str, Any],
        effect_key: str | None = None,
        effect: bool = True,
    ) -> Row:
        """Write ``row`` (copied; an ``id`` is assigned when absent) and return it.

        Raises ``UniqueViolation`` (writing nothing) on a duplicate unique key or id.
        Records ``effect(key, "db", once)`` unless ``effect=False``:
        key = ``effect_key`` or ``"{table}:{unique values joined by ':'}"`` (or
        ``"{table}:{id}"`` without a constraint). ``once`` is True when ``effect_key`` is
        given or the table has a unique constraint -- a key that must never repeat --
        and False for plain rows, whose id-based keys are distinct anyway.
        """
        tbl = self.table(table)
        new = dict(row)
        rid = new.get("id")
        if rid is None:
            while tbl.next_id in tbl.times:
                tbl.next_id += 1
            rid = new["id"] = tbl.next_id
            tbl.next_id += 1
        elif rid in tbl.times and tbl.current(rid) is not None:
            raise UniqueViolation(f"duplicate key value violates {table}_pkey: id={rid!r}")
        ukey = self._check_unique(tbl, new, rid)
        if ukey is not None:
            tbl.unique_index[ukey] = rid
        tbl.write(self.sim.env.now, rid, new)
        if effect:
            once = effect_key is not None or ukey is not None
            if effect_key is None:
                suffix = ":".join(map(str, ukey)) if ukey is not None else str(rid)
                effect_key = f"{table}:{suffix}"
            self.sim.record("effect", getattr(job, "jid", job), effect_key, "db", once)
        return new

    def update(self, table: str, where: Mapping[str, Any], changes: Mapping[str, Any]) -> int:
        """Apply ``changes`` to every primary row matching ``where``; returns the count.

        Updates record no effect (they are state, not actions on the world). A change
        that would break the unique constraint raises ``UniqueViolation`` before any
        row is written.
        """
        tbl = self.table(table)
        now = self.sim.env.now
        targets = [(r["id"], {**r, **changes}) for r in _primary_rows(tbl, where, now)]
        keys = [self._check_unique(tbl, new, rid) for rid, new in targets]
        if tbl.unique and len(set(keys)) < len(keys):
            raise UniqueViolation(f"update would give rows of {table} the same unique key")
        for (rid, new), ukey in zip(targets, keys, strict=True):
            self._unindex_unique(tbl, rid)
            if ukey is not None:
                tbl.unique_index[ukey] = rid
            tbl.write(now, rid, new)
        return len(targets)

    def delete(self, table: str, where: Mapping[str, Any]) -> int:
        """Delete every primary row matching ``where``; returns the count. No effect."""
        tbl = self.table(table)
        now = self.sim.env.now
        rids = [r["id"] for r in _primary_rows(tbl, where, now)]
        for rid in rids:
            self._unindex_unique(tbl, rid)
            tbl.write(now, rid, None)
        return len(rids)

    @staticmethod
    def _unindex_unique(tbl: Table, rid: Hashable) -> None:
        current = tbl.current(rid)
        if tbl.unique and current is not None:
            old = _values(current, tbl.unique)
            if tbl.unique_index.get(old) == rid:
                del tbl.unique_index[old]

    @staticmethod
    def _check_unique(tbl: Table, row: Row, rid: Hashable) -> tuple[Any, ...] | None:
        if not tbl.unique:
            return None
        ukey = _values(row, tbl.unique)
        holder = tbl.unique_index.get(ukey)
        if holder is not None and holder != rid:
            cols = ", ".join(tbl.unique)
            raise UniqueViolation(
                f"duplicate key value violates unique constraint {tbl.name}({cols})={ukey!r}"
            )
        return ukey
