"""Reading a real ``config/sidekiq.yml`` into a scenario's ``system`` section.

``system: {sidekiq_yml: config/sidekiq.yml}`` (relative to the scenario file) takes the
settings jobsim models from the file Sidekiq itself would read; keys written in the
scenario's ``system`` section override the file's.

How Sidekiq reads the file (sidekiq 7.x, ``lib/sidekiq/cli.rb`` ``parse_config`` and
``lib/sidekiq/capsule.rb`` ``queues=``): the text goes through ERB, then YAML; keys are
deep-symbolized, so ``:concurrency:`` and ``concurrency:`` mean the same; the section
named after the environment is merged over the top level (one level deep: its keys
replace the top level's); ``:strict:`` is dropped. A queue is ``name``,
``"name,weight"`` or ``[name, weight]``; every weight 0 (or absent) checks the queues in
strict order, every weight 1 picks one at random, anything else is weighted.

The environment is Sidekiq's ``-e`` option, else ``APP_ENV``, ``RAILS_ENV`` or
``RACK_ENV``, else ``development``. jobsim takes it from the scenario
(``system.sidekiq_env``, default ``development``, Sidekiq's own default) and never from
the shell, so a scenario runs the same on every machine.

jobsim cannot run Ruby: of ERB it reads only the environment reads with a fallback that
sidekiq.yml files commonly hold, as Ruby would with the variable unset
(``sidekiq_erb``). Another output tag is refused only where jobsim would use its value
(a key it reads, or any top-level or section key), so a tag in ``:logfile:`` or
``:schedule:`` does not stop a run; control tags are always refused. A null value is
Sidekiq's default. Every key it does not model, and every environment section other
than the one applied, gets a warning (``SidekiqYmlWarning``) naming it, and the run goes
on.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import yaml

from jobsim.scenario import fields as f
from jobsim.scenario import sidekiq_erb
from jobsim.scenario.errors import ScenarioError, Where, show
from jobsim.scenario.positions import place, reader_error, scan

# sidekiq.yml key -> (scenario system key, reader of the file's value)
Reader = Callable[[Any, Where], Any]
SILENTLY_DROPPED = ("strict",)        # Sidekiq's own parse_config deletes it
DEFAULT_ENVIRONMENT = "development"   # Sidekiq's when neither -e nor APP_ENV & co is set


class SidekiqYmlWarning(UserWarning):
    """A sidekiq.yml key jobsim does not model; it is ignored."""


def _seconds(value: Any, where: Where) -> float:
    return f.duration()(_number(value, where), where)


def _positive_seconds(value: Any, where: Where) -> float:
    return f.duration(positive=True)(_number(value, where), where)


def _number(value: Any, where: Where) -> Any:
    """Sidekiq does arithmetic on its times: a string ('1m', even '30') fails there, so
    jobsim does not read one as the scenario's durations would."""
    if isinstance(value, str):
        raise where.error(f"expected a number of seconds (Sidekiq adds this value to a "
                          f"clock, so a string fails there), got {show(value)}")
    return value


MAPPING: dict[str, tuple[str, Reader]] = {
    "concurrency": ("concurrency", f.integer(minimum=1)),
    "queues": ("queues", lambda value, where: read_queues(value, where)),
    "timeout": ("shutdown_timeout", _seconds),
    "max_retries": ("max_retries", f.integer(minimum=0)),
    "poll_interval_average": ("poll_interval", _positive_seconds),
    "dead_max_jobs": ("dead_max_jobs", f.integer(minimum=1)),
    "dead_timeout_in_seconds": ("dead_timeout", _positive_seconds),
    "capsules": ("capsules", lambda value, where: read_capsules(value, where)),
}
CAPSULE_KEYS = ("concurrency", "queues")    # all Sidekiq's CLI reads of a capsule


def load(path: str, where: Where, environment: str = DEFAULT_ENVIRONMENT,
         overridden: Collection[str] = ()) -> dict[str, Any]:
    """The ``system`` keys set by the sidekiq.yml at PATH (relative to the scenario file
    named by WHERE), in the scenario's spelling, with the ``environment`` section merged
    over the top level; warns once per key not modelled. A key whose scenario name is in
    OVERRIDDEN is not read (the scenario's value wins), so its ERB need not be readable.
    A null value is returned as None: Sidekiq's default (a section's null unsets the
    top level's value, as Sidekiq's merge does)."""
    file = _resolve(path, where)
    source = _read(file, where)
    here = Where(str(file))
    rendered, notes = _render(source, here, environment, overridden)
    data, node = _parse(rendered, str(file))
    for note in notes:
        warnings.warn(SidekiqYmlWarning(note), stacklevel=2)
    if data is None:
        return {}
    try:
        return _settings(data, here, environment, overridden)
    except ScenarioError as err:        # FILE:LINE:COL inside the sidekiq.yml itself
        raise _in_source(place(err, node), rendered) from None


def _render(source: str, here: Where, environment: str,
            overridden: Collection[str]) -> tuple[sidekiq_erb.Rendered, list[str]]:
    """The file through the ERB jobsim reads. Every output tag is first rendered as a
    placeholder to learn which ones feed a value jobsim uses: those must be readable
    (else the error names the tag), and each gets a warning naming the value used."""
    probe = sidekiq_erb.render(source, here.file, placeholders=True)
    if not probe.tags:
        return probe, []
    try:
        data, _ = _parse(probe, here.file)
        used = _used_tags(data, environment, overridden)
    except ScenarioError:               # reported by the real rendering, below
        used = {tag.index: "" for tag in probe.tags}
    for tag in probe.tags:
        if tag.index in used and tag.value is None:
            key = used[tag.index]
            fix = (f"write the value Sidekiq should get in its place, or set "
                   f"system.{MAPPING[key][0]} in the scenario (it overrides the file)"
                   if key in MAPPING else "write the value Sidekiq should get in its place")
            raise ScenarioError(
                here.file, "", f"ERB {tag.shown()}{f' (in :{key}:)' if key else ''} is not "
                "supported: jobsim reads only ENV.fetch / ENV[...] with a literal default "
                f"(docs/scenarios.md); {fix}", line=tag.line, column=tag.column)
    notes = [f"{here.file}:{tag.line}: ERB {tag.shown()} read as "
             f"{_shown_default(tag.value or '')} (jobsim never reads the shell's "
             "environment: write another value in the file, or in the scenario's system "
             "section, to model it)" for tag in probe.tags
             if tag.index in used and "ENV" in tag.body]    # a literal is exact: no note
    return sidekiq_erb.render(source, here.file), notes


def _shown_default(value: str) -> str:
    return f"its default, {value}" if value else "nothing (the variable unset), so the key is unset"


def _used_tags(data: Any, environment: str, overridden: Collection[str]) -> dict[int, str]:
    """Tag index -> the sidekiq.yml key whose value jobsim uses and holds it (after the
    section's merge); a tag in any top-level or section key counts too, with no key:
    it could name a setting or an environment."""
    used: dict[int, str] = {}
    if not isinstance(data, dict):
        return used
    sections = [v for k, v in data.items() if _name(k) == environment and isinstance(v, dict)]
    merged: dict[str, Any] = {}
    for scope in (data, *sections):
        for raw_key, value in scope.items():
            for index in _placeholders(raw_key):
                used.setdefault(index, "")
            if _name(raw_key) != environment or scope is not data:
                merged[_name(raw_key)] = value
    for key, value in merged.items():
        if key in MAPPING and MAPPING[key][0] not in overridden:
            for index in _placeholders(value):
                used.setdefault(index, key)
    return used


def _placeholders(value: Any) -> list[int]:
    if isinstance(value, str):
        return [int(m["index"]) for m in sidekiq_erb.PLACEHOLDER.finditer(value)]
    if isinstance(value, list):
        return [i for item in value for i in _placeholders(item)]
    if isinstance(value, dict):
        return [i for k, v in value.items() for i in (*_placeholders(k), *_placeholders(v))]
    return []


def _parse(rendered: sidekiq_erb.Rendered, file: str) -> tuple[Any, yaml.Node | None]:
    """The YAML document and its node; errors placed in the source file."""
    text = rendered.text
    try:
        scan(text, file)                # the scenario file's depth and alias budgets
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = None if node is None else yaml.SafeLoader("").construct_document(node)
    except yaml.reader.ReaderError as exc:
        raise _in_source(reader_error(file, text, exc), rendered) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise _in_source(ScenarioError(
            file, "", f"invalid YAML: {getattr(exc, 'problem', exc)}",
            line=mark.line + 1 if mark else 0, column=mark.column + 1 if mark else 0),
            rendered) from None
    except ScenarioError as err:
        raise _in_source(err, rendered) from None
    return data, node


def _in_source(err: ScenarioError, rendered: sidekiq_erb.Rendered) -> ScenarioError:
    """ERR placed in the file as written, not as rendered (a tag's text has another
    length than its value, and ``-%>`` drops a newline)."""
    if not err.line:
        return err
    return err.at(*rendered.position(err.line, err.column))


def _settings(data: Any, here: Where, environment: str,
              overridden: Collection[str] = ()) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise here.error(f"expected a mapping at the top level, got {show(data)}")
    sections = [k for k in data if _name(k) == environment]
    if not sections and environment != DEFAULT_ENVIRONMENT:
        _no_section(here.file, environment, data)
    top = _translate({k: v for k, v in data.items() if k not in sections}, here, environment,
                     overridden)
    for key in sections:            # one, unless the file spells it both ways
        section = data[key]
        if section is None:
            continue
        if not isinstance(section, dict):
            raise here.key(str(key)).error(
                f"the {environment!r} environment section must be a mapping of settings, "
                f"got {show(section)}")
        top.update(_translate(section, here.key(str(key)), environment, overridden))
    _fold_default_capsule(top, overridden)
    return top


def _no_section(file: str, environment: str, data: dict[Any, Any]) -> None:
    """``system.sidekiq_env`` names an environment the file has no section for: Sidekiq
    then runs on the top level alone, silently; a misspelt name (prod for production)
    would model the wrong deployment, so say so."""
    others = [_name(k) for k, v in data.items() if isinstance(v, dict)
              and _name(k) not in MAPPING and _name(k) not in NOT_ENVIRONMENTS]
    found = f"its sections: {', '.join(others)}" if others else "it has none"
    warnings.warn(SidekiqYmlWarning(
        f"{file}: no {environment!r} environment section ({found}); the top level is "
        f"used as it is, as Sidekiq would"), stacklevel=4)


def _name(key: Any) -> str:
    """A key as Sidekiq's deep symbolization sees it: ``:concurrency`` is ``concurrency``."""
    return str(key).removeprefix(":")


def _resolve(path: str, where: Where) -> Path:
    base = Path(where.file).parent if where.file else Path(".")
    return Path(path) if Path(path).is_absolute() else base / path


def _read(file: Path, where: Where) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise where.error(f"no such file {str(file)!r}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise where.error(f"cannot read {str(file)!r}: {exc}") from None


def _translate(data: dict[Any, Any], where: Where, environment: str,
               overridden: Collection[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = _name(raw_key)
        at = where.key(str(raw_key))
        if key in MAPPING:
            target, read = MAPPING[key]
            if target in overridden:
                continue
            out[target] = None if value is None else read(value, at)
        elif key not in SILENTLY_DROPPED:
            _warn(where.file, str(raw_key), value, environment)
    return out


# Settings of Sidekiq and its common plugins whose value is a mapping: never an
# environment section, whatever the file's environments are called.
NOT_ENVIRONMENTS = {
    "schedule": "sidekiq-cron / sidekiq-scheduler jobs: write them as workload entries",
    "scheduler": "sidekiq-scheduler's settings: write its jobs as workload entries",
    "cron": "sidekiq-cron jobs: write them as workload entries",
    "limits": "sidekiq-limit_fetch's per-queue limits",
    "process_limits": "sidekiq-limit_fetch's per-process limits",
    "redis": "jobsim runs its own broker (--broker)",
    "lifecycle_events": "Sidekiq's lifecycle callbacks",
}


def _warn(file: str, key: str, value: Any, environment: str) -> None:
    name = _name(key)
    if name in NOT_ENVIRONMENTS:
        what = f"key {key!r} is not modelled by jobsim ({NOT_ENVIRONMENTS[name]}); ignored"
    elif isinstance(value, dict):
        what = (f"environment section {key!r} is not applied: the environment is "
                f"{environment!r} (set system.sidekiq_env: {name} to apply it "
                f"instead); ignored")
    else:
        what = f"key {key!r} is not modelled by jobsim; ignored"
    warnings.warn(SidekiqYmlWarning(f"{file}: {what}"), stacklevel=3)


def read_capsules(value: Any, where: Where) -> dict[str, dict[str, Any]]:
    """``:capsules:`` (Sidekiq 7, ``lib/sidekiq/cli.rb``): name -> its ``:concurrency:``
    and ``:queues:``, the only keys Sidekiq reads there (others are warned of). Both are
    required: Sidekiq sets the capsule's from them, with no fallback."""
    out: dict[str, dict[str, Any]] = {}
    for raw_name, spec in f.mapping(_stringed(value, where), where).items():
        at = where.key(raw_name)
        capsule: dict[str, Any] = {}
        for raw_key, setting in f.mapping(_stringed(spec, at), at).items():
            key = _name(raw_key)
            if key == "concurrency":
                capsule[key] = f.integer(minimum=1)(setting, at.key(raw_key))
            elif key == "queues":
                capsule[key] = read_queues(setting, at.key(raw_key))
            else:
                warnings.warn(SidekiqYmlWarning(
                    f"{where.file}: capsule {_name(raw_name)!r}: key {raw_key!r} is not "
                    f"read by Sidekiq (only {', '.join(CAPSULE_KEYS)}); ignored"), stacklevel=4)
        missing = [f":{key}:" for key in CAPSULE_KEYS if key not in capsule]
        if missing:
            raise at.error(f"a capsule needs {' and '.join(missing)} (Sidekiq sets the "
                           f"capsule's from them, with no default)")
        out[_name(raw_name)] = capsule
    return out


def _fold_default_capsule(settings: dict[str, Any], overridden: Collection[str]) -> None:
    """A capsule named ``default`` is Sidekiq's default capsule itself: its settings
    replace the top level's (``Config#capsule`` returns the existing one, and the CLI
    sets the capsules after the top-level keys), except those the scenario sets."""
    capsules = settings.get("capsules")
    if capsules and "default" in capsules:
        settings.update({key: value for key, value in capsules.pop("default").items()
                         if key not in overridden})
        if not capsules:
            del settings["capsules"]


def _stringed(value: Any, where: Where) -> Any:
    """A mapping's keys as text (YAML may give ``1:`` an int key; Sidekiq symbolizes it)."""
    if not isinstance(value, dict):
        return value
    return {str(key): item for key, item in value.items()}


def read_queues(value: Any, where: Where) -> list[Any]:
    """Sidekiq's queue list in the scenario's spelling: names (strict) or [name, weight].

    As in ``Capsule#queues=`` and ``BasicFetch``: a queue is listed max(weight, 1) times
    (a plain name weighs 1 among weights), the mode follows each name's last weight, and
    strict order drops repeats; a queue written twice thus adds its copies."""
    items = f.sequence(value, where, nonempty=True)
    queues = [_queue(item, where.index(i)) for i, item in enumerate(items)]
    last = {name: weight for name, weight in queues}
    if all(weight == 0 for weight in last.values()):
        return list(last)                               # first-appearance order
    copies: dict[str, int] = {}
    for name, weight in queues:
        copies[name] = copies.get(name, 0) + max(weight, 1)
    return [[name, count] for name, count in copies.items()]


def _queue(item: Any, where: Where) -> tuple[str, int]:
    if isinstance(item, str):
        name, _, weight = item.partition(",")
        parts: list[Any] = [name.strip(), weight.strip()] if weight else [name.strip()]
    elif isinstance(item, list) and 1 <= len(item) <= 2:
        parts = list(item)
    else:
        raise where.error(f"expected a queue name, 'name,weight' or [name, weight], "
                          f"got {show(item)}")
    # ``- :critical`` is the Symbol :critical to Sidekiq's YAML, which names the queue
    raw = str(parts[0]).removeprefix(":") if isinstance(parts[0], str | int) else parts[0]
    name = f.name(raw, where.index(0) if isinstance(item, list) else where)
    if len(parts) == 1:
        return name, 0
    weight = parts[1]
    if isinstance(weight, str) and weight.isdigit():
        weight = int(weight)
    return name, f.integer(minimum=0)(weight, where.index(1) if isinstance(item, list)
                                      else where)
