"""Event patterns with key templates: the spelling of ordering rules and expected effects.

Why: "FulfillmentJob for order K starts only after the payment for order K is captured"
relates two kinds of event by a shared key. A pattern names one kind of event and binds
names from it; a rule relates two patterns through the names they share. Any user's jobs
and effect keys can be described, not only the shop's.

Spelling (documented in docs/scenarios.md):

- ``effect TEMPLATE``: an effect whose key matches TEMPLATE, e.g. ``effect payment:{order}``.
  ``{name}`` matches any non-empty text and binds it; the rest is literal.
- ``start JOB(ARGS)``, ``success JOB(ARGS)``, ``enqueue JOB(ARGS)``: an execution began, a
  (non-duplicate) execution succeeded, or the job entered the system. JOB is a class name
  or ``*``; ARGS are the job's positional arguments, each ``{name}`` (binds the argument),
  ``*`` (anything) or a literal (compared as text); arguments past the pattern's are
  ignored and ``JOB`` alone matches any arguments. ``FIELD=`` before one of those
  (``CaptureCard(payment_id={p})``) matches a field of the job's mapping argument
  instead: a declared job's args are one JSON object, so its values are named, not
  numbered.

Bound values are text: the integer argument 7 and the ``7`` of ``payment:7`` bind alike.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

KINDS = ("effect", "start", "success", "enqueue")
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_]+)\}")
_JOB = re.compile(r"(\*|[A-Za-z_][A-Za-z0-9_.:]*)(?:\((.*)\))?")
_FIELD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)")


class PatternError(ValueError):
    """A pattern or template that cannot be read: bad input."""


def text(value: Any) -> str:
    """A bound value as text: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class Template:
    """A key template: literal text with ``{name}`` placeholders."""

    source: str
    names: tuple[str, ...]
    regex: re.Pattern[str]

    def match(self, key: Any) -> dict[str, str] | None:
        found = self.regex.fullmatch(text(key))
        if found is None:
            return None
        return {name: found.group(f"g{i}") for i, name in enumerate(self.names)}

    def render(self, binding: dict[str, str]) -> str:
        return _PLACEHOLDER.sub(lambda m: binding[m.group(1)], self.source)


def template(source: str) -> Template:
    """Compile ``source``; a name used twice must bind the same text both times."""
    if not isinstance(source, str) or not source:
        raise PatternError(f"expected a key template like 'email:{{user}}', got {source!r}")
    names: list[str] = []
    parts: list[str] = []
    last = 0
    for m in _PLACEHOLDER.finditer(source):
        parts.append(re.escape(source[last:m.start()]))
        name = m.group(1)
        if name in names:
            parts.append(f"(?P=g{names.index(name)})")
        else:
            parts.append(f"(?P<g{len(names)}>.+?)")
            names.append(name)
        last = m.end()
    rest = source[last:]
    stray = _PLACEHOLDER.sub("", source)
    if "{" in stray or "}" in stray:
        raise PatternError(f"template {source!r}: braces must enclose a name like {{order}}")
    parts.append(re.escape(rest))
    return Template(source, tuple(names), re.compile("".join(parts)))


@dataclass(frozen=True)
class Pattern:
    """One kind of event and the names it binds."""

    source: str
    kind: str
    key: Template | None = None           # effect
    job: str | None = None                # start / success / enqueue: class, or None for *
    # per position: ("bind", name), ("any", ""), or ("eq", text)
    args: tuple[tuple[str, str], ...] = ()
    # per named field of the mapping argument: (field, how, value), how as for args
    fields: tuple[tuple[str, str, str], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        if self.key is not None:
            return self.key.names
        return tuple(dict.fromkeys(
            [*(v for how, v in self.args if how == "bind"),
             *(v for _, how, v in self.fields if how == "bind")]))

    def match_effect(self, key: Any) -> dict[str, str] | None:
        return self.key.match(key) if self.key is not None else None

    def match_job(self, cls: str | None, args: Any) -> dict[str, str] | None:
        if self.job is not None and cls != self.job:
            return None
        if not self.args and not self.fields:
            return {}
        if not isinstance(args, list) or len(args) < len(self.args):
            return None
        pairs: list[tuple[str, str, Any]] = [
            (how, value, arg) for (how, value), arg in zip(self.args, args, strict=False)]
        if self.fields:
            named = next((arg for arg in args if isinstance(arg, dict)), None)
            if named is None or any(field not in named for field, _, _ in self.fields):
                return None
            pairs += [(how, value, named[field]) for field, how, value in self.fields]
        binding: dict[str, str] = {}
        for how, value, arg in pairs:
            seen = text(arg)
            if how == "eq" and seen != value:
                return None
            if how == "bind" and binding.setdefault(value, seen) != seen:
                return None
        return binding


def parse(source: str) -> Pattern:
    """``effect payment:{order}`` or ``start FulfillmentJob({order})`` -> Pattern."""
    if not isinstance(source, str):
        raise PatternError(f"expected a pattern like 'effect payment:{{order}}', got {source!r}")
    kind, _, rest = source.strip().partition(" ")
    rest = rest.strip()
    if kind not in KINDS or not rest:
        raise PatternError(f"pattern {source!r}: expected '<kind> <what>' with kind one of "
                           f"{', '.join(KINDS)} (e.g. 'effect payment:{{order}}', "
                           f"'start FulfillmentJob({{order}})')")
    if kind == "effect":
        return Pattern(source, kind, key=template(rest))
    m = _JOB.fullmatch(rest)
    if m is None:
        raise PatternError(f"pattern {source!r}: expected JOB or JOB(ARG, ...) after {kind!r}")
    job = None if m.group(1) == "*" else m.group(1)
    items = [a.strip() for a in m.group(2).split(",")] if m.group(2) else []
    args: list[tuple[str, str]] = []
    fields: list[tuple[str, str, str]] = []
    for item in items:
        named = _FIELD.fullmatch(item)
        if named is not None:
            fields.append((named.group(1), *_arg(named.group(2).strip(), source)))
        elif fields:
            raise PatternError(f"pattern {source!r}: positional argument {item!r} after a "
                               f"named one; write positions first")
        else:
            args.append(_arg(item, source))
    return Pattern(source, kind, job=job, args=tuple(args), fields=tuple(fields))


def _arg(arg: str, source: str) -> tuple[str, str]:
    if arg == "*":
        return ("any", "")
    m = _PLACEHOLDER.fullmatch(arg)
    if m is not None:
        return ("bind", m.group(1))
    if not arg or "{" in arg or "}" in arg:
        raise PatternError(f"pattern {source!r}: argument {arg!r} must be {{name}}, * or a literal")
    return ("eq", arg.strip("'\""))


@dataclass(frozen=True)
class Rule:
    """``before`` happens before every ``after`` with the same values of before's names."""

    before: Pattern
    after: Pattern

    @property
    def source(self) -> str:
        return f"{self.before.source} -> {self.after.source}"


def rule(before: str, after: str) -> Rule:
    """A happens-before rule; every name of ``before`` must be bound by ``after``."""
    first, then = parse(before), parse(after)
    free = [n for n in first.names if n not in then.names]
    if free:
        raise PatternError(f"rule {before!r} -> {after!r}: {', '.join(map(repr, free))} "
                           f"must also appear in the 'after' pattern, which binds it")
    return Rule(first, then)
