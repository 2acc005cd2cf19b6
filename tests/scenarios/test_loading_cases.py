"""Every loading case of issue 13's "Why", through the CLI: exit 2, one line, no traceback,
before any simulated second (each would run, hang or crash mid-run before)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from jobsim.cli import main

OK = "description: d\nduration: 10m\nsystem: {processes: 2}\n"
JOB = "workload: [{job: SyntheticJob, count: 5}]\n"
BOMB = "".join(
    [f"    a0: &a0 [{', '.join(['lol'] * 9)}]\n"]
    + [f"    a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)])

CASES = {
    "nested_1000": (OK + JOB + "seed: " + "[" * 1000 + "]" * 1000 + "\n",
                    "nesting deeper than 50 levels"),
    "alias_bomb_in_args": (OK + "workload:\n- job: SyntheticJob\n  count: 1\n  args:\n" + BOMB,
                           "aliases expand to more than 10,000 nodes"),
    "duration_5min": (OK.replace("10m", "5min") + JOB, "(did you mean '5m'?)"),
    "death_handler": (OK.replace("processes: 2}", "processes: 2, death_handlers: [alert_ops]}")
                      + JOB, "unknown death handler 'alert_ops'"),
    "unknown_service_target": (OK + "plugins: [jobsim.shop]\n" + JOB
                               + "faults: [{type: latency, target: emial, start: 1m}]\n",
                               "unknown service 'emial' for 'latency' (did you mean 'email'?)"),
    "process_p7_of_2": (OK + JOB + "faults: [{type: worker_crash, target: p7, start: 1m}]\n",
                        "unknown process 'p7' for 'worker_crash'"),
    "target_on_redis_failover": (OK + JOB + "faults: [{type: redis_failover, target: x, "
                                 "start: 1m, duration: 5s}]\n", "takes no target"),
    "backoff_5s": (OK + "workload: [{job: SyntheticJob, count: 5, backoff: '5s'}]\n",
                   "unknown backoff policy '5s'"),
    "backoff_jiter": (OK + "workload: [{job: SyntheticJob, count: 5, "
                      "backoff: 'exponential:jiter=full'}]\n", "(did you mean 'jitter'?)"),
    "load_burst_unknown_job": (OK + JOB + "faults: [{type: load_burst, job: Nope, start: 1m}]\n",
                               "unknown job 'Nope'"),
    "load_burst_dict_args": (OK + JOB + "faults: [{type: load_burst, job: SyntheticJob, "
                             "args: {x: {y: 1}}, start: 1m}]\n", "faults[0].args"),
    "bad_reference_in_variant": (OK + JOB + "variants:\n  v: {faults: [{type: worker_crash, "
                                 "target: p9, start: 1m}]}\n", "variants.v.faults[0].target"),
    "duplicate_delivery_rate_1": (OK + JOB + "faults: [{type: duplicate_delivery, rate: 1.0, "
                                  "start: 1m}]\n", "expected a probability in [0, 1)"),
    "count_1e9": (OK + "workload: [{job: SyntheticJob, count: 1000000000}]\n", "--allow-large"),
    "burst_1e9": (OK + "workload: [{job: SyntheticJob, burst: 1000000000}]\n", "--allow-large"),
    "fanout_1e9": (OK + "plugins: [jobsim.shop]\n"
                   "workload: [{job: NotificationDeliveryJob, fanout: 1000000000}]\n",
                   "--allow-large"),
    "load_burst_1e9": (OK + JOB + "faults: [{type: load_burst, count: 1000000000, "
                       "start: 1m}]\n", "--allow-large"),
    "rate_per_day": (OK.replace("10m", "1d") + "workload: [{job: SyntheticJob, "
                     "rate: 1000000/s}]\n", "--allow-large"),
    "processes_100000": (OK.replace("processes: 2", "processes: 100000") + JOB,
                         "--allow-large"),
    "misspelt_service_declared": (
        OK + "plugins: [jobsim.shop]\nworld: {services: {emial: {timeout: 5s}}}\n"
        "workload: [{job: NotificationDeliveryJob, fanout: 10}]\n",
        "world.services.emial: no job or fault uses service 'emial' (did you mean 'email'?)"),
    "pool_name_with_a_space": (OK + "world: {pools: {'a b': {size: 3}}}\n" + JOB,
                               "world.pools.a b: expected a name"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_loading_case_is_one_line_exit_2(tmp_path: Path, case: str) -> None:
    text, expected = CASES[case]
    path = tmp_path / "case.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["simulate", str(path), "--quiet",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{path}"), line
    assert expected in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [
    ["simulate", "black_friday", "--scale", "inf"],
    ["simulate", "black_friday", "--scale", "1e9"],
    ["simulate", "black_friday", "--variant", "singel_fifo"],  # did you mean single_fifo
    ["report", "retries", "--jobs", "100000000"],
])
def test_command_line_cases_are_one_line_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_check_suggests_a_close_check_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(tmp_path / "h.jsonl"), "--check", "no_los"])
    assert result.exit_code == 2
    assert result.stderr.startswith("jobsim: --check: unknown check 'no_los' (did you mean "
                                    "'no_loss'?); valid checks: ")


def test_a_fault_job_that_is_not_a_name_is_one_line(tmp_path: Path) -> None:
    """Found by the fuzz test: a load_burst ``job: []`` crashed the declared-args check."""
    path = tmp_path / "case.yaml"
    path.write_text(OK + JOB + "faults: [{type: load_burst, start: 1s, job: [], count: 5}]\n")
    result = CliRunner().invoke(main, ["simulate", str(path), "--quiet",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert "faults[0].job: expected a string" in line


def test_a_service_only_a_python_job_might_call_is_not_refused(tmp_path: Path) -> None:
    """Control for the typo rule: an unused service with no close name loads and runs."""
    path = tmp_path / "s.yaml"
    path.write_text(OK + "world: {services: {ledger: {timeout: 5s}}}\n" + JOB)
    result = CliRunner().invoke(main, ["simulate", str(path), "--scale", "0.5", "--quiet",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
