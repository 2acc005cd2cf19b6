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


def test_an_environment_the_file_has_no_section_for_is_said(tmp_path: Path) -> None:
    # Sidekiq runs the top level alone, silently; 'prod' for 'production' would model
    # the wrong deployment. The default environment, absent, is not worth a word.
    _, warned = loaded(tmp_path, ENVIRONMENTS, extra=", sidekiq_env: prod")
    (said,) = [w for w in warned if "no 'prod' environment section" in w]
    assert "its sections: staging, production, development" in said
    _, warned = loaded(tmp_path, ":concurrency: 5\n")
    assert not any("environment section" in w for w in warned)
    _, warned = loaded(tmp_path, ":concurrency: 5\n", extra=", sidekiq_env: production")
    assert any("no 'production' environment section (it has none)" in w for w in warned)


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


@pytest.mark.parametrize(("yml", "key", "why"), [
    (":schedule:\n  nightly:\n    cron: '0 3 * * *'\n    class: Nightly\n", "':schedule'",
     "sidekiq-cron / sidekiq-scheduler jobs"),
    (":scheduler:\n  :schedule:\n    hourly:\n      every: 1h\n", "':scheduler'",
     "sidekiq-scheduler's settings"),
    (":limits:\n  default: 2\n", "':limits'", "sidekiq-limit_fetch's per-queue limits"),
    ("schedule:\n  nightly:\n    cron: '0 3 * * *'\n", "'schedule'", "sidekiq-cron"),
])
def test_plugin_settings_that_are_mappings_are_not_called_environments(
        tmp_path: Path, yml: str, key: str, why: str) -> None:
    """A mapping value is not an environment section when it is a known setting."""
    _, warned = loaded(tmp_path, yml)
    assert len(warned) == 1
    assert warned[0].startswith(f"{tmp_path / 'config' / 'sidekiq.yml'}: key {key} is not "
                                f"modelled by jobsim ({why}")
    assert "environment" not in warned[0]


@pytest.mark.parametrize(("erb", "value"), [
    ('<%= ENV.fetch("RAILS_MAX_THREADS", 12) %>', 12),
    ("<%= ENV.fetch('RAILS_MAX_THREADS') { 12 } %>", 12),
    ("<%= ENV['SIDEKIQ_CONCURRENCY'] || 12 %>", 12),
    ('<%= Integer(ENV.fetch("SIDEKIQ_CONCURRENCY", "12")) %>', 12),
    ('<%= (ENV["SIDEKIQ_CONCURRENCY"] || "12").to_i -%>', 12),
    ('<%= ENV.fetch("SIDEKIQ_CONCURRENCY", 12).to_i %>', 12),
    ("<%= ENV['SIDEKIQ_CONCURRENCY']&.to_i || 12 %>", 12),
    ("<%= ENV['SIDEKIQ_CONCURRENCY'] ? ENV['SIDEKIQ_CONCURRENCY'].to_i : 12 %>", 12),
    ("<%= ENV.fetch('SIDEKIQ_CONCURRENCY', '12').to_s %>", 12),
    ("<%= ENV.fetch('SIDEKIQ_CONCURRENCY', 12) -%>", 12),
    ("<%= ENV.fetch('SIDEKIQ_CONCURRENCY') { ENV.fetch('RAILS_MAX_THREADS', 12) } %>", 12),
    ("<%= Integer(ENV['SIDEKIQ_CONCURRENCY'] || ENV.fetch('RAILS_MAX_THREADS', '12')) %>", 12),
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


@pytest.mark.parametrize(("yml", "position", "what", "fix"), [
    (":timeout: 25\n<% if true %>\n:concurrency: 5\n<% end %>\n", "2:1",
     "ERB control tag <% if true %>", "jobsim cannot run Ruby, so it cannot tell which "
     "lines this tag keeps: render the file first"),
    (":timeout: 25\n:concurrency: <%= ENV.fetch('X').to_i * 2 %>\n", "2:15",
     "ERB <%= ENV.fetch('X').to_i * 2 %> (in :concurrency:)", "jobsim reads only "
     "ENV.fetch / ENV[...] with a literal default (docs/scenarios.md); write the value "
     "Sidekiq should get in its place, or set system.concurrency in the scenario"),
    (":timeout: 25\n:concurrency: <%= ENV.fetch('X', 5)\n", "2:15",
     "an ERB tag (<%) without its %>", "close it with %>"),
    (":queues:\n  - default\n  - <%= Socket.gethostname %>\n", "3:5",
     "ERB <%= Socket.gethostname %> (in :queues:)", "jobsim reads only ENV.fetch"),
])
def test_other_erb_is_refused_with_one_line_naming_file_line_and_column(
        tmp_path: Path, yml: str, position: str, what: str, fix: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load(write(tmp_path, yml))
    message = str(err.value)
    assert f"config/sidekiq.yml:{position}: {what} is not supported: {fix}" in message
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


def test_an_environment_read_without_a_default_is_the_variable_unset(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ENV["X"]`` prints nothing when X is unset: the key is null, Sidekiq's default."""
    monkeypatch.setenv("SIDEKIQ_CONCURRENCY", "99")
    system, warned = loaded(tmp_path, ":concurrency: <%= ENV['SIDEKIQ_CONCURRENCY'] %>\n")
    assert system.concurrency == 5
    assert len(warned) == 1
    assert "read as nothing (the variable unset), so the key is unset" in warned[0]


def test_erb_jobsim_does_not_use_is_neither_refused_nor_reported(tmp_path: Path) -> None:
    """Only tags that feed a value jobsim reads must be readable, and only they warn."""
    yml = ("<%# written by the deploy tool %>\n:concurrency: 4\n"
           ":logfile: <%= AppConfig.sidekiq_log unless AppConfig.heroku? %>\n"
           ":schedule:\n  nightly:\n    every: <%= ENV.fetch('NIGHTLY', '1d') %>\n"
           "    enabled: <%= %w[production].include?(ENV['RACK_ENV']) %>\n"
           "production:\n  :concurrency: <%= ENV.fetch('THREADS', 30) %>\n")
    system, warned = loaded(tmp_path, yml)
    assert system.concurrency == 4
    assert not [w for w in warned if "ERB" in w]
    system, warned = loaded(tmp_path, yml, extra=", sidekiq_env: production")
    assert system.concurrency == 30
    assert [w.split(": ERB")[0][-2:] for w in warned if "ERB" in w] == [":9"]


def test_a_key_the_scenario_sets_needs_no_readable_erb(tmp_path: Path) -> None:
    yml = ":concurrency: <%= AppConfig.environment.sidekiq.concurrency.to_i %>\n:timeout: 9\n"
    with pytest.raises(ScenarioError, match=r"sidekiq.yml:1:15: ERB .* \(in :concurrency:\)"):
        load(write(tmp_path, yml))
    system, _ = loaded(tmp_path, yml, extra=", concurrency: 3")
    assert (system.concurrency, system.shutdown_timeout) == (3, 9.0)


def test_null_is_sidekiqs_default_and_a_sections_null_unsets_the_top_level(
        tmp_path: Path) -> None:
    """Sidekiq merges the section over the top level, so its null replaces the value,
    and then applies its defaults (5 threads, the ``default`` queue)."""
    yml = ":concurrency: 12\n:queues:\n#  - critical\nproduction:\n  :concurrency:\n"
    system, _ = loaded(tmp_path, yml)
    assert (system.concurrency, system.queues) == (12, (("default", 1),))
    system, _ = loaded(tmp_path, yml, extra=", sidekiq_env: production")
    assert system.concurrency == 5


def test_a_symbol_queue_name_is_the_queue_of_that_name(tmp_path: Path) -> None:
    """``- :critical`` is the Symbol :critical in Sidekiq's YAML; it names 'critical'."""
    system, _ = loaded(tmp_path, ":queues:\n  - :critical\n  - :default\n")
    assert system.queues == (("critical", 1), ("default", 1))
    assert system.queue_mode == "strict"


def test_trimmed_tags_drop_their_newline_as_in_sidekiq(tmp_path: Path) -> None:
    """``-%>`` eats the newline after it, so Sidekiq reads these lines as one and fails;
    the error names the place in the file as written."""
    yml = ":concurrency: <%= ENV.fetch('X', 5) -%>\n:timeout: 9\n"
    with pytest.raises(ScenarioError) as err:
        load(write(tmp_path, yml))
    assert "config/sidekiq.yml:2:9: invalid YAML: mapping values are not allowed" in str(
        err.value)


def test_a_yaml_error_after_a_tag_is_placed_in_the_file_as_written(tmp_path: Path) -> None:
    line = ':queues: [<%= ENV.fetch("FIRST_QUEUE", "alpha") %>, beta]]'
    with pytest.raises(ScenarioError) as err:
        load(write(tmp_path, f":timeout: 3\n{line}\n"))
    assert f"config/sidekiq.yml:2:{line.rindex(']') + 1}: invalid YAML" in str(err.value)


@pytest.mark.parametrize("key", [":timeout:", ":poll_interval_average:",
                                 ":dead_timeout_in_seconds:"])
def test_a_time_written_as_a_string_is_refused_as_sidekiq_cannot_use_it(
        tmp_path: Path, key: str) -> None:
    """Sidekiq adds these to a clock: '1m' would be read as 60 s by the scenario's
    duration rules, but Sidekiq fails on it."""
    with pytest.raises(ScenarioError) as err:
        load(write(tmp_path, f"{key} 1m\n"))
    assert f"{key[:-1]}: expected a number of seconds" in str(err.value)


def test_a_literal_tag_is_read_exactly_and_not_reported(tmp_path: Path) -> None:
    """``<%= 12 %>`` prints 12 whatever the environment: nothing to warn about."""
    system, warned = loaded(tmp_path, ':concurrency: <%= 12 %><%# threads %>\n'
                                      ':queues:\n  - [<%= "very_" %>often, 2]\n  - [rare, 1]\n',
                       queue=", queue: very_often")
    assert system.concurrency == 12
    assert system.queues == (("very_often", 2), ("rare", 1))
    assert warned == []


@pytest.mark.parametrize(("queues", "expected", "mode"), [
    ("- default\n  - low\n  - default", (("default", 1), ("low", 1)), "strict"),
    ("- [default, 2]\n  - [low, 1]\n  - [default, 3]", (("default", 5), ("low", 1)),
     "weighted"),
])
def test_a_queue_written_twice_is_read_as_sidekiq_fetches_it(
        tmp_path: Path, queues: str, expected: tuple[object, ...], mode: str) -> None:
    """Strict fetch drops repeats; weighted fetch shuffles every copy, so they add up.
    The scenario's own rule (names distinct) must not blame the scenario file."""
    system, _ = loaded(tmp_path, f":queues:\n  {queues}\n")
    assert (system.queues, system.queue_mode) == (expected, mode)
