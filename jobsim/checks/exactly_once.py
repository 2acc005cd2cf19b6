"""Exactly once: every effect the workload implies happened, and happened once.

Why: idempotency only sees effects that happened twice. A guard that claims a row before
sending (insert, then send) never duplicates, but a crash between the two leaves the
row and no email: at-most-once, not exactly-once. Only counting the effects that *should*
exist shows that.

The expected keys come from the run's configuration (``config["effects"]``: each
workload entry's ``effect`` template with its job class, e.g. ``NotificationDeliveryJob``
owes ``email:{1}:{0}``, where ``{i}`` is its i-th argument; a declared job, whose args
are one object, owes ``webhook:{event_id}``, ``{name}`` being that object's field).
Every job of such a class that the system accepted (an entry event with ack true, a
defer, or an unacknowledged push that later ran or moved) implies its key; jobs with
the same key (a re-push of the same recipient) imply it once. By the end of the history
each implied key must appear in exactly one ``effect`` event: ``missing`` keys have
none, ``duplicated`` ones more than one (effects of any ``once`` flag are counted).
Each such key is one violation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from jobsim.checks.pattern import Template, template, text
from jobsim.checks.result import MAX_EXAMPLES, CheckResult, verdict
from jobsim.history.events import STATE_OF, index
from jobsim.history.history import History

_ENTRY = {k: (index(k, "cls"), index(k, "args")) for k in ("enqueue", "schedule", "defer")}
_ACK = {"enqueue": index("enqueue", "ack"), "schedule": index("schedule", "ack")}
_EFFECT_KEY = index("effect", "key")


def _templates(config: Mapping[str, Any]) -> dict[str, list[Template]]:
    out: dict[str, list[Template]] = {}
    for item in config.get("effects") or ():
        out.setdefault(item["job"], []).append(template(item["key"]))
    return out


def check(history: History, config: Mapping[str, Any] | None = None) -> CheckResult:
    """Verdict on implied effect keys: each exactly once by the horizon (no options)."""
    cfg = (next((e[3] for e in history.events if e[1] == "config"), None) or {}
           if config is None else config)
    templates = _templates(cfg)
    expected: dict[str, str] = {}           # key -> the first jid that implied it
    maybe: dict[str, list[str]] = {}        # unacknowledged jid -> keys, until it shows up
    effects: Counter[Any] = Counter()
    when: dict[Any, list[float]] = {}
    unrendered = 0
    t_end = 0.0
    for ev in history.events:
        kind, jid = ev[1], ev[2]
        t_end = ev[0]
        if kind == "effect":
            key = ev[_EFFECT_KEY]
            effects[key] += 1
            if effects[key] <= 2:
                when.setdefault(key, []).append(ev[0])
        elif kind in _ENTRY and ev[_ENTRY[kind][0]] in templates:
            keys = _render(templates[ev[_ENTRY[kind][0]]], ev[_ENTRY[kind][1]])
            if keys is None:
                unrendered += 1
            elif kind == "defer" or ev[_ACK[kind]]:
                for key in keys:
                    expected.setdefault(key, jid)
            else:
                maybe[jid] = keys
        elif jid in maybe and (kind in STATE_OF or kind == "held"):
            for key in maybe.pop(jid):
                expected.setdefault(key, jid)
    missing = [k for k in expected if effects[k] == 0]
    duplicated = [k for k in expected if effects[k] > 1]
    examples = [{"jid": expected[k], "t": t_end, "what": "effect missing", "key": k}
                for k in missing[:MAX_EXAMPLES]]
    examples += [{"jid": expected[k], "t": when[k][1], "what": "effect repeated", "key": k,
                  "count": effects[k]} for k in duplicated[:MAX_EXAMPLES]]
    return verdict(
        "exactly_once", examples, len(missing) + len(duplicated),
        expected=len(expected), missing=len(missing), duplicated=len(duplicated),
        exactly_once=len(expected) - len(missing) - len(duplicated),
        templates={job: [t.source for t in ts] for job, ts in sorted(templates.items())},
        unrendered=unrendered,
    )


def _render(templates: list[Template], args: Any) -> list[str] | None:
    """The keys a job with ``args`` owes; None when its args were not recorded. ``{i}``
    is the i-th argument, ``{name}`` a field of its args object (a declared job's)."""
    if not isinstance(args, list):
        return None
    named = next((a for a in args if isinstance(a, dict)), {})
    binding = {str(k): text(v) for k, v in named.items()}
    binding.update((str(i), text(a)) for i, a in enumerate(args))
    try:
        return [t.render(binding) for t in templates]
    except KeyError:
        return None
