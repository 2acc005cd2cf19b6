"""metrics.json: the numbers a run is judged and compared by, computed from its history.

Reads only the history and the checkers' verdicts (never the simulator), so a saved
``history.jsonl.gz`` gives the same metrics later or on another machine. The keys follow
the public contract (docs/design.md); keys may be added, never renamed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jobsim.checks import no_loss
from jobsim.checks.priority import queue_latency_stats
from jobsim.checks.result import CheckResult
from jobsim.history.events import STATE_OF, index
from jobsim.history.history import History
from jobsim.report import job_classes
from jobsim.report.summary import verdict

FINAL_STATES = ("succeeded", "dead", "discarded", "canceled")


_START_ATTEMPT, _START_DUP = index("start", "attempt"), index("start", "dup")
_SUCCESS_DUP = index("success", "dup")
_RETRY_COUNT = index("retry", "count")
_FAILURE_ERROR, _FAILURE_DUP = index("failure", "error"), index("failure", "dup")
_EFFECT_KEY = index("effect", "key")
_EFFECT_ONCE = index("effect", "once")
_SAMPLE_NAME, _SAMPLE_VALUE = index("sample", "name"), index("sample", "value")


def tally(history: History) -> dict[str, Any]:
    """Every history-derived section of metrics.json from ONE pass over the events (a
    pass costs about 0.1 s on black_friday's half a million events; there were seven).

    Sections: ``jobs`` (by final state, executions, retries); ``effects`` (total, and
    repeats of once-only keys); ``retries`` (per retry number, peak retried executions
    in a minute); ``services`` (each service's ``sample("service.NAME.STAT")`` values:
    names may contain dots, the stat is the last part); ``failures`` (non-dup failed
    executions by error class). Application metrics come from plug-ins' metrics hooks
    (``compute``'s ``extra``), not from here."""
    counts = Tally()
    counts.feed(history.events)
    return counts.result()


class Tally:
    """``tally`` fed the events in consecutive pieces (scenario/judge.py feeds it while
    the run records them)."""

    def __init__(self) -> None:
        self.state: dict[str, str] = {}
        self.executions = self.retries = self.effects = 0
        self.by_attempt: Counter[int] = Counter()
        self.per_minute: Counter[int] = Counter()
        self.once: dict[Any, int] = {}   # plain dicts: Counter's __missing__ is a Python call
        self.services: dict[str, dict[str, float]] = {}
        self.errors: Counter[str] = Counter()
        self.endings: dict[str, Counter[str]] = {"dead": Counter(), "discard": Counter()}

    def feed(self, events: Iterable[tuple[Any, ...]]) -> None:
        state, by_attempt, per_minute = self.state, self.by_attempt, self.per_minute
        once, services, errors, endings = self.once, self.services, self.errors, self.endings
        executions, retries, effects = self.executions, self.retries, self.effects
        state_of = STATE_OF
        for event in events:
            kind = event[1]
            if kind == "start":
                executions += 1
                if event[_START_ATTEMPT] > 1:
                    per_minute[int(event[0] // 60)] += 1
                if not event[_START_DUP]:
                    state[event[2]] = "processing"
            elif kind == "success":
                if not event[_SUCCESS_DUP]:
                    state[event[2]] = "succeeded"
            elif kind == "effect":
                effects += 1
                key = event[_EFFECT_KEY]
                if event[_EFFECT_ONCE]:
                    once[key] = once.get(key, 0) + 1
            else:
                if kind == "retry":
                    retries += 1
                    by_attempt[event[_RETRY_COUNT]] += 1
                elif kind == "failure":
                    if not event[_FAILURE_DUP]:
                        errors[event[_FAILURE_ERROR]] += 1
                elif kind == "sample":
                    name = event[_SAMPLE_NAME]
                    if name.startswith("service."):
                        service, _, stat = name[len("service."):].rpartition(".")
                        services.setdefault(service, {})[stat] = event[_SAMPLE_VALUE]
                elif kind == "dead" or kind == "discard":
                    endings[kind][event[3]] += 1
                target = state_of.get(kind)
                if target is not None:
                    state[event[2]] = target
        self.executions, self.retries, self.effects = executions, retries, effects

    def result(self) -> dict[str, Any]:
        finals = Counter(self.state.values())
        jobs = {name: finals.get(name, 0) for name in FINAL_STATES}
        jobs.update(enqueued=len(self.state), executions=self.executions,
                    retries=self.retries,
                    dead_by_reason=dict(sorted(self.endings["dead"].items())),
                    discarded_by_reason=dict(sorted(self.endings["discard"].items())))
        by_attempt, services = self.by_attempt, self.services
        top = max(by_attempt, default=-1)
        return {
            "jobs": jobs,
            "effects": {"total": self.effects,
                        "duplicates": sum(n - 1 for n in self.once.values() if n > 1)},
            "retries": {"by_attempt": [by_attempt.get(k, 0) for k in range(top + 1)],
                        "peak_per_minute": max(self.per_minute.values(), default=0)},
            "services": {name: services[name] for name in sorted(services)},
            "failures": dict(sorted(self.errors.items())),
        }


@dataclass
class Passes:
    """What ``compute`` reads from the history's events, when something already read
    it (scenario/judge.py, while the run recorded it): ``tally``'s sections, the no_loss
    verdict, per-queue latency (None: the priority check's stats have it) and
    ``jobs_by_class``."""

    tally: dict[str, Any]
    loss: CheckResult
    queues: dict[str, Any] | None
    classes: dict[str, dict[str, Any]]


def compute(history: History, checks: dict[str, CheckResult], meta: dict[str, Any],
            expect: list[dict[str, Any]] | None = None,
            extra: list[Mapping[str, Any]] | None = None,
            passes: Passes | None = None) -> dict[str, Any]:
    """The full metrics.json document for one run. ``extra``: what plug-ins' metrics
    hooks returned; each section joins the top level (it may not replace a built-in
    one), and ``highlights`` rows join the run's highlights. ``passes``: the history's
    passes done already; without them they are made here."""
    if passes is None:
        loss = checks.get("no_loss") or no_loss.check(history)
        parts, classes, queues = tally(history), job_classes.stats(history), None
    else:
        loss, parts, classes, queues = passes.loss, passes.tally, passes.classes, passes.queues
    jobs = parts["jobs"]
    jobs["lost"] = loss.stats.get("lost", 0)
    jobs["in_flight"] = loss.stats.get("in_flight", 0)
    metrics: dict[str, Any] = {
        "scenario": meta.get("scenario"), "variant": meta.get("variant"),
        "seed": meta.get("seed"), "broker": meta.get("broker"),
        "history_digest": meta.get("history_digest") or history.digest(),
        "sim_seconds": meta.get("sim_seconds"), "wall_seconds": meta.get("wall_seconds"),
        "scale": meta.get("scale", 1.0),
        **({"system": meta["system"]} if "system" in meta else {}),   # the threads that ran
        "description": meta.get("description"),
        "reproduces": bool(meta.get("reproduces")),
        "faults": list(meta.get("faults") or []),
        "events": len(history),
        "jobs": jobs,
        "effects": parts["effects"],
        "queues": queues if queues is not None else _queues(history, checks),
        "jobs_by_class": classes,
        "retries": parts["retries"],
        "services": parts["services"],
        "failures": parts["failures"],
        "checks": {name: result.to_dict() for name, result in checks.items()},
        "highlights": [],
    }
    for sections in extra or []:
        _merge_plugin(metrics, sections)
    metrics["expectations"] = evaluate(metrics, expect or [])
    story = meta.get("story")
    if story:
        metrics["story"] = {**story, "value": lookup(metrics, story["metric"])}
    metrics["verdict"] = verdict(metrics)
    return metrics


def _merge_plugin(metrics: dict[str, Any], sections: Mapping[str, Any]) -> None:
    for key, value in sections.items():
        if key == "highlights":
            metrics["highlights"].extend(value)
        elif key in metrics:
            raise ValueError(f"a plug-in's metrics section {key!r} would replace a built-in one")
        else:
            metrics[key] = value


def _queues(history: History, checks: dict[str, CheckResult]) -> dict[str, Any]:
    """Per-queue latency: the priority check already measured it when it ran."""
    priority = checks.get("priority")
    if priority is not None and "queues" in priority.stats:
        return priority.stats["queues"]
    return queue_latency_stats(history)


_ABSENT = object()


def _find(metrics: dict[str, Any], path: str) -> Any:
    node: Any = metrics
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _ABSENT
    return node


def _counted(metrics: dict[str, Any], path: str) -> Any:
    """``_find``, with 0 for an absent count of something that never happened
    (``jobs.dead_by_reason.abandoned`` when no job was abandoned): its map exists but
    holds only what occurred."""
    from jobsim.report.metric_schema import zero_when_absent

    node = _find(metrics, path)
    if node is _ABSENT and zero_when_absent(path):
        parent = _find(metrics, path.rpartition(".")[0])
        if isinstance(parent, dict | list):
            return 0
    return node


def lookup(metrics: dict[str, Any], path: str) -> Any:
    """A dotted path into the metrics (``queues.critical.latency_p99_s``); None if absent,
    0 for a count of something that never happened."""
    node = _counted(metrics, path)
    return None if node is _ABSENT else node


def evaluate(metrics: dict[str, Any], expect: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each expectation with its actual value and verdict: a missing metric fails (but
    an absent count of something that never happened is 0); a metric with no data
    (null) is ``ok: None``, which makes the run's verdict UNKNOWN."""
    results = []
    for rule in expect:
        found = _counted(metrics, rule["metric"])
        actual = None if found is _ABSENT else found
        for op in ("min", "max", "equals"):
            if rule.get(op) is None:
                continue
            value = rule[op]
            ok: bool | None
            if found is None:
                ok = None       # the metric exists but has no data: cannot be judged
            elif actual is None or isinstance(actual, dict | list):
                ok = False
            elif op == "min":
                ok = actual >= value
            elif op == "max":
                ok = actual <= value
            else:
                ok = actual == value
            results.append({"metric": rule["metric"], "op": op, "value": value,
                            "actual": actual, "ok": None if ok is None else bool(ok)})
    return results
