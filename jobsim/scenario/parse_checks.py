"""Readers for what judges a run: ``checks:`` entries with options, ``order:`` rules and a
workload entry's ``effect:`` template. Patterns and options are the checkers' own
vocabulary (``checks/pattern.py``, each checker's ``OPTIONS``); this module only points
their messages at the file's path.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from jobsim.checks.options import OptionError
from jobsim.checks.pattern import PatternError, rule, template
from jobsim.checks.registry import validate_options
from jobsim.scenario import fields as f
from jobsim.scenario.errors import Where

RULE_KEYS = ("before", "after")
Checks = tuple[tuple[str, ...], dict[str, dict[str, Any]]]


def checks(known: Collection[str]) -> f.Reader[Checks]:
    """``[no_loss, {priority: {alpha: 0.01}}]`` -> (names, options per name)."""
    member = f.member("check", known)

    def read(value: Any, where: Where) -> Checks:
        names: list[str] = []
        options: dict[str, dict[str, Any]] = {}
        for i, item in enumerate(f.sequence(value, where)):
            at = where.index(i)
            if isinstance(item, dict):
                if len(item) != 1:
                    raise at.error("expected a check name, or one name mapped to its options")
                ((raw, opts),) = item.items()
                name = member(raw, at)
                options[name] = _options(name, opts, at.key(name))
            else:
                name = member(item, at)
            if name in names:
                raise at.error(f"duplicate check {name!r}")
            names.append(name)
        return tuple(names), options

    return read


def _options(name: str, value: Any, where: Where) -> dict[str, Any]:
    given = {} if value is None else f.mapping(value, where)
    try:
        return validate_options(name, given)
    except OptionError as err:
        bad = next((k for k in given if k in str(err)), None)
        raise (where.key(bad) if bad else where).error(str(err)) from None


def order(value: Any, where: Where) -> tuple[dict[str, str], ...]:
    """``[{before: "effect payment:{order}", after: "start FulfillmentJob({order})"}]``."""
    rules = []
    for i, item in enumerate(f.sequence(value, where)):
        at = where.index(i)
        data = f.mapping(item, at, RULE_KEYS)
        before = f.required(data, "before", at, f.string)
        after = f.required(data, "after", at, f.string)
        try:
            rule(before, after)
        except PatternError as err:
            raise at.error(str(err)) from None
        rules.append({"before": before, "after": after})
    return tuple(rules)


def effect(value: Any, where: Where) -> str:
    """An effect key template over the job's arguments, by position (``email:{1}:{0}``)
    or by field of its args object (a declared job's ``webhook:{event_id}``); the
    references check that the job's args hold each one."""
    text = f.string(value, where)
    try:
        template(text)
    except PatternError as err:
        raise where.error(str(err)) from None
    return text
