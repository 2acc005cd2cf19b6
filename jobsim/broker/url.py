"""Broker specs: ``memory``, ``fakeredis``, or a Redis URL, validated and redacted.

Why: redis-py reads ``redis://host/abc`` as database 0 and a port of ``99999`` fails only
at connect time, deep in a traceback; and every message that echoed the URL echoed its
password. A spec is checked here, before anything runs, into one-line errors that show
the URL with its password replaced by ``***``.

Accepted URL forms (redis-py's, narrowed): ``redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]``,
``rediss://`` the same over TLS, ``unix://[[USER]:PASSWORD@]/PATH[?db=DB]``. PORT is
1..65535, DB a non-negative decimal integer (default 0), given once.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qs, urlsplit

from jobsim.broker.base import BrokerError

SCHEMES = ("redis", "rediss", "unix")
EMBEDDED = ("memory", "fakeredis")


class BrokerSpecError(BrokerError):
    """A broker spec that cannot be used: bad input, reported in one line."""


@dataclass(frozen=True, slots=True)
class RedisURL:
    url: str          # as given, password included: only ever handed to redis-py
    db: int
    redacted: str     # safe to print


def redact(spec: str) -> str:
    """The spec with any password replaced by ``***`` (also for unparsable specs)."""
    scheme, sep, rest = spec.partition("://")
    if not sep:
        return spec
    netloc, slash, tail = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    if not at:
        return spec
    user = userinfo.partition(":")[0] if ":" in userinfo else ""
    return f"{scheme}://{user}:***@{host}{slash}{tail}"


def describe(spec: str) -> str:
    """What metrics and summaries record: the broker's kind, never its address."""
    return spec if spec in EMBEDDED else "redis"


def parse(spec: str) -> RedisURL | None:
    """None for an embedded broker; the checked URL for Redis; BrokerSpecError else."""
    if spec in EMBEDDED:
        return None
    shown = redact(spec)
    scheme = spec.partition("://")[0] if "://" in spec else ""
    if scheme not in SCHEMES:
        raise BrokerSpecError(f"expected memory, fakeredis or a redis://, rediss:// or "
                              f"unix:// URL, got {shown!r}")
    try:
        parts = urlsplit(spec)
        port = parts.port                        # ValueError when not 0..65535 digits
    except ValueError as exc:
        raise BrokerSpecError(f"{shown}: invalid URL ({_no_secret(str(exc), spec)})") from None
    if scheme != "unix":
        if not parts.hostname:
            raise BrokerSpecError(f"{shown}: no host")
        if port is not None and not 1 <= port <= 65535:
            raise BrokerSpecError(f"{shown}: port must be 1..65535, got {port}")
    db = _database(parts, shown)
    return RedisURL(spec, db, shown)


def _database(parts: SplitResult, shown: str) -> int:
    """The database index from the path (``/N``, redis:// only) or ``?db=N``, once."""
    given: list[str] = []
    if parts.scheme != "unix":
        path = parts.path.strip("/")
        if path:
            given.append(path)
    elif not parts.path or parts.path == "/":
        raise BrokerSpecError(f"{shown}: no socket path")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"db"})
    if unknown:
        raise BrokerSpecError(f"{shown}: unsupported URL option {unknown[0]!r} (only db)")
    given += query.get("db", [])
    if len(given) > 1:
        raise BrokerSpecError(f"{shown}: the database is given twice")
    if not given:
        return 0
    text = given[0]
    if not (text.isascii() and text.isdigit()):
        raise BrokerSpecError(f"{shown}: the database must be a number such as /0, got "
                              f"{text!r}")
    return int(text)


def _no_secret(message: str, spec: str) -> str:
    """``message`` without the spec's password, should a parser have quoted it."""
    userinfo, at, _ = spec.partition("://")[2].partition("/")[0].rpartition("@")
    password = userinfo.partition(":")[2] if at else ""
    return message.replace(password, "***") if password else message
