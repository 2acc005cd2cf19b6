"""Brokers under test: memory, embedded fakeredis, and a real server when one is given.

The real server is optional on a laptop (skipped with the reason) but required in CI
(``CI`` set): there a missing URL or an unreachable server fails instead of hiding.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis
from needs import need

from jobsim.broker.base import Broker
from jobsim.broker.memory import MemoryBroker
from jobsim.broker.redis import RedisBroker

SKIP_REASON = "JOBSIM_REDIS_URL not set: start redis-server and export it (CI does)"
PREFIX = "jobsim-conformance:"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """$JOBSIM_REDIS_URL: skipped with the reason when unset, a failure in CI."""
    url = os.environ.get("JOBSIM_REDIS_URL", "").strip()
    need(bool(url), SKIP_REASON)
    return url


@pytest.fixture(scope="session")
def real_redis(redis_url: str) -> Iterator[RedisBroker]:
    """A RedisBroker on the real server, its keys (under PREFIX) flushed before and after."""
    url = redis_url
    client = redis.Redis.from_url(
        url, decode_responses=True, socket_connect_timeout=2, socket_timeout=10
    )
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        pytest.fail(f"JOBSIM_REDIS_URL={url} is set but the server is unreachable: {exc}")
    broker = RedisBroker(client=client, prefix=PREFIX)
    broker.flush()
    yield broker
    broker.flush()
    client.close()


@pytest.fixture(params=["memory", "fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
def broker(request: pytest.FixtureRequest) -> Broker:
    """Each broker in turn, empty."""
    if request.param == "memory":
        return MemoryBroker()
    if request.param == "fakeredis":
        return RedisBroker()
    real: RedisBroker = request.getfixturevalue("real_redis")
    real.flush()
    return real
