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

from jobsim.scenario import changes
from jobsim.scenario import fields as f
from jobsim.scenario.errors import (
    Part,
    ScenarioError,
    ScenarioErrors,
    Where,
    render_path,
    show,
    unknown,
)
from jobsim.scenario.parse import TOP_KEYS, Known, Resolver, build_scenario
from jobsim.scenario.positions import MAX_FILE_BYTES, error_at, place, reader_error, scan
from jobsim.scenario.problems import Abandon, attempt, collecting, report
from jobsim.scenario.schema import Scenario
from jobsim.system.library import JobLibrary

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
    references: Resolver | None = None,
    scale: float = 1.0,
) -> Scenario:
    """Load SOURCE (a .yaml path, or a bare name looked up as SEARCH_DIR/NAME.yaml).

    Returns the base scenario (its ``variants`` hold every validated variant), or, with
    ``variant``, that variant. REFERENCES checks the references a registry alone cannot
    (fault targets, handlers, job args) on the base and on every variant, also as
    scaled by SCALE (the scenario returned is not scaled). Raises
    ScenarioError (ScenarioErrors for several problems) for anything wrong.
    """
    path = resolve(source, search_dir)
    raw, node = read_nodes(path)
    return load_document(
        raw,
        file=str(path),
        stem=path.stem,
        known_jobs=known_jobs,
        known_faults=known_faults,
        known_checks=known_checks,
        variant=variant,
        references=references,
        node=node,
        scale=scale,
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
    references: Resolver | None = None,
    node: yaml.Node | None = None,
    scale: float = 1.0,
) -> Scenario:
    """Validate an already-parsed document (e.g. built in Python or by a strategy).

    NODE, the composed YAML, places each problem at its line and column."""
    jobs = known_jobs if isinstance(known_jobs, JobLibrary) else frozenset(known_jobs)
    known = Known(jobs, frozenset(known_faults), frozenset(known_checks), references, scale)
    with collecting() as found:
        scenario = attempt(lambda: _load(raw, Where(file), known, stem), None)
    if found:
        raise ScenarioErrors(place(problem, node) for problem in found)
    assert scenario is not None
    return scenario.with_variant(variant)


def _load(raw: Any, where: Where, known: Known, stem: str) -> Scenario:
    data = f.mapping(raw, where, TOP_KEYS)
    base_raw = {key: value for key, value in data.items() if key != "variants"}
    with collecting() as base_problems:
        base = _build(base_raw, where, known, stem)
    for problem in base_problems:
        report(problem)
    seen = {(p.path, p.reason) for p in base_problems}
    overlays = f.optional(data, "variants", where, _variant_overlays, {})
    variants = {}
    for name, overlay in overlays.items():
        variants[name] = _build_variant(base_raw, name, overlay, where, known, stem, seen)
    return dataclasses.replace(base, variants=variants)


def _build(raw: dict[str, Any], where: Where, known: Known, stem: str) -> Scenario:
    """One document built, then its references resolved (each problem recorded)."""
    with collecting() as found:
        scenario = attempt(lambda: build_scenario(raw, where, known, stem), None)
    for problem in found:
        report(problem)
    if scenario is None:
        raise Abandon()
    check = known.references
    # References are resolved on a document that built cleanly: a dropped list item
    # would shift the indexes the resolver's paths are made of.
    if check is not None and not found:
        with collecting() as unresolved:
            attempt(lambda: check(scenario, where), None)
        if not unresolved and known.scale != 1.0:      # what only --scale breaks
            attempt(lambda: check(scenario.scaled(known.scale), where), None)
        for problem in unresolved:
            report(problem)
    return scenario


def _variant_overlays(value: Any, where: Where) -> dict[str, dict[str, Any]]:
    overlays: dict[str, dict[str, Any]] = {}
    for name, overlay in f.mapping(value, where).items():
        at = where.key(name)
        if attempt(lambda n=name, a=at: f.name(n, a), None) is None:
            continue
        got = attempt(lambda o=overlay, a=at: {} if o is None else f.mapping(o, a, VARIANT_KEYS),
                      None)
        if got is not None:
            overlays[name] = got
    return overlays


def _build_variant(
    base_raw: dict[str, Any],
    name: str,
    overlay: dict[str, Any],
    where: Where,
    known: Known,
    stem: str,
    base_seen: set[tuple[str, str]],
) -> Scenario:
    """The merged document built; its problems blamed on the variant or the base.

    A base problem the variant merely inherits is not repeated under the variant."""
    with collecting() as found:
        scenario = _build(deep_merge(base_raw, overlay), where, known, stem)
    for problem in found:
        if _from_overlay(problem.parts, overlay, base_raw) or (
            problem.path, problem.reason) not in base_seen:
            report(_blame(problem, name, overlay, base_raw))
    if scenario is not None and "description" not in overlay:   # not the base's story
        scenario = dataclasses.replace(scenario, description=changes.describe(overlay))
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


def anchor_paths(doc: dict[str, Any], folder: Path) -> dict[str, Any]:
    """DOC with its file-relative paths (``system.sidekiq_yml``) made absolute from
    FOLDER, the one they were read from: a document written elsewhere (a hunt's
    counterexample, a failing test's saved scenario) still names the same file."""
    system = doc.get("system")
    found = system.get("sidekiq_yml") if isinstance(system, dict) else None
    if not isinstance(found, str) or Path(found).is_absolute():
        return doc
    return {**doc, "system": {**system, "sidekiq_yml": str((folder / found).resolve())}}


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
    return read_nodes(path)[0]


def read_nodes(path: Path) -> tuple[dict[str, Any], yaml.Node]:
    """The file's top-level mapping and its composed node (for line numbers).

    The event stream is scanned against the budgets first (``positions.scan``), so
    nothing deep or explosive is ever composed or constructed."""
    file = str(path)
    text = _read_text(path)
    try:
        scan(text, file)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            raise ScenarioError(file, "", "file is empty")
        _duplicate_keys(node, file)
        data = yaml.SafeLoader("").construct_document(node)
    except yaml.MarkedYAMLError as err:
        raise _yaml_error(file, err) from None
    except yaml.reader.ReaderError as err:
        raise reader_error(file, text, err) from None
    except yaml.YAMLError as err:
        raise ScenarioError(file, "", f"invalid YAML: {err}") from None
    except (ValueError, OverflowError) as err:  # e.g. a date like 2024-13-45
        raise ScenarioError(file, "", f"invalid YAML value: {err}") from None
    if data is None:
        raise ScenarioError(file, "", "file is empty")
    if not isinstance(data, dict):
        raise error_at(file, node.start_mark,
                       f"expected a mapping at the top level, got {show(data)}")
    return data, node


def _read_text(path: Path) -> str:
    file = str(path)
    try:
        if path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
            raise ScenarioError(file, "", f"file is larger than {MAX_FILE_BYTES:,} bytes")
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError(file, "", "file not found") from None
    except IsADirectoryError:
        raise ScenarioError(file, "", "is a directory, not a scenario file") from None
    except OSError as err:
        raise ScenarioError(file, "", f"cannot read file: {err.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(file, "", f"file is larger than {MAX_FILE_BYTES:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ScenarioError(file, "", f"not UTF-8 text (byte {err.start})") from None


def _yaml_error(file: str, err: yaml.MarkedYAMLError) -> ScenarioError:
    mark = err.problem_mark or err.context_mark
    problem = err.problem or err.context or "unreadable"
    tag = _TAG.search(problem) if isinstance(err, yaml.constructor.ConstructorError) else None
    if tag:
        problem = f"unsupported tag {tag.group(1)!r}; scenario files are plain YAML"
    return error_at(file, mark, f"invalid YAML: {problem}")


def _duplicate_keys(root: yaml.Node, file: str) -> None:
    """safe_load silently keeps the last of two equal keys; a scenario must not.

    Every duplicate of the file is reported, each at its second occurrence."""
    found: list[ScenarioError] = []
    stack: list[tuple[yaml.Node, Where]] = [(root, Where(file))]
    seen: set[int] = set()
    while stack:
        node, where = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            lines: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if key is None:
                    stack.append((value_node, where))
                    continue
                mark = key_node.start_mark
                if key in lines:
                    reason = f"duplicate key {key!r} (lines {lines[key]} and {mark.line + 1})"
                    found.append(where.key(key).error(reason).at(mark.line + 1, mark.column + 1))
                lines.setdefault(key, mark.line + 1)
                stack.append((value_node, where.key(key)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, where.index(i)) for i, item in enumerate(node.value))
    if found:
        raise ScenarioErrors(found)


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
