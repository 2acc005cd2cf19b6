"""``{NAME}`` templates in declared jobs and in workload args.

A string such as ``"evt-{n}"`` is filled from a mapping of names (a job's args, or ``n``
for a workload arrival). A string that is exactly one template (``"{order_id}"``) keeps
the value's type, so an integer id stays an integer. Names are plain identifiers: no
attribute access or indexing, so a template can never reach into Python objects.
Templates are checked when the file loads; rendering at run time cannot fail.
"""

from __future__ import annotations

import string
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from jobsim.scenario.errors import Where

_FORMATTER = string.Formatter()


def names(text: str) -> Iterator[str]:
    """The field names of TEXT's templates, in order (``ValueError`` on a bad brace)."""
    for _literal, field, _spec, _conv in _FORMATTER.parse(text):
        if field is not None:
            yield field


def check(value: Any, allowed: Collection[str], where: Where, owner: str) -> None:
    """Refuse a template naming something not in ALLOWED, anywhere inside VALUE."""
    if isinstance(value, str):
        try:
            fields = list(names(value))
        except ValueError as exc:
            raise where.error(f"bad template {value!r}: {exc}") from None
        for field in fields:
            if not field.isidentifier():
                raise where.error(f"bad template {{{field}}} in {value!r}: expected a name "
                                  f"like {{order_id}}")
            if field not in allowed:
                given = ", ".join(sorted(allowed)) or "none"
                raise where.error(f"template {{{field}}} is not an arg of {owner} "
                                  f"(its args: {given})")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check(item, allowed, where.key(str(key)), owner)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check(item, allowed, where.index(i), owner)


def render(value: Any, args: Mapping[str, Any]) -> Any:
    """VALUE with every template filled from ARGS (lists and mappings recursively)."""
    if isinstance(value, str):
        if "{" not in value:
            return value
        fields = list(names(value))
        if len(fields) == 1 and value == f"{{{fields[0]}}}":
            return args[fields[0]]
        return value.format_map(args)
    if isinstance(value, Mapping):
        return {key: render(item, args) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, args) for item in value]
    return value
