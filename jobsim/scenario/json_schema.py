"""``jobsim schema``: a JSON Schema for scenario files, taken from the loader itself.

The loader is run, in recording mode (``shapes``), over probe documents that open every
section (a service, a pool, one workload entry per arrival kind, a fault, an expectation,
a variant; once per flavour) and over the built-in scenarios. What it recorded -- each
mapping's keys and whether others are refused, each key's reader and that reader's
JSON fragment, which keys are required -- becomes the schema. A key added to the loader
appears in ``jobsim schema`` without touching this module.

The schema is a help for editors (completion, unknown keys, types), not the judge: the
loader's rules that span fields (a queue named in ``system.queues``, a target a process
has) are checked only when the file loads. Sections with more than one written form (a
pool as ``25`` or ``{size: 25}``) are given their keys but no type, so the schema never
refuses what the loader accepts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jobsim.scenario import shapes
from jobsim.scenario.loader import load_document, read_document
from jobsim.scenario.problems import attempt, collecting
from jobsim.scenario.shapes import Pattern, Shape
from jobsim.world.distributions import DISTRIBUTIONS

SCHEMA_ID = "https://jobsim.invalid/scenario.schema.json"
_ANY = "*"

_SECTIONS: dict[str, Any] = {
    "name": "probe",
    "description": "probe",
    "duration": "1h",
    "system": {"queues": ["default"], "safeguards": {},
               "capsules": {_ANY: {"concurrency": 1, "queues": ["default"]}}},
    "plugins": ["jobsim.shop"],           # the built-in plug-in: its world keys (export)
    "world": {"services": {_ANY: {"latency": {"dist": "exponential", "mean": "1s"}}},
              "pools": {_ANY: {"size": 1}}, "database": {}, "export": {},
              "tables": {_ANY: {"unique": ["id"]}}},
    "workload": [{"job": "SyntheticJob", "count": 1, "scale": False},
                 {"job": "SyntheticJob", "rate": "1/s"},
                 {"job": "SyntheticJob", "burst": 1}, {"job": "SyntheticJob", "fanout": 1}],
    "faults": [{"type": "redis_outage", "start": "1s", "duration": "1s"}],
    "expect": [{"metric": "jobs.lost", "max": 0}],
    "latency_bounds": {"default": "1s"},
    "scale": {"threads": True},
    "variants": {_ANY: {}},
    # a declared job with every step kind, so the schema knows what perform: may hold
    "jobs": {_ANY: {
        "queue": "default", "retry": 3, "backoff": "sidekiq", "jitter": 0.1, "dead": True,
        "unique": {"lock": "until_executed", "ttl": "1m", "on_conflict": "drop"},
        "perform": [
            {"call": {"service": "probe", "op": "x", "key": "k", "effect": True, "once": True,
                      "idempotency_key": "k"}},
            {"read": {"table": "probe", "key": "k", "from": "primary", "exists": "stop"}},
            {"insert": {"table": "probe", "key": "k", "on_conflict": "stop"}},
            {"delete": {"table": "probe", "key": "k"}},
            {"enqueue": {"job": "SyntheticJob", "args": [], "after": []}},
            {"work": "1s"},
            {"use": {"pool": "db", "for": "1s"}},
            {"tempfile": {"bytes": 1}},
            {"memory": {"bytes": 1}},
            {"fail": {"rate": 0.1, "error": "ProbeError"}}],
        "rescue": [{"work": "1s"}]}},
}
PROBES: list[dict[str, Any]] = [
    _SECTIONS,
    {**_SECTIONS, "system": {"flavor": "celery", "celery": {}}},
    {**_SECTIONS, "system": {"flavor": "rq", "rq": {}}},
    # one service per latency distribution: each has its own parameters
    *({**_SECTIONS, "world": {"services": {_ANY: {"latency": {"dist": dist}}}}}
      for dist in DISTRIBUTIONS),
]


def record(known: dict[str, Any], documents: list[dict[str, Any]]) -> dict[Pattern, Shape]:
    """Everything the loader reads in DOCUMENTS (problems are ignored: only shapes count)."""
    with shapes.recording() as seen, collecting():
        for document in documents:
            attempt(lambda d=document: load_document(d, **known), None)
    return seen


def build(known: dict[str, Any], scenario_files: list[Path]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scenario file."""
    documents = [*PROBES]
    for path in scenario_files:
        document = attempt(lambda p=path: read_document(p), None)
        if isinstance(document, dict):
            documents.append(document)
    seen = record(known, documents)
    root = _node(seen, ())
    top = root.get("properties", {})
    variant = {key: value for key, value in top.items() if key not in ("name", "variants")}
    top["variants"] = {"type": "object", "description": "name -> the keys it changes",
                       "additionalProperties": {"type": "object", "properties": variant,
                                                "additionalProperties": False}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "jobsim scenario",
        "description": "A jobsim scenario file (docs/scenarios.md). Generated by "
                       "`jobsim schema` from the loader's own rules.",
        "type": "object",
        **{k: v for k, v in root.items() if k != "type"},
    }


def _node(seen: dict[Pattern, Shape], at: Pattern) -> dict[str, Any]:
    shape = seen.get(at)
    if shape is None:
        return {}
    child = (*at, _ANY)
    if shape.kind == "array":
        return {"items": _value(seen, child, None)} if child in seen or _has_below(seen, child) \
            else {}
    out: dict[str, Any] = {}
    properties = {key: _value(seen, (*at, key), fragment)
                  for key, fragment in sorted(shape.keys.items()) if key != _ANY}
    if properties:
        out["properties"] = properties
    if shape.required:
        out["required"] = sorted(shape.required)
    if child in seen:
        out["additionalProperties"] = _node(seen, child)
    elif shape.closed:
        out["additionalProperties"] = False
    return out


def _has_below(seen: dict[Pattern, Shape], at: Pattern) -> bool:
    return any(pattern[:len(at)] == at for pattern in seen)


def _value(seen: dict[Pattern, Shape], at: Pattern, fragment: Any) -> dict[str, Any]:
    """A key's schema: its reader's fragment when the reader declares one, else the
    section recorded under it, given without a type (the same key may also take a
    scalar form, as a pool does)."""
    if fragment:
        return dict(fragment)
    return _node(seen, at) if at in seen else {}


def text(known: dict[str, Any], scenario_files: list[Path]) -> str:
    return json.dumps(build(known, scenario_files), indent=2, sort_keys=False) + "\n"
