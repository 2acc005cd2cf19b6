"""``jobsim schema``: a valid JSON Schema, taken from the loader, that every built-in
scenario passes and that refuses what the loader refuses key by key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from jobsim.cli import main
from jobsim.scenario import json_schema, parse_system
from jobsim.scenario.runner import known_registries, scenarios_dir

ROOT = Path(__file__).parents[3]
FILES = sorted([*ROOT.glob("scenarios/*.yaml"), *ROOT.glob("examples/*.yaml")])


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_built_in_file_passes(validator: Any, path: Path) -> None:
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(
        yaml.safe_load(path.read_text()))]
    assert errors == []


def test_the_documented_example_passes(validator: Any) -> None:
    doc = (ROOT / "docs" / "scenarios.md").read_text()
    example = yaml.safe_load(doc.split("```yaml\n", 1)[1].split("```", 1)[0])
    assert list(validator.iter_errors(example)) == []


@pytest.mark.parametrize(("change", "where"), [
    ({"sed": 1}, []),
    ({"system": {"concurency": 3}}, ["system"]),
    ({"duration": "5min"}, ["duration"]),
    ({"workload": [{"job": "SyntheticJob", "count": -1}]}, ["workload", 0, "count"]),
    ({"workload": [{"count": 1}]}, ["workload", 0]),
    ({"system": {"fetch": "super"}}, ["system", "fetch"]),
    ({"world": {"services": {"a": {"timeout": True}}}}, ["world", "services", "a", "timeout"]),
    ({"variants": {"v": {"sytem": {}}}}, ["variants", "v"]),
    ({"scale": {"thread": True}}, ["scale"]),
    ({"scale": {"threads": "yes"}}, ["scale", "threads"]),
    ({"name": "black friday"}, ["name"]),
    ({"jobs": {"J": {"perform": [{"cal": {"service": "s"}}]}}}, ["jobs", "J", "perform", 0]),
    ({"jobs": {"J": {"perform": [{"read": {"tabel": "t", "key": "k"}}]}}},
     ["jobs", "J", "perform", 0, "read"]),
])
def test_the_schema_refuses_what_the_loader_refuses(validator: Any, change: dict[str, Any],
                                                    where: list[Any]) -> None:
    doc = {"description": "d", "duration": "1m",
           "workload": [{"job": "SyntheticJob", "count": 1}], **change}
    paths = [list(e.path) for e in validator.iter_errors(doc)]
    assert where in paths, paths


def test_a_key_the_loader_learns_appears_in_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated, not kept by hand: a system key added to the loader is in the schema."""
    before = json_schema.build(known_registries(), [])["properties"]["system"]["properties"]
    assert "brand_new" not in before
    monkeypatch.setattr(parse_system, "SYSTEM_KEYS", (*parse_system.SYSTEM_KEYS, "brand_new"))
    after = json_schema.build(known_registries(), [])["properties"]["system"]["properties"]
    assert "brand_new" in after


def test_the_schema_command_prints_the_built_schema(schema: dict[str, Any]) -> None:
    built = json_schema.build(known_registries(), sorted(scenarios_dir().glob("*.yaml")))
    assert schema == json.loads(json.dumps(built))
    assert schema["$schema"].endswith("2020-12/schema")
