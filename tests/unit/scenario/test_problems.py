"""Every problem of a file at once, each at its line and column, and the YAML budgets."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from jobsim.scenario import ScenarioError, load_scenario
from jobsim.scenario.errors import MAX_PROBLEMS, ScenarioErrors, Where
from jobsim.scenario.positions import MAX_ALIAS_NODES, MAX_DEPTH
from jobsim.scenario.problems import collecting, report

JOBS = {"SyntheticJob", "EmailJob"}
KNOWN: dict[str, Any] = {"known_jobs": JOBS, "known_faults": {"crash"},
                         "known_checks": {"no_loss"}}
HEAD = "description: d\nduration: 1m\n"
ONE_JOB = "workload: [{job: SyntheticJob, count: 1}]\n"


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, **KNOWN)
    lines = str(info.value).splitlines()
    return [line.removeprefix(f"{path}:") for line in lines]


def test_all_problems_sorted_by_line_with_positions(tmp_path: Path) -> None:
    text = (
        "description: d\n"
        "duration: 5min\n"
        "system: {concurency: 3, processes: 0}\n"
        "workload:\n"
        "  - {job: SyntheticJb, count: 10}\n"
        "  - {job: EmailJob, rate: fast}\n"
        "variants:\n"
        "  v1: {system: {fetch: super}}\n"
    )
    assert problems(tmp_path, text) == [
        "2:1: duration: expected a duration like '30s', '10m' or '1h30m', got '5min' "
        "(did you mean '5m'?)",
        "3:10: system.concurency: unknown key 'concurency' (did you mean 'concurrency'?); "
        "valid keys: capsules, celery, concurrency, dead_max_jobs, dead_timeout, death_handlers, "
        "fetch, "
        "flavor, max_retries, poll_interval, processes, queues, rq, safeguards, "
        "shutdown_timeout, sidekiq_env, sidekiq_yml",
        "3:25: system.processes: must be at least 1, got 0",
        "5:6: workload[0].job: unknown job 'SyntheticJb' (did you mean 'SyntheticJob'?); "
        "valid jobs: EmailJob, SyntheticJob",
        "6:21: workload[1].rate: expected '<number>/s', got 'fast'",
        "8:17: variants.v1.system.fetch: expected one of 'basic', 'reliable', got 'super'",
    ]


def test_a_base_problem_is_not_repeated_for_every_variant(tmp_path: Path) -> None:
    text = HEAD + "seed: -1\n" + ONE_JOB + "variants:\n  a: {}\n  b: {drain: 1s}\n"
    assert problems(tmp_path, text) == ["3:1: seed: must not be negative, got -1"]


def test_a_variant_breaking_a_base_value_is_blamed_on_the_variant(tmp_path: Path) -> None:
    text = (HEAD + "system: {queues: [a, b]}\n"
            "workload: [{job: SyntheticJob, count: 1, queue: b}]\n"
            "variants:\n  one: {system: {queues: [a]}}\n")
    assert problems(tmp_path, text) == [
        "4:42: workload[0].queue: in variant 'one': queue 'b' is not in system.queues (a)"
    ]


def test_at_most_twenty_lines_and_a_count_of_the_rest(tmp_path: Path) -> None:
    entries = "".join(f"  - {{job: Nope{i}, count: 1}}\n" for i in range(30))
    lines = problems(tmp_path, HEAD + "workload:\n" + entries)
    assert len(lines) == MAX_PROBLEMS + 1
    assert lines[-1].endswith("10 more problems not shown")
    assert [line.split(":")[0] for line in lines[:3]] == ["4", "5", "6"]


def test_every_duplicate_key_is_reported(tmp_path: Path) -> None:
    text = HEAD + ONE_JOB + "seed: 1\nseed: 2\ndrain: 1s\ndrain: 2s\n"
    assert problems(tmp_path, text) == [
        "5:1: seed: duplicate key 'seed' (lines 4 and 5)",
        "7:1: drain: duplicate key 'drain' (lines 6 and 7)",
    ]


def test_nesting_1000_deep_is_one_line_and_quick(tmp_path: Path) -> None:
    started = time.perf_counter()
    lines = problems(tmp_path, HEAD + ONE_JOB + "seed: " + "[" * 1000 + "]" * 1000 + "\n")
    assert lines == [f"4:{6 + MAX_DEPTH}: nesting deeper than {MAX_DEPTH} levels; scenario "
                     "files are shallow, so this is a mistake or an attack"]
    assert time.perf_counter() - started < 2


def test_depth_50_is_allowed_through_to_the_field_check(tmp_path: Path) -> None:
    inner = MAX_DEPTH - 1  # the document's own mapping is the first level
    lines = problems(tmp_path, HEAD + ONE_JOB + "seed: " + "[" * inner + "]" * inner + "\n")
    assert lines == ["4:1: seed: expected an integer, got a list"]


def test_alias_bomb_in_job_args_is_one_line_and_quick(tmp_path: Path) -> None:
    levels = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 9):
        levels.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    text = (HEAD + "workload:\n  - job: SyntheticJob\n    count: 1\n    args:\n"
            + "".join(f"      {line}\n" for line in levels))
    started = time.perf_counter()
    lines = problems(tmp_path, text)
    assert len(lines) == 1
    assert f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes" in lines[0]
    assert time.perf_counter() - started < 2


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + "workload:\n  - &w {job: SyntheticJob, count: 1}\n  - *w\n")
    assert len(load_scenario(path, **KNOWN).workload) == 2


@pytest.mark.parametrize(("field", "limit"), [("name", 1024), ("description", 65536)])
def test_string_budgets(tmp_path: Path, field: str, limit: int) -> None:
    text = f"duration: 1m\n{ONE_JOB}description: d\n{field}: {'x' * (limit + 1)}\n"
    if field == "description":
        text = f"duration: 1m\n{ONE_JOB}{field}: {'x' * (limit + 1)}\n"
    (line,) = problems(tmp_path, text)
    assert f"of {limit + 1} characters; at most {limit} allowed" in line


def test_collecting_records_instead_of_raising() -> None:
    with collecting() as found:
        report(Where("f.yaml", ("seed",)).error("bad"))
        report(Where("f.yaml", ("drain",)).error("worse"))
    assert [str(p) for p in found] == ["f.yaml: seed: bad", "f.yaml: drain: worse"]
    with pytest.raises(ScenarioError, match="bad"):
        report(Where("f.yaml", ("seed",)).error("bad"))


def test_errors_sort_by_position_and_drop_duplicates() -> None:
    late = ScenarioError("f", "b", "r", ("b",), 9, 1)
    early = ScenarioError("f", "a", "r", ("a",), 2, 5)
    errors = ScenarioErrors([late, early, late])
    assert str(errors) == "f:2:5: a: r\nf:9:1: b: r"
    assert errors.problems == (early, late)
