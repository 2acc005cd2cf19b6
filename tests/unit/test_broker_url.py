"""Broker specs are checked before a run: one line per problem, never a password."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from jobsim.broker.url import BrokerSpecError, describe, parse, redact
from jobsim.cli import main


@pytest.mark.parametrize(("spec", "db"), [
    ("redis://localhost:6379/0", 0), ("redis://localhost", 0), ("redis://h:1/", 0),
    ("redis://u:p@h:6390/15", 15), ("rediss://h:6380/3", 3), ("unix:///tmp/r.sock?db=2", 2),
    ("redis://h?db=4", 4),
])
def test_valid_urls(spec: str, db: int) -> None:
    target = parse(spec)
    assert target is not None and target.db == db and target.url == spec


@pytest.mark.parametrize(("spec", "needle"), [
    ("redis://h:99999/0", "Port out of range"),
    ("redis://h:0/0", "port must be 1..65535"),
    ("redis://h:abc/0", "Port could not be cast"),
    ("redis://h/abc", "the database must be a number"),
    ("redis://h/-1", "the database must be a number"),
    ("redis://h/0/1", "the database must be a number"),
    ("redis://h/1?db=2", "the database is given twice"),
    ("redis://h/0?timeout=1", "unsupported URL option 'timeout'"),
    ("redis:///0", "no host"),
    ("unix://", "no socket path"),
    ("mongo://h", "expected memory, fakeredis"),
    ("redis", "expected memory, fakeredis"),
])
def test_invalid_urls_are_one_line_errors(spec: str, needle: str) -> None:
    with pytest.raises(BrokerSpecError, match=needle):
        parse(spec)


def test_embedded_brokers_need_no_url() -> None:
    assert parse("memory") is None and parse("fakeredis") is None
    assert describe("redis://u:secret@h/1") == "redis" and describe("memory") == "memory"


@pytest.mark.parametrize("spec", ["redis://user:s3cr3t@h:1/0", "redis://:s3cr3t@h/abc",
                                  "rediss://u:s3cr3t@h:99999/0", "unix://u:s3cr3t@/x?db=y"])
def test_passwords_are_redacted_in_cli_errors(spec: str) -> None:
    assert "s3cr3t" not in redact(spec)
    result = CliRunner().invoke(main, ["simulate", "black_friday", "--broker", spec,
                                       "--scale", "0.01", "--quiet"])
    assert result.exit_code == 2
    assert "s3cr3t" not in result.stderr and "***" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_flush_needs_a_redis_url() -> None:
    result = CliRunner().invoke(main, ["simulate", "black_friday", "--flush", "--quiet"])
    assert result.exit_code == 2 and "--flush" in result.stderr
