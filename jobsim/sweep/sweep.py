"""A whole sweep: plan the tasks, run those the table lacks, keep every row, summarise.

The folder (``--out``) is the sweep's state: ``sweep.json`` says what it sweeps,
``rows.jsonl`` holds finished runs, ``points/`` the documents of ``--set`` points (for
their replay commands). Rerunning into the same folder runs only the missing tasks, so
an interrupted sweep, or one that grows by seeds, points or variants, resumes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import yaml

from jobsim.sweep import grid, task
from jobsim.sweep.engine import Engine, open_engine
from jobsim.sweep.grid import PlanError, Point
from jobsim.sweep.table import Table

META = "sweep.json"
POINTS = "points"
Progress = Callable[[int, int], None]       # (done, total)


@dataclass
class Request:
    """What the user asked for (the command line, parsed)."""

    source: str
    seeds: list[int]
    sets: list[tuple[str, list[Any]]] = field(default_factory=list)
    variants: list[str] | None = None       # None: every variant and the base
    scale: float = 1.0
    metrics: list[str] = field(default_factory=list)


@dataclass
class Plan:
    meta: dict[str, Any]
    specs: list[task.Spec]
    points: list[Point]

    def order(self) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
        """Table order: the plan's (point, variant, seed); rows from an earlier, larger
        plan of the same folder follow, by their key."""
        rank = {spec.key: k for k, spec in enumerate(self.specs)}

        def key(row: dict[str, Any]) -> tuple[Any, ...]:
            k = (row["point"], row["variant"], row["seed"])
            return (rank.get(k, len(rank)), k)
        return key


def plan(request: Request, scenarios: Path) -> Plan:
    """Every task, validated: raises ScenarioError or PlanError before anything runs."""
    from jobsim.scenario.loader import read_nodes, resolve

    path = resolve(request.source, scenarios)
    raw, node = read_nodes(path)
    base = task.validate(raw, str(path), request.scale, node)
    variants = _variants(request.variants, list(base.variants))
    points = grid.points(request.sets)
    docs = {p: _point_doc(raw, p, str(path), request.scale) for p in points}
    specs = [task.Spec(point=p.label, settings=p.settings, variant=v, seed=seed,
                       scale=request.scale, doc=msgspec.json.encode(docs[p]), file=str(path),
                       replay=_replay_source(request.source, p), metrics=tuple(request.metrics))
             for p in points for v in variants for seed in request.seeds]
    meta = {"scenario": base.name, "source": request.source, "scale": request.scale,
            "document": _digest(raw), "seeds": request.seeds,
            "points": [p.label for p in points], "variants": variants,
            "metrics": request.metrics}
    return Plan(meta, specs, points)


def run(request: Request, out: Path, scenarios: Path, *, scheduler: str | None = None,
        workers: int | None = None, progress: Progress | None = None,
        engine: Engine | None = None) -> tuple[Plan, list[dict[str, Any]]]:
    """Plan, run what is missing from ``out``'s table, sort it; (plan, the plan's rows).
    ``engine``: run on this one instead of opening a cluster (tests, benchmarks)."""
    the_plan = plan(request, scenarios)
    _claim(out, the_plan)
    _write_points(out, the_plan)
    table = Table(out)
    todo = [s for s in the_plan.specs if s.key not in table]
    try:
        if todo and engine is not None:
            _collect(engine, todo, table, progress)
        elif todo:
            with open_engine(scheduler, workers) as opened:
                _collect(opened, todo, table, progress)
    finally:
        rows = table.finish(the_plan.order())
        table.close()
    wanted = {s.key for s in the_plan.specs}
    return the_plan, [r for r in rows if (r["point"], r["variant"], r["seed"]) in wanted]


def _collect(engine: Engine, todo: list[task.Spec], table: Table,
             progress: Progress | None) -> None:
    for done, (_, row) in enumerate(engine.run(task.run, todo), start=1):
        table.append(row)
        if progress is not None:
            progress(done, len(todo))


def _variants(asked: list[str] | None, known: list[str]) -> list[str]:
    if asked is None:
        return ["", *known]
    for name in asked:
        if name and name not in known:
            from jobsim.scenario.errors import unknown

            raise PlanError(f"--variant: {unknown('variant', name, known)}")
    return asked


def _point_doc(raw: dict[str, Any], point: Point, file: str, scale: float) -> dict[str, Any]:
    from jobsim.scenario.errors import ScenarioError

    doc = grid.apply_point(raw, point)
    try:
        task.validate(doc, file, scale)
    except ScenarioError as err:
        raise grid.check_point(err, point) from None
    return doc


def _replay_source(source: str, point: Point) -> str:
    return source if not point.settings else f"{POINTS}/{point.slug}.yaml"


def _digest(raw: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(msgspec.json.encode(raw, order="sorted")).hexdigest()


def _claim(out: Path, the_plan: Plan) -> None:
    """Refuse a folder that holds another sweep: its rows would mix two experiments."""
    meta_path = out / META
    new = the_plan.meta
    if meta_path.exists():
        old = msgspec.json.decode(meta_path.read_bytes())
        for name in ("scenario", "document", "scale"):
            if old.get(name) != new[name]:
                raise PlanError(f"--out {out}: holds a sweep with another {name} "
                                f"({old.get(name)!r}, not {new[name]!r}); choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    meta_path.write_bytes(msgspec.json.encode(new, order="sorted") + b"\n")


def _write_points(out: Path, the_plan: Plan) -> None:
    """Each ``--set`` point's document, so a failing seed replays with ``jobsim simulate``."""
    seen: set[str] = set()
    for spec in the_plan.specs:
        if not spec.settings or spec.point in seen:
            continue
        seen.add(spec.point)
        path = out / spec.replay
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(msgspec.json.decode(spec.doc), sort_keys=False))
