"""The job system's storage: one protocol, a memory and a Redis implementation."""

from jobsim.broker.base import Broker, BrokerError, Payload, canonical
from jobsim.broker.memory import MemoryBroker

__all__ = ["Broker", "BrokerError", "MemoryBroker", "Payload", "canonical", "make_broker"]


def make_broker(spec: str = "memory") -> Broker:
    """``memory``, ``fakeredis``, or a ``redis://host:port/db`` URL."""
    if spec == "memory":
        return MemoryBroker()
    from jobsim.broker.redis import RedisBroker

    if spec == "fakeredis":
        return RedisBroker()
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return RedisBroker(url=spec)
    raise ValueError(f"broker: expected 'memory', 'fakeredis' or a redis:// URL, got {spec!r}")
