"""Finding, parsing and validating scenario files, and applying their variants.

YAML is read with PyYAML's SafeLoader only (``yaml.compose`` to catch duplicate keys,
``yaml.safe_load`` for the values): a scenario file can never construct Python objects.
Every variant is validated when the file loads, so a broken variant fails ``make
validate`` rather than the third run of a report.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml

from jobsim.scenario import fields as f
from jobsim.scenario.errors import Part, ScenarioError, Where, render_path, show, unknown
from jobsim.scenario.parse import TOP_KEYS, Known, build_scenario
from jobsim.scenario.schema import Scenario

_TAG = re.compile(r"constructor for the tag '([^']*)'")
VARIANT_KEYS = tuple(key for key in TOP_KEYS if key not in ("name", "variants"))


def load_scenario(
    source: str | Path,
    *,
    known_jobs: Collection[str],
    known_faults: Collection[str],
    known_checks: Collection[str],
    variant: str | None = None,
    search_dir: Path = Path("scenarios"),
) -> Scenario:
    """Load SOURCE (a .yaml path, or a bare name looked up as SEARCH_DIR/NAME.yaml).

    Returns the base scenario (its ``variants`` hold every validated variant), or, with
    ``variant``, that variant. Raises ScenarioError for any problem.
    """
    path = resolve(source, search_dir)
    raw = read_document(path)
    return load_document(
        raw,
        file=str(path),
        stem=path.stem,
        known_jobs=known_jobs,
        known_faults=known_faults,
        known_checks=known_checks,
        variant=variant,
    )


def load_document(
    raw: Any,
    *,
    known_jobs: Collection[str],
    known_faults: Collection[str],
    known_checks: Collection[str],
    variant: str | None = None,
    file: str = "",
    stem: str = "scenario",
) -> Scenario:
    """Validate an already-parsed document (e.g. built in Python or by a strategy)."""
    known = Known(frozenset(known_jobs), frozenset(known_faults), frozenset(known_checks))
    where = Where(file)
    data = f.mapping(raw, where, TOP_KEYS)
    base_raw = {key: value for key, value in data.items() if key != "variants"}
    base = build_scenario(base_raw, where, known, stem)
    overlays = f.optional(data, "variants", where, _variant_overlays, {})
    variants = {
        name: _build_variant(base_raw, name, overlay, where, known, stem)
        for name, overlay in overlays.items()
    }
    return dataclasses.replace(base, variants=variants).with_variant(variant)


def _variant_overlays(value: Any, where: Where) -> dict[str, dict[str, Any]]:
    overlays: dict[str, dict[str, Any]] = {}
    for name, overlay in f.mapping(value, where).items():
        at = where.key(name)
        f.name(name, at)
        overlays[name] = {} if overlay is None else f.mapping(overlay, at, VARIANT_KEYS)
    return overlays


def _build_variant(
    base_raw: dict[str, Any],
    name: str,
    overlay: dict[str, Any],
    where: Where,
    known: Known,
    stem: str,
) -> Scenario:
    try:
        scenario = build_scenario(deep_merge(base_raw, overlay), where, known, stem)
    except ScenarioError as err:
        raise _blame(err, name, overlay, base_raw) from None
    return dataclasses.replace(scenario, variant=name)


def _blame(
    err: ScenarioError, name: str, overlay: dict[str, Any], base_raw: dict[str, Any]
) -> ScenarioError:
    """Point a merged-document error at the variant when the bad value came from it."""
    parts: tuple[Part, ...] = ("variants", name, *err.parts)
    if _from_overlay(err.parts, overlay, base_raw):
        return ScenarioError(err.file, render_path(parts), err.reason, parts)
    return ScenarioError(err.file, err.path, f"in variant {name!r}: {err.reason}", err.parts)


def _from_overlay(parts: tuple[Part, ...], overlay: dict[str, Any], base: dict[str, Any]) -> bool:
    """True if the variant wrote the value at PARTS (a merged mapping counts as the base's)."""
    node: Any = overlay
    for part in parts:
        if not isinstance(node, dict):
            return True  # a list or scalar the variant replaced wholesale
        if part not in node:
            return False
        node = node[part]
    return not isinstance(node, dict) or not _has_path(base, parts)


def _has_path(document: Any, parts: tuple[Part, ...]) -> bool:
    for part in parts:
        if not isinstance(document, dict) or part not in document:
            return False
        document = document[part]
    return True


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else (lists included) replaces. No mutation."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_variant(raw: dict[str, Any], variant: str, *, file: str = "") -> dict[str, Any]:
    """The raw document with variant VARIANT merged over it (and no ``variants`` key)."""
    overlays = raw.get("variants") or {}
    if not isinstance(overlays, dict) or variant not in overlays:
        names = overlays if isinstance(overlays, dict) else ()
        raise ScenarioError(file, "", unknown("variant", variant, names))
    base = {key: value for key, value in raw.items() if key != "variants"}
    return deep_merge(base, overlays[variant] or {})


def resolve(source: str | Path, search_dir: Path = Path("scenarios")) -> Path:
    """A path as given, or a bare name as SEARCH_DIR/NAME.yaml (which must exist)."""
    text = str(source)
    is_path = "/" in text or os.sep in text or text.endswith((".yaml", ".yml"))
    if isinstance(source, Path) or is_path:
        return Path(source)
    path = search_dir / f"{text}.yaml"
    if not path.is_file():
        names = scenario_names(search_dir)
        raise ScenarioError(f"{search_dir}/", "", unknown("scenario", text, names))
    return path


def scenario_names(search_dir: Path = Path("scenarios")) -> list[str]:
    return sorted(path.stem for path in search_dir.glob("*.yaml"))


def read_document(path: Path) -> dict[str, Any]:
    """The file's top-level mapping, parsed safely; whole-file problems have no path."""
    file = str(path)
    text = _read_text(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _reject_duplicate_keys(node, Where(file), set())
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        raise ScenarioError(file, "", _yaml_reason(err)) from None
    except yaml.YAMLError as err:
        raise ScenarioError(file, "", f"invalid YAML: {err}") from None
    if data is None:
        raise ScenarioError(file, "", "file is empty")
    if not isinstance(data, dict):
        raise ScenarioError(file, "", f"expected a mapping at the top level, got {show(data)}")
    return data


def _read_text(path: Path) -> str:
    file = str(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(file, "", "file not found") from None
    except UnicodeDecodeError as err:
        raise ScenarioError(file, "", f"not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise ScenarioError(file, "", f"cannot read file: {err.strerror}") from None


def _yaml_reason(err: yaml.MarkedYAMLError) -> str:
    mark = err.problem_mark or err.context_mark
    problem = err.problem or err.context or "unreadable"
    tag = _TAG.search(problem) if isinstance(err, yaml.constructor.ConstructorError) else None
    if tag:
        problem = f"unsupported tag {tag.group(1)!r}; scenario files are plain YAML"
    if mark is None:
        return f"invalid YAML: {problem}"
    return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"


def _reject_duplicate_keys(node: yaml.Node, where: Where, seen: set[int]) -> None:
    """safe_load silently keeps the last of two equal keys; a scenario must not."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
                _reject_duplicate_keys(value_node, where, seen)
                continue
            line = key_node.start_mark.line + 1
            if key in lines:
                raise where.key(key).error(f"duplicate key {key!r} (lines {lines[key]} and {line})")
            lines[key] = line
            _reject_duplicate_keys(value_node, where.key(key), seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _reject_duplicate_keys(item, where.index(index), seen)


def list_scenarios(search_dir: Path = Path("scenarios")) -> list[tuple[str, str]]:
    """(name, one-line description) per SEARCH_DIR/*.yaml; unreadable files say why."""
    listing = []
    for name in scenario_names(search_dir):
        try:
            description = read_document(search_dir / f"{name}.yaml").get("description")
        except ScenarioError as err:
            description = f"(invalid: {err.reason})"
        text = description if isinstance(description, str) else "(no description)"
        listing.append((name, " ".join(text.split())))
    return listing
