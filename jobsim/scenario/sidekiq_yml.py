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
sidekiq.yml files commonly hold, as their fallbacks (``sidekiq_erb``); any other tag is
refused. Every key it does not model, and every environment section other than the one
applied, gets a warning (``SidekiqYmlWarning``) naming it, and the run goes on.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
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
    return f.duration()(value, where)


def _positive_seconds(value: Any, where: Where) -> float:
    return f.duration(positive=True)(value, where)


MAPPING: dict[str, tuple[str, Reader]] = {
    "concurrency": ("concurrency", f.integer(minimum=1)),
    "queues": ("queues", lambda value, where: read_queues(value, where)),
    "timeout": ("shutdown_timeout", _seconds),
    "max_retries": ("max_retries", f.integer(minimum=0)),
    "poll_interval_average": ("poll_interval", _positive_seconds),
    "dead_max_jobs": ("dead_max_jobs", f.integer(minimum=1)),
    "dead_timeout_in_seconds": ("dead_timeout", _positive_seconds),
}


def load(path: str, where: Where, environment: str = DEFAULT_ENVIRONMENT) -> dict[str, Any]:
    """The ``system`` keys set by the sidekiq.yml at PATH (relative to the scenario file
    named by WHERE), in the scenario's spelling, with the ``environment`` section merged
    over the top level; warns once per key not modelled."""
    file = _resolve(path, where)
    text = _read(file, where)
    here = Where(str(file))
    text, notes = sidekiq_erb.render(text, str(file))
    for note in notes:
        warnings.warn(SidekiqYmlWarning(note), stacklevel=2)
    try:
        scan(text, str(file))           # the scenario file's depth and alias budgets
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = None if node is None else yaml.SafeLoader("").construct_document(node)
    except yaml.reader.ReaderError as exc:
        raise reader_error(str(file), text, exc) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ScenarioError(str(file), "", f"invalid YAML: {getattr(exc, 'problem', exc)}",
                            line=mark.line + 1 if mark else 0,
                            column=mark.column + 1 if mark else 0) from None
    if data is None:
        return {}
    try:
        return _settings(data, here, environment)
    except ScenarioError as err:        # FILE:LINE:COL inside the sidekiq.yml itself
        raise place(err, node) from None


def _settings(data: Any, here: Where, environment: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise here.error(f"expected a mapping at the top level, got {show(data)}")
    sections = [k for k in data if _name(k) == environment]
    top = _translate({k: v for k, v in data.items() if k not in sections}, here, environment)
    for key in sections:            # one, unless the file spells it both ways
        section = data[key]
        if section is None:
            continue
        if not isinstance(section, dict):
            raise here.key(str(key)).error(
                f"the {environment!r} environment section must be a mapping of settings, "
                f"got {show(section)}")
        top.update(_translate(section, here.key(str(key)), environment))
    return top


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


def _translate(data: dict[Any, Any], where: Where, environment: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = _name(raw_key)
        at = where.key(str(raw_key))
        if key in MAPPING:
            target, read = MAPPING[key]
            out[target] = read(value, at)
        elif key not in SILENTLY_DROPPED:
            _warn(where.file, str(raw_key), value, environment)
    return out


def _warn(file: str, key: str, value: Any, environment: str) -> None:
    if _name(key) == "capsules":
        what = ("key ':capsules:' is not modelled by jobsim (only the default capsule's "
                ":concurrency: and :queues: are read); ignored")
    elif isinstance(value, dict):
        what = (f"environment section {key!r} is not applied: the environment is "
                f"{environment!r} (set system.sidekiq_env: {_name(key)} to apply it "
                f"instead); ignored")
    else:
        what = f"key {key!r} is not modelled by jobsim; ignored"
    warnings.warn(SidekiqYmlWarning(f"{file}: {what}"), stacklevel=3)


def read_queues(value: Any, where: Where) -> list[Any]:
    """Sidekiq's queue list in the scenario's spelling: names (strict) or [name, weight]."""
    items = f.sequence(value, where, nonempty=True)
    queues = [_queue(item, where.index(i)) for i, item in enumerate(items)]
    if all(weight == 0 for _, weight in queues):
        return [name for name, _ in queues]
    # Sidekiq lists a queue max(weight, 1) times: a plain name weighs 1 among weights.
    return [[name, max(weight, 1)] for name, weight in queues]


def _queue(item: Any, where: Where) -> tuple[str, int]:
    if isinstance(item, str):
        name, _, weight = item.partition(",")
        parts: list[Any] = [name.strip(), weight.strip()] if weight else [name.strip()]
    elif isinstance(item, list) and 1 <= len(item) <= 2:
        parts = list(item)
    else:
        raise where.error(f"expected a queue name, 'name,weight' or [name, weight], "
                          f"got {show(item)}")
    name = f.name(str(parts[0]) if isinstance(parts[0], str | int) else parts[0],
                  where.index(0) if isinstance(item, list) else where)
    if len(parts) == 1:
        return name, 0
    weight = parts[1]
    if isinstance(weight, str) and weight.isdigit():
        weight = int(weight)
    return name, f.integer(minimum=0)(weight, where.index(1) if isinstance(item, list)
                                      else where)
