"""One sweep task, run on a worker: a (point, variant, seed) run reduced to one row.

A task returns verdicts and a few metrics, never the history: a row is a few hundred
bytes where a history is megabytes, so the scheduler and the network carry only what the
table keeps. Everything in a row is a pure function of (document, variant, seed, scale,
code): no wall-clock field, so the table is the same on any cluster.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import msgspec

# Always in the row: what an operator asks first about a run that failed.
BASE_METRICS = ("jobs.lost", "jobs.dead", "effects.duplicates")
# A run that raised on its worker: not a verdict on the job system, a bug to look at.
ERROR = "ERROR"
_OPS = {"min": ">=", "max": "<=", "equals": "=="}


@dataclass(frozen=True)
class Spec:
    """What a worker needs to run one task; plain data, so it pickles to any worker."""

    point: str                      # the point's label (``base`` without --set)
    settings: tuple[tuple[str, Any], ...]
    variant: str                    # "" for the base story
    seed: int
    scale: float
    doc: bytes                      # the point's scenario document, as JSON
    file: str                       # the scenario file, for error messages
    replay: str                     # the scenario argument of the replay command
    metrics: tuple[str, ...] = field(default=())   # extra metric paths to keep

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.point, self.variant, self.seed)


def run(spec: Spec) -> dict[str, Any]:
    """The task's row; a run that raises gives a failed row carrying the error."""
    try:
        from jobsim.scenario.notes import silenced
        from jobsim.scenario.runner import run_scenario

        with silenced():                       # the sweep command said them once
            scenario = _scenario(spec.doc, spec.file)
        result = run_scenario(scenario, seed=spec.seed, variant=spec.variant or None,
                              scale=spec.scale)
        return row(spec, result.metrics, story_metric(result.scenario))
    except Exception as exc:     # a worker-side bug must show in the table, not vanish
        return {**_head(spec), "digest": "", "ok": False, "verdict": ERROR, "verdicts": {},
                "metrics": {},
                "error": f"{type(exc).__name__}: {exc}"}


def row(spec: Spec, metrics: dict[str, Any], story: str | None) -> dict[str, Any]:
    """The table row of a finished run, from its metrics.json document."""
    from jobsim.checks.verdicts import GOOD
    from jobsim.report.metrics import lookup
    from jobsim.report.summary import verdict

    verdicts = {f"check:{name}": c["ok"] for name, c in metrics["checks"].items()}
    kept: dict[str, Any] = {}
    for rule in metrics["expectations"]:
        verdicts[expectation_name(rule)] = rule["ok"]     # None: no data to judge
        kept[rule["metric"]] = _number(rule["actual"])
    for name, c in metrics["checks"].items():
        kept[f"violations.{name}"] = c["violations"]
    for path in (*BASE_METRICS, *([story] if story else []), *spec.metrics):
        kept[path] = _number(lookup(metrics, path))
    word = verdict(metrics)
    out = {**_head(spec), "digest": metrics["history_digest"], "ok": word in GOOD,
           "verdict": word, "verdicts": verdicts, "metrics": kept}
    if story:
        out["story_metric"] = story
    return out


def expectation_name(rule: dict[str, Any]) -> str:
    """``expect:queues.critical.latency_p99_s<=5``."""
    value = rule["value"]
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return f"expect:{rule['metric']}{_OPS.get(rule['op'], rule['op'])}{text}"


def story_metric(scenario: Any) -> str | None:
    """The scenario's story metric (``story: {metric: ...}``), when it declares one."""
    story = getattr(scenario, "story", None)
    if story is None:
        return None
    metric = story.get("metric") if isinstance(story, dict) else getattr(story, "metric", None)
    return str(metric) if metric else None


def replay(spec: Spec) -> str:
    """The command that replays this task's run (relative to the sweep's folder when the
    point's document was written there)."""
    words = ["jobsim", "simulate", spec.replay, "--seed", str(spec.seed)]
    if spec.scale != 1.0:
        words += ["--scale", f"{spec.scale:g}"]
    if spec.variant:
        words += ["--variant", spec.variant]
    return shlex.join(words)


def _head(spec: Spec) -> dict[str, Any]:
    return {"point": spec.point, "settings": dict(spec.settings), "variant": spec.variant,
            "seed": spec.seed, "replay": replay(spec)}


def _number(value: Any) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else (
        None if value is None or isinstance(value, dict | list) else value)


@lru_cache(maxsize=16)
def _scenario(doc: bytes, file: str) -> Any:
    """The validated scenario; cached, since a worker runs many seeds of one point."""
    return validate(msgspec.json.decode(doc), file)


def validate(raw: dict[str, Any], file: str, scale: float = 1.0, node: Any = None) -> Any:
    """A document through the normal scenario loader, its references resolved as they
    are at ``scale`` too (raises ScenarioError; ``node``, the file's composed YAML,
    gives the problems their lines)."""
    from jobsim.checks.registry import NAMES
    from jobsim.scenario import build, load_document
    from jobsim.scenario.jobs import base_library
    from jobsim.scenario.references import check_references

    return load_document(raw, known_jobs=base_library(), known_faults=build.FAULT_NAMES,
                         known_checks=NAMES, file=file, stem=Path(file).stem,
                         references=check_references, scale=scale, node=node)
