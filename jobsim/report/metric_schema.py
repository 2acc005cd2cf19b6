"""The shape of metrics.json, written down once: what an ``expect`` path may name.

``expect: [{metric: queues.critical.latency_p99_s, max: 5}]`` is checked against this
tree when the scenario loads, so a typo (``queues.critical.p99``) or a queue that does
not exist fails at once instead of failing the run's verdict an hour later. A ``<name>``
key stands for any member of a vocabulary the caller supplies (the scenario's queues,
the world's services, ...); ``ANY`` is a subtree whose keys are free (check statistics).
A plug-in's metrics hook adds top-level sections; it describes them in the same form
(``Plugin.metrics_schema``) and the caller passes them in.
docs/scenarios.md lists the same paths (``rows()``), and a test keeps the two and a real
metrics.json in step.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from jobsim.report.job_classes import ENDINGS
from jobsim.report.metrics import FINAL_STATES

NUMBER, BOOLEAN, STRING, ANY = "number", "boolean", "string", "any"

QUEUE_STATS = ("latency_mean_s", "latency_p50_s", "latency_p95_s", "latency_p99_s",
               "latency_max_s", "max_depth", "fetched")
JOB_COUNTS = (*FINAL_STATES, "enqueued", "executions", "retries", "lost", "in_flight")
_TIMES = tuple(f"{label}_{stat}_s" for label in ("latency", "run_time")
               for stat in ("mean", "p50", "p95", "p99", "max"))
JOB_CLASS_STATS: dict[str, Any] = {
    **dict.fromkeys(("enqueued", "executions", "succeeded", *_TIMES, *ENDINGS), NUMBER),
    **{f"{name}_by_error": {"<error>": NUMBER} for name in ENDINGS},
}

# key -> leaf kind or subtree; "<vocabulary>" keys match any member of that vocabulary.
SCHEMA: dict[str, Any] = {
    "scenario": STRING,
    "variant": STRING,
    "seed": NUMBER,
    "broker": STRING,
    "history_digest": STRING,
    "sim_seconds": NUMBER,
    "wall_seconds": NUMBER,
    "scale": NUMBER,
    "system": {"processes": NUMBER, "concurrency": NUMBER, "threads": NUMBER},
    "description": STRING,
    "reproduces": BOOLEAN,
    "verdict": STRING,
    "faults": ANY,
    "story": ANY,
    "events": NUMBER,
    "jobs": {**dict.fromkeys(JOB_COUNTS, NUMBER),
             "dead_by_reason": {"<reason>": NUMBER}, "discarded_by_reason": {"<reason>": NUMBER}},
    "effects": {"total": NUMBER, "duplicates": NUMBER},
    "queues": {"<queue>": dict.fromkeys(QUEUE_STATS, NUMBER)},
    "jobs_by_class": {"<job>": JOB_CLASS_STATS},
    "retries": {"by_attempt": {"<index>": NUMBER}, "peak_per_minute": NUMBER},
    "services": {"<service>": {"<service_stat>": NUMBER}},
    "failures": {"<error>": NUMBER},
    "checks": {"<check>": {"ok": BOOLEAN, "verdict": STRING, "error": STRING,
                           "violations": NUMBER, "stats": ANY}},
}
# Vocabularies whose members are not known before a run: any name is accepted.
OPEN_VOCABULARIES = ("error", "reason")


# Counter maps keyed by what happened (an error class, a reason, a retry number): a
# key is written only once it occurred, so an absent one counted nothing.
COUNTED_BY = ("<error>", "<reason>", "<index>")


def zero_when_absent(path: str) -> bool:
    """Whether PATH is a count in a map keyed by what happened
    (``jobs.dead_by_reason.abandoned``, ``failures.KeyError``): metrics.json leaves
    such a key out when nothing happened, so its absence is 0, not a missing metric."""
    node: Any = SCHEMA
    for part in path.split("."):
        if not isinstance(node, dict):
            return False
        if part in node:
            node, wild = node[part], False
        else:
            key = next((k for k in node if k.startswith("<")), None)
            if key is None:
                return False
            node, wild = node[key], key in COUNTED_BY
    return wild and node == NUMBER


class MetricPathError(ValueError):
    """An ``expect`` path that metrics.json can never hold; the message says why."""


def leaf(path: str, vocabularies: Mapping[str, Collection[str]],
         plugins: Mapping[str, Any] | None = None) -> str:
    """The kind (NUMBER, BOOLEAN, STRING or ANY) at PATH, or MetricPathError.
    ``plugins``: the sections plug-ins' metrics hooks add (their ``metrics_schema``)."""
    node: Any = {**SCHEMA, **(plugins or {})}
    parts = path.split(".")
    for depth, part in enumerate(parts):
        if node == ANY:
            return ANY
        if not isinstance(node, dict):
            done = ".".join(parts[:depth])
            raise MetricPathError(f"{done!r} is a {node}, it has no {part!r}")
        node = _step(node, part, ".".join(parts[:depth]), vocabularies)
    if isinstance(node, dict):
        keys = ", ".join(sorted(node))
        raise MetricPathError(f"{path!r} is a section, not a value; under it: {keys}")
    return node


def _step(node: dict[str, Any], part: str, at: str,
          vocabularies: Mapping[str, Collection[str]]) -> Any:
    if part in node:
        return node[part]
    wild = next((key for key in node if key.startswith("<")), None)
    if wild is None:
        where = f"under {at!r}" if at else "at the top"
        raise MetricPathError(f"no metric {part!r} {where}{_suggest(part, node)}; "
                              f"valid: {', '.join(sorted(node))}")
    vocabulary = wild[1:-1]
    if vocabulary == "index":
        if part.isdigit():
            return node[wild]
        raise MetricPathError(f"expected a 0-based index under {at!r}, got {part!r}")
    if vocabulary in OPEN_VOCABULARIES or vocabulary not in vocabularies:
        return node[wild]
    known = vocabularies[vocabulary]
    if part not in known:
        listed = ", ".join(sorted(known)) or "(none)"
        raise MetricPathError(f"{at}: no {vocabulary.replace('_', ' ')} {part!r} in this "
                              f"scenario{_suggest(part, known)}; valid: {listed}")
    return node[wild]


def _suggest(name: str, choices: Collection[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(choices), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def rows() -> list[tuple[str, str]]:
    """(path pattern, kind) for every leaf, as docs/scenarios.md lists them."""
    out: list[tuple[str, str]] = []

    def walk(node: Any, prefix: str) -> None:
        if not isinstance(node, dict):
            out.append((prefix + (".*" if node == ANY else ""), node))
            return
        for key, child in node.items():
            walk(child, f"{prefix}.{key}" if prefix else key)

    walk(SCHEMA, "")
    return out
