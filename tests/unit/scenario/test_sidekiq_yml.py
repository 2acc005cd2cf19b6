"""system.sidekiq_yml: a real config/sidekiq.yml read as Sidekiq reads it."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobsim.cli import main
from jobsim.scenario import ScenarioError
from jobsim.scenario.runner import load, run_scenario
from jobsim.scenario.sidekiq_yml import SidekiqYmlWarning

SCENARIO = """\
description: reads a sidekiq.yml
duration: 2m
drain: 30m
system: {{sidekiq_yml: config/sidekiq.yml{extra}}}
workload:
  - {{job: SyntheticJob, count: 20, spread: 10s{queue},
     args: {{p_fail: 1.0, dist: fixed, value: 0.01}}}}
checks: [no_loss]
"""


def write(tmp_path: Path, yml: str, extra: str = "", queue: str = "") -> Path:
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "sidekiq.yml").write_text(yml)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO.format(extra=extra, queue=queue))
    return scenario


def loaded(tmp_path: Path, yml: str, extra: str = "",
           queue: str = "") -> tuple[object, list[str]]:
    path = write(tmp_path, yml, extra, queue)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        system = load(path).system
    return system, [str(w.message) for w in caught if w.category is SidekiqYmlWarning]


def test_symbol_keys_map_onto_the_system(tmp_path: Path) -> None:
    system, warned = loaded(tmp_path, ":concurrency: 8\n:timeout: 20\n:max_retries: 3\n"
                                      ":poll_interval_average: 12\n:dead_max_jobs: 500\n"
                                      ":queues:\n  - critical\n  - default\n")
    assert (system.concurrency, system.shutdown_timeout, system.max_retries,
            system.poll_interval, system.dead_max_jobs) == (8, 20.0, 3, 12.0, 500)
    assert system.queues == (("critical", 1), ("default", 1))
    assert system.queue_mode == "strict"
    assert warned == []


def test_string_keys_mean_the_same_as_symbols(tmp_path: Path) -> None:
    system, _ = loaded(tmp_path, "concurrency: 7\ntimeout: 9\n")
    assert (system.concurrency, system.shutdown_timeout) == (7, 9.0)


@pytest.mark.parametrize(("queues", "expected", "mode"), [
    ("- [critical, 6]\n  - [default, 2]", (("critical", 6), ("default", 2)), "weighted"),
    ("- critical,6\n  - default,2", (("critical", 6), ("default", 2)), "weighted"),
    ("- [a, 1]\n  - [b, 1]", (("a", 1), ("b", 1)), "random"),
    ("- [critical, 6]\n  - default", (("critical", 6), ("default", 1)), "weighted"),
    ("- [a, 0]\n  - b", (("a", 1), ("b", 1)), "strict"),
])
def test_queues_in_every_form_sidekiq_reads(tmp_path: Path, queues: str,
                                            expected: tuple[object, ...], mode: str) -> None:
    # The job must land on a queue the processes listen to: that is checked at load.
    system, _ = loaded(tmp_path, f":queues:\n  {queues}\n", queue=f", queue: {expected[0][0]}")
    assert system.queues == expected
    assert system.queue_mode == mode


def test_scenario_keys_override_the_files(tmp_path: Path) -> None:
    system, _ = loaded(tmp_path, ":concurrency: 8\n:timeout: 20\n", extra=", concurrency: 3")
    assert (system.concurrency, system.shutdown_timeout) == (3, 20.0)


def test_every_key_not_modelled_is_named_in_a_warning(tmp_path: Path) -> None:
    _, warned = loaded(tmp_path, ":verbose: true\n:pidfile: x.pid\n:strict: false\n"
                                 ":concurrency: 4\nproduction:\n  :concurrency: 20\n")
    assert len(warned) == 3
    assert any("':verbose'" in w for w in warned)
    assert any("':pidfile'" in w for w in warned)
    assert any("environment section 'production' is not applied" in w for w in warned)


# Sidekiq's wiki example: per-environment concurrency over shared queues.
ENVIRONMENTS = """\
:concurrency: 5
:queues:
  - critical
  - default
staging:
  :concurrency: 10
production:
  :concurrency: 20
  :queues:
    - [critical, 3]
    - [default, 1]
development:
  :timeout: 8
"""


def test_the_development_section_applies_by_default_as_in_sidekiq(tmp_path: Path) -> None:
    system, warned = loaded(tmp_path, ENVIRONMENTS)
    assert (system.concurrency, system.shutdown_timeout) == (5, 8.0)
    assert system.queue_mode == "strict"
    assert sorted(w.split("section ")[1].split(" ")[0] for w in warned) == [
        "'production'", "'staging'"]
    assert all("set system.sidekiq_env:" in w for w in warned)


@pytest.mark.parametrize(("env", "expected"), [
    ("production", (20, 25.0, "weighted")),   # the section's queues replace the top's
    ("staging", (10, 25.0, "strict")),
    ("review", (5, 25.0, "strict")),          # no such section: the top level alone
])
def test_sidekiq_env_picks_the_section_merged_over_the_top_level(
        tmp_path: Path, env: str, expected: tuple[int, float, str]) -> None:
    system, warned = loaded(tmp_path, ENVIRONMENTS, extra=f", sidekiq_env: {env}")
    assert (system.concurrency, system.shutdown_timeout, system.queue_mode) == expected
    assert not any(f"section '{env}'" in w for w in warned)
    assert any("section 'development' is not applied" in w for w in warned)


def test_scenario_keys_override_the_applied_section(tmp_path: Path) -> None:
    system, _ = loaded(tmp_path, ENVIRONMENTS,
                       extra=", sidekiq_env: production, concurrency: 2")
    assert system.concurrency == 2


@pytest.mark.parametrize(("yml", "extra", "needle"), [
    ("production: 20\n", ", sidekiq_env: production",
     "config/sidekiq.yml:1:1: production: the 'production' environment section must be "
     "a mapping of settings, got 20"),
    ("production:\n  :concurrency: many\n", ", sidekiq_env: production",
     "config/sidekiq.yml:2:3: production.:concurrency: expected an integer"),
    (":timeout: 25\n:max_retries: 3\n:concurrency: ten\n", "",
     "config/sidekiq.yml:3:1: :concurrency: expected an integer"),   # its own line
    (":timeout: 25\n:concurrency: 5\x1f\n", "",
     "config/sidekiq.yml:2:16: invalid YAML: unacceptable character #x001f: special "
     "characters are not allowed"),
    (":concurrency: 5\n", ", sidekiq_env: [production]", "system.sidekiq_env: expected"),
])
def test_a_bad_environment_section_names_file_line_and_key(tmp_path: Path, yml: str,
                                                           extra: str, needle: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load(write(tmp_path, yml, extra=extra))
    assert needle in str(err.value)


def test_sidekiq_env_without_a_sidekiq_yml_is_refused(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO.replace("sidekiq_yml: config/sidekiq.yml{extra}",
                                         "sidekiq_env: production").format(queue=""))
    with pytest.raises(ScenarioError) as err:
        load(scenario)
    assert "system.sidekiq_env: names the environment section of a sidekiq.yml" in str(
        err.value)


def test_capsules_are_named_for_what_they_are(tmp_path: Path) -> None:
    _, warned = loaded(tmp_path, ":capsules:\n  single:\n    :concurrency: 1\n")
    assert warned == [f"{tmp_path / 'config' / 'sidekiq.yml'}: key ':capsules:' is not "
                      "modelled by jobsim (only the default capsule's :concurrency: and "
                      ":queues: are read); ignored"]


@pytest.mark.parametrize(("erb", "value"), [
    ('<%= ENV.fetch("RAILS_MAX_THREADS", 12) %>', 12),
    ("<%= ENV.fetch('RAILS_MAX_THREADS') { 12 } %>", 12),
    ("<%= ENV['SIDEKIQ_CONCURRENCY'] || 12 %>", 12),
    ('<%= Integer(ENV.fetch("SIDEKIQ_CONCURRENCY", "12")) %>', 12),
    ('<%= (ENV["SIDEKIQ_CONCURRENCY"] || "12").to_i -%>', 12),
    ('<%= ENV.fetch("SIDEKIQ_CONCURRENCY", 12).to_i %>', 12),
    ("<%= 12 %><%# threads per process %>", 12),
])
def test_erb_reading_the_environment_is_read_as_its_default(
        tmp_path: Path, erb: str, value: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shell's environment is never read: a run is the same on every machine."""
    monkeypatch.setenv("RAILS_MAX_THREADS", "99")
    monkeypatch.setenv("SIDEKIQ_CONCURRENCY", "99")
    system, warned = loaded(tmp_path, f":timeout: 25\n:concurrency: {erb}\n")
    assert system.concurrency == value
    assert len(warned) == 1
    assert warned[0].startswith(f"{tmp_path / 'config' / 'sidekiq.yml'}:2: ERB <%= ")
    assert f"read as its default, {value} (jobsim never reads the shell's environment" in \
        warned[0]


@pytest.mark.parametrize(("yml", "position", "what"), [
    (":timeout: 25\n<% if true %>\n:concurrency: 5\n<% end %>\n", "2:1",
     "ERB control tag <% if true %>"),
    (":timeout: 25\n:concurrency: <%= ENV.fetch('X').to_i * 2 %>\n", "2:15",
     "ERB <%= ENV.fetch('X').to_i * 2 %>"),
    (":timeout: 25\n:concurrency: <%= ENV.fetch('X', 5)\n", "2:15",
     "an ERB tag (<%) without its %>"),
])
def test_other_erb_is_refused_with_one_line_naming_file_line_and_column(
        tmp_path: Path, yml: str, position: str, what: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load(write(tmp_path, yml))
    message = str(err.value)
    assert f"config/sidekiq.yml:{position}: {what} is not supported" in message
    assert "render the file first or write the values" in message
    assert "\n" not in message


@pytest.mark.parametrize(("yml", "needle"), [
    (":concurrency: ten\n", ":concurrency: expected an integer"),
    (":queues: []\n", ":queues: must not be empty"),
    (":queues:\n  - [a, b, c]\n", ":queues[0]: expected a queue name"),
    (":timeout: -5\n", ":timeout: must not be negative"),
    ("- a\n", "expected a mapping at the top level"),
])
def test_a_bad_value_names_the_sidekiq_yml_and_its_key(tmp_path: Path, yml: str,
                                                       needle: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load(write(tmp_path, yml))
    assert "config/sidekiq.yml" in str(err.value)
    assert needle in str(err.value)


def test_a_missing_file_names_the_field(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO.format(extra="", queue=""))
    with pytest.raises(ScenarioError) as err:
        load(scenario)
    assert "system.sidekiq_yml: no such file" in str(err.value)


def test_max_retries_bounds_retry_true_jobs(tmp_path: Path) -> None:
    few = run_scenario(write(tmp_path, ":max_retries: 2\n"))
    retries = [e for e in few.history.events if e[1] == "retry"]
    assert len(retries) == 20 * 2
    assert {e[7] for e in retries} == {2}                  # max_retries as recorded
    assert sum(1 for e in few.history.events if e[1] == "dead") == 20
    default = run_scenario(write(tmp_path, ":concurrency: 5\n"))   # control: Sidekiq's 25
    assert {e[7] for e in default.history.events if e[1] == "retry"} == {25}


def test_the_cli_prints_warnings_on_stderr_and_runs(tmp_path: Path) -> None:
    path = write(tmp_path, ":max_retries: 0\n:logfile: log/sidekiq.log\n")
    result = CliRunner().invoke(main, ["simulate", str(path), "--quiet", "--out",
                                       str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("jobsim: warning:") == 1
    assert "':logfile' is not modelled by jobsim" in result.stderr
