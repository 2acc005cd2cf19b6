"""What a sweep's table says, per (point, variant): how often each check and
expectation held (with a Wilson 95 % interval), the spread of the story metric across
seeds, and the worst seeds with the commands that replay them.

Built from the rows alone (``rows.jsonl``), so a summary can be redone from a table
without re-running anything. Written as summary.md and printed by ``--json``.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jobsim.checks.verdicts import GOOD, NOT_REPRODUCED, REPRODUCED
from jobsim.sweep.interval import wilson
from jobsim.sweep.task import ERROR

WORST = 3


def summarize(rows: Sequence[dict[str, Any]], meta: dict[str, Any],
              folder: Path) -> dict[str, Any]:
    """The sweep's summary document (``--json``)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["point"], row["variant"]), []).append(row)
    return {**meta, "tasks": len(rows),
            "groups": [_group(members, meta.get("metrics", []), folder)
                       for members in groups.values()]}


def _group(rows: list[dict[str, Any]], extra: Sequence[str], folder: Path) -> dict[str, Any]:
    first = rows[0]
    reproduces = any(r["verdict"] in (REPRODUCED, NOT_REPRODUCED) for r in rows)
    names = sorted({name for r in rows for name in r["verdicts"]})
    story = next((r["story_metric"] for r in rows if r.get("story_metric")), None)
    paths = _metric_paths(rows, story, extra)
    return {
        "point": first["point"], "settings": first["settings"], "variant": first["variant"],
        "runs": len(rows), "errors": sum(r["verdict"] == ERROR for r in rows),
        "outcome": "reproduced" if reproduces else "passed",
        "verdict": wilson(sum(r["verdict"] in GOOD for r in rows), len(rows)).to_dict(),
        "verdicts": {name: wilson(sum(r["verdicts"].get(name) is True for r in rows),
                                  len(rows)).to_dict() for name in names},
        "story_metric": story,
        "metrics": {path: spread([r["metrics"].get(path) for r in rows]) for path in paths},
        "worst": [_worst(r, story, folder) for r in worst(rows, story)],
    }


def _metric_paths(rows: list[dict[str, Any]], story: str | None,
                  extra: Sequence[str]) -> list[str]:
    """The story metric first, then --metric paths, then the rest of the row's metrics
    (violation counts are in the verdicts already)."""
    rest = sorted({path for r in rows for path, value in r["metrics"].items()
                   if not path.startswith("violations.")
                   and isinstance(value, int | float) and not isinstance(value, bool)})
    out: list[str] = []
    for path in (*([story] if story else []), *extra, *rest):
        if path not in out:
            out.append(path)
    return out


def spread(values: Sequence[Any]) -> dict[str, Any]:
    """Median, p95 (linear interpolation, as numpy's default) and max of the numbers;
    ``no_data`` counts the runs where the metric had no value."""
    numbers = sorted(float(v) for v in values if isinstance(v, int | float)
                     and not isinstance(v, bool) and not math.isnan(v))
    out: dict[str, Any] = {"runs": len(numbers), "no_data": len(values) - len(numbers)}
    if numbers:
        out |= {"median": quantile(numbers, 0.5), "p95": quantile(numbers, 0.95),
                "max": numbers[-1]}
    else:
        out |= {"median": None, "p95": None, "max": None}
    return out


def quantile(ordered: Sequence[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def worst(rows: list[dict[str, Any]], story: str | None) -> list[dict[str, Any]]:
    """The seeds that did not come out well, worst first: most verdicts broken, then most
    violations, then the largest story metric; the seed breaks ties."""
    bad = [r for r in rows if r["verdict"] not in GOOD]

    def badness(r: dict[str, Any]) -> tuple[float, ...]:
        broken = sum(v is False for v in r["verdicts"].values())
        violations = sum(v or 0 for k, v in r["metrics"].items()
                         if k.startswith("violations."))
        value = r["metrics"].get(story) if story else None
        return (-broken, -violations, -(value if isinstance(value, int | float) else 0),
                r["seed"])

    return sorted(bad, key=badness)[:WORST]


def _worst(row: dict[str, Any], story: str | None, folder: Path) -> dict[str, Any]:
    out = {"seed": row["seed"], "verdict": row["verdict"],
           "broken": sorted(k for k, v in row["verdicts"].items() if v is False),
           "replay": replay_command(row["replay"], folder)}
    if row.get("error"):
        out["error"] = row["error"]
    if story:
        out[story] = row["metrics"].get(story)
    return out


def replay_command(command: str, folder: Path) -> str:
    """A row's replay command, runnable from here: a point's document lives in the
    sweep's folder, which the table itself never names (its bytes must not depend on
    where it was written)."""
    words = shlex.split(command)
    if len(words) > 2 and words[2].startswith("points/"):
        words[2] = str(folder / words[2])
    return shlex.join(words)


def markdown(summary: dict[str, Any]) -> str:
    """summary.md."""
    s = summary
    lines = [f"# Sweep: {s['scenario']}", "",
             f"{s['tasks']} runs: {len(s['points'])} point(s) x {len(s['variants'])} "
             f"variant(s) x {len(s['seeds'])} seed(s) ({_seeds(s['seeds'])}), scale "
             f"{s['scale']:g}. One row per run in `rows.csv` and `rows.jsonl`; chart in "
             "`sweep.html`.", "",
             "Rates are passes/runs with a Wilson 95 % confidence interval. A variant that "
             "reproduces a known failure counts the seeds that reproduced it.", "",
             "## Verdicts", "", "| point | variant | outcome | rate | 95 % CI | errors |",
             "|---|---|---|---|---|---|"]
    for g in s["groups"]:
        v = g["verdict"]
        lines.append(f"| {g['point']} | {g['variant'] or 'base'} | {g['outcome']} "
                     f"{v['passes']}/{v['runs']} | {_pct(v['rate'])} | "
                     f"{_pct(v['low'])}-{_pct(v['high'])} | {g['errors']} |")
    lines += ["", "## Checks and expectations", "",
              "| point | variant | check or expectation | held | 95 % CI |",
              "|---|---|---|---|---|"]
    for g in s["groups"]:
        for name, v in g["verdicts"].items():
            lines.append(f"| {g['point']} | {g['variant'] or 'base'} | `{name}` | "
                         f"{v['passes']}/{v['runs']} | {_pct(v['low'])}-{_pct(v['high'])} |")
    lines += ["", "## Metrics across seeds", "",
              "| point | variant | metric | median | p95 | max | no data |",
              "|---|---|---|---|---|---|---|"]
    for g in s["groups"]:
        for path, m in g["metrics"].items():
            star = " (story)" if path == g["story_metric"] else ""
            lines.append(f"| {g['point']} | {g['variant'] or 'base'} | `{path}`{star} | "
                         f"{_num(m['median'])} | {_num(m['p95'])} | {_num(m['max'])} | "
                         f"{m['no_data']} |")
    lines += ["", "## Worst seeds", ""]
    for g in s["groups"]:
        title = f"{g['point']} / {g['variant'] or 'base'}"
        if not g["worst"]:
            lines.append(f"- {title}: every seed {g['outcome']}.")
            continue
        for w in g["worst"]:
            why = w.get("error") or ", ".join(f"`{b}`" for b in w["broken"]) or "-"
            lines.append(f"- {title}, seed {w['seed']}: {w['verdict']} ({why})  \n"
                         f"  `{w['replay']}`")
    return "\n".join(lines) + "\n"


def _seeds(seeds: Sequence[int]) -> str:
    if seeds and list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}..{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _pct(rate: float) -> str:
    return f"{100 * rate:.1f} %"


def _num(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:,.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
