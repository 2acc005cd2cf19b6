"""metrics.json: the numbers a run is judged and compared by, computed from its history.

Reads only the history and the checkers' verdicts (never the simulator), so a saved
``history.jsonl.gz`` gives the same metrics later or on another machine. The keys follow
DESIGN.md's public contract; keys may be added, never renamed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from jobsim.checks import no_loss
from jobsim.checks.priority import queue_latency_stats
from jobsim.checks.result import CheckResult
from jobsim.sim.events import STATE_OF
from jobsim.sim.history import History

FINAL_STATES = ("succeeded", "dead", "discarded", "canceled")
_ORIGINS = frozenset({"enqueue", "schedule", "defer"})


def job_counts(history: History) -> dict[str, int]:
    """Jobs by final state, executions and retries, in one pass."""
    state: dict[str, str] = {}
    executions = retries = 0
    for event in history.events:
        kind = event[1]
        if kind == "start":
            executions += 1
            if event[6]:
                continue
        elif kind == "retry":
            retries += 1
        elif kind == "success" and event[3]:
            continue
        target = STATE_OF.get(kind)
        if target is not None:
            state[event[2]] = target
    finals = Counter(state.values())
    out = {name: finals.get(name, 0) for name in FINAL_STATES}
    out.update(enqueued=len(state), executions=executions, retries=retries)
    return out


def effect_counts(history: History) -> dict[str, int]:
    seen: Counter[str] = Counter()
    total = 0
    for event in history.events:
        if event[1] == "effect":
            total += 1
            if event[5]:
                seen[event[3]] += 1
    return {"total": total, "duplicates": sum(n - 1 for n in seen.values() if n > 1)}


def retry_load(history: History) -> dict[str, Any]:
    """Retries per retry number, and the peak of retried executions in any minute."""
    by_attempt: Counter[int] = Counter()
    per_minute: Counter[int] = Counter()
    for event in history.events:
        kind = event[1]
        if kind == "retry":
            by_attempt[event[3]] += 1
        elif kind == "start" and event[5] > 1:
            per_minute[int(event[0] // 60)] += 1
    top = max(by_attempt, default=-1)
    return {"by_attempt": [by_attempt.get(k, 0) for k in range(top + 1)],
            "peak_per_minute": max(per_minute.values(), default=0)}


def highlights(history: History) -> list[list[Any]]:
    """Scenario-specific lines for the summary: duplicate emails under the idempotency
    guard the config event names (so replica_lag's variants read side by side)."""
    config = next((e[3] for e in history.events if e[1] == "config"), None) or {}
    guard = ((config.get("safeguards") or {}).get("idempotency") or {}).get("guard")
    if guard is None:
        return []
    seen: Counter[str] = Counter()
    for event in history.events:
        if event[1] == "effect" and event[5] and event[4] == "email":
            seen[event[3]] += 1
    if not seen:
        return []
    return [[f"duplicate emails (guard={guard})", sum(n - 1 for n in seen.values())]]


def order_counts(history: History) -> dict[str, int]:
    """The seed's order errors, from effect keys: orders fulfilled before their capture
    (``fulfilled_before_capture:O``), or fulfilled (``fulfil:O``) and never captured
    (no ``payment:O``). ``errors`` counts each order once."""
    fulfilled: set[str] = set()
    early: set[str] = set()
    captured: set[str] = set()
    sets = {"fulfil": fulfilled, "fulfilled_before_capture": early, "payment": captured}
    for event in history.of_kind("effect"):
        kind, _, order = str(event[3]).partition(":")
        found = sets.get(kind)
        if found is not None:
            found.add(order)
    uncaptured = fulfilled - captured
    return {"fulfilled": len(fulfilled), "fulfilled_before_capture": len(early),
            "fulfilled_uncaptured": len(uncaptured), "errors": len(early | uncaptured)}


def service_load(history: History) -> dict[str, dict[str, float]]:
    """Per service, the load figures the world records at the end of a run
    (``sample("service.NAME.STAT", value)``): calls that reached it, peak calls per
    second over the run and since it last recovered from a fault, calls refused by its
    circuit breaker. Service names may contain dots; the stat is the last part."""
    out: dict[str, dict[str, float]] = {}
    for event in history.events:
        if event[1] == "sample" and event[3].startswith("service."):
            service, _, stat = event[3][len("service."):].rpartition(".")
            out.setdefault(service, {})[stat] = event[4]
    return {name: out[name] for name in sorted(out)}


def failure_counts(history: History) -> dict[str, int]:
    """Failed executions by error class (non-dup), e.g. how many PoolTimeout."""
    errors: Counter[str] = Counter()
    for event in history.events:
        if event[1] == "failure" and not event[5]:
            errors[event[3]] += 1
    return dict(sorted(errors.items()))


def compute(history: History, checks: dict[str, CheckResult], meta: dict[str, Any],
            expect: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The full metrics.json document for one run."""
    loss = checks.get("no_loss") or no_loss.check(history)
    jobs = job_counts(history)
    jobs["lost"] = loss.stats.get("lost", 0)
    jobs["in_flight"] = loss.stats.get("in_flight", 0)
    metrics: dict[str, Any] = {
        "scenario": meta.get("scenario"), "variant": meta.get("variant"),
        "seed": meta.get("seed"), "broker": meta.get("broker"),
        "history_digest": meta.get("history_digest") or history.digest(),
        "sim_seconds": meta.get("sim_seconds"), "wall_seconds": meta.get("wall_seconds"),
        "scale": meta.get("scale", 1.0),
        "events": len(history),
        "jobs": jobs,
        "effects": effect_counts(history),
        "queues": _queues(history, checks),
        "retries": retry_load(history),
        "services": service_load(history),
        "failures": failure_counts(history),
        "orders": order_counts(history),
        "checks": {name: result.to_dict() for name, result in checks.items()},
        "highlights": highlights(history),
    }
    metrics["expectations"] = evaluate(metrics, expect or [])
    return metrics


def _queues(history: History, checks: dict[str, CheckResult]) -> dict[str, Any]:
    """Per-queue latency: the priority check already measured it when it ran."""
    priority = checks.get("priority")
    if priority is not None and "queues" in priority.stats:
        return priority.stats["queues"]
    return queue_latency_stats(history)


def lookup(metrics: dict[str, Any], path: str) -> Any:
    """A dotted path into the metrics (``queues.critical.latency_p99_s``); None if absent."""
    node: Any = metrics
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def evaluate(metrics: dict[str, Any], expect: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each expectation with its actual value and verdict; a missing metric fails."""
    results = []
    for rule in expect:
        actual = lookup(metrics, rule["metric"])
        for op in ("min", "max", "equals"):
            if rule.get(op) is None:
                continue
            value = rule[op]
            if actual is None or isinstance(actual, dict | list):
                ok = False
            elif op == "min":
                ok = actual >= value
            elif op == "max":
                ok = actual <= value
            else:
                ok = actual == value
            results.append({"metric": rule["metric"], "op": op, "value": value,
                            "actual": actual, "ok": bool(ok)})
    return results
