"""Fuzzing the loader through the CLI: mutated built-in scenarios never give a traceback.

Each example takes a built-in scenario document and applies one to three mutations
(delete a key, change a value's type, swap two values, a huge, negative, NaN or infinite
number, a unicode name, 60 levels of nesting, a reference to an undeclared name), writes
it as YAML and runs ``jobsim simulate FILE --scale 0.01`` in-process. Whatever the file
says, the command must end with exit 0 or 1 (it ran and judged) or 2 (bad input, one
line per problem), never a traceback or exit 3, and within 10 s of CPU. ``make test`` tries
40 documents, ``make test-slow`` (in CI) another 200.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import event, given
from hypothesis import strategies as st

from jobsim.cli import main
from jobsim.scenario.errors import MAX_PROBLEMS
from jobsim.scenario.runner import scenarios_dir

from ._support import budget

BUILT_IN = {path.stem: yaml.safe_load(path.read_text())
            for path in sorted(scenarios_dir().glob("*.yaml"))}
WEIRD_NUMBERS = [10**12, -(10**12), -1, 0, math.nan, math.inf, -math.inf, 1e308, 0.5, 10**30]
WEIRD_NAMES = ["p99", "emial_api", "UndeclaredJob", "no_los", "5min", "ü名前", "a b", "",
               "exponential:jiter=full", "x" * 2000, "../../etc", "queues.nope.latency_p99_s"]
SECONDS = 10.0  # CPU seconds of this process: wall time on a shared CI box is noise
EXIT_CODES: Counter[int] = Counter()  # over the session, for the report (see test below)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key or index path into a document, shallow ones first."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


def get(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def put(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    get(doc, path[:-1])[path[-1]] = value


def delete(doc: Any, path: tuple[Any, ...]) -> None:
    parent = get(doc, path[:-1])
    del parent[path[-1]]


def nested(value: Any, depth: int = 60) -> Any:
    for _ in range(depth):
        value = [value]
    return value


VALUES = st.one_of(
    st.sampled_from(WEIRD_NUMBERS),
    st.sampled_from(WEIRD_NAMES),
    st.text(max_size=20),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.just("nested"),
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, dict[str, Any], list[str]]:
    name = draw(st.sampled_from(sorted(BUILT_IN)))
    # A private copy without shared subtrees (YAML aliases load as one object; a swap
    # across two of its occurrences would make a cycle).
    doc = json.loads(json.dumps(BUILT_IN[name]))
    done = []
    for _ in range(draw(st.integers(1, 3))):
        where = paths(doc)
        if not where:
            break
        path = draw(st.sampled_from(where))
        kind = draw(st.sampled_from(["delete", "replace", "replace", "swap", "rename"]))
        if kind == "delete":
            delete(doc, path)
        elif kind == "replace":
            value = draw(VALUES)
            put(doc, path, nested(0) if value == "nested" else value)
        elif kind == "swap":
            other = draw(st.sampled_from(where))
            if other[:len(path)] != path and path[:len(other)] != other:
                first, second = get(doc, path), get(doc, other)
                put(doc, path, second)
                put(doc, other, first)
        elif isinstance(path[-1], str):           # rename a key: unknown or unicode names
            parent = get(doc, path[:-1])
            parent[draw(st.sampled_from(WEIRD_NAMES))] = parent.pop(path[-1])
        done.append(kind)
    return name, doc, done


def simulate(path: Path, out: Path) -> tuple[Any, float]:
    """``jobsim simulate PATH --scale 0.01`` in-process: the click result and CPU seconds."""
    started = time.process_time()
    # The report's matplotlib drawing is the same for any input and costs seconds a run;
    # everything that reads the file (load, run, checks, metrics, pages) still runs.
    with mock.patch("jobsim.report.figures.chart_makers", lambda series: []), \
            mock.patch("jobsim.report.figures.warm_up", lambda: None):
        result = CliRunner().invoke(main, ["simulate", str(path), "--scale", "0.01", "--quiet",
                                           "--out", str(out)])
    return result, time.process_time() - started


def judge(path: Path, result: Any, cpu: float) -> None:
    """The fuzz oracle: exit 0, 1 or 2; no traceback; one line per problem; < 10 s."""
    err = result.stderr
    assert result.exit_code in (0, 1, 2), (result.exit_code, err[-2000:])
    assert "Traceback" not in err, err[-2000:]
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    if result.exit_code == 2:
        lines = err.splitlines()
        assert 1 <= len(lines) <= MAX_PROBLEMS + 1, lines
        # each line names the file (FILE:LINE:COL: ...) or is the CLI's own one-liner
        assert all(line.startswith((f"{path}:", "jobsim: ")) for line in lines), lines
    assert cpu < SECONDS, cpu


def fuzz_one(case: tuple[str, dict[str, Any], list[str]]) -> None:
    """Write one mutated document, simulate it and judge the outcome."""
    name, doc, done = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
        result, cpu = simulate(path, Path(tmp) / "out")
        EXIT_CODES[result.exit_code] += 1
        event(f"exit {result.exit_code}")
        try:
            judge(path, result, cpu)
        except AssertionError as exc:
            raise AssertionError(f"{name} after {done}: {exc}") from None


# make test runs 40 examples (a fifth of the CPU); the 200-example search runs in
# make test-slow (CI runs both). Each test has its own derandomized stream, so the two
# tiers try different documents.
@budget(40)
@given(mutated())
def test_mutated_scenarios_exit_0_1_or_2_in_one_line_per_problem(
        case: tuple[str, dict[str, Any], list[str]]) -> None:
    fuzz_one(case)


@pytest.mark.slow
@budget(200)
@given(mutated())
def test_mutated_scenarios_full_budget(case: tuple[str, dict[str, Any], list[str]]) -> None:
    fuzz_one(case)


def test_negative_control_the_oracle_fails_a_reference_resolved_mid_run(
        tmp_path: Path) -> None:
    """With load-time references switched off, a worker_crash target the system lacks
    surfaces mid-run as a bug (exit 3, traceback), and the oracle rejects it."""
    path = tmp_path / "crash.yaml"
    path.write_text("description: d\nduration: 1m\nsystem: {processes: 2}\n"
                    "workload: [{job: SyntheticJob, count: 5}]\n"
                    "faults: [{type: worker_crash, target: p7, start: 10s}]\n")
    result, cpu = simulate(path, tmp_path / "a")
    judge(path, result, cpu)                       # with the safeguard: exit 2, one line
    assert result.exit_code == 2
    with mock.patch("jobsim.scenario.runner.check_references", lambda scenario, where: None), \
            mock.patch("jobsim.scenario.runner.require_references", lambda scenario: None):
        result, cpu = simulate(path, tmp_path / "b")
    assert result.exit_code == 3
    with pytest.raises(AssertionError):
        judge(path, result, cpu)


def test_zz_fuzz_exit_codes_are_reported(capsys: Any) -> None:
    """Prints the session's exit-code histogram (after the fuzz test, by name order)."""
    if EXIT_CODES:
        with capsys.disabled():
            print(f"\nfuzz exit codes: {dict(sorted(EXIT_CODES.items()))}, "
                  f"examples: {sum(EXIT_CODES.values())}")
    assert set(EXIT_CODES) <= {0, 1, 2}
