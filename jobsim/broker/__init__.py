"""The job system's storage: one protocol, a memory and a Redis implementation."""

from jobsim.broker.base import Broker, BrokerError, Payload, canonical
from jobsim.broker.memory import MemoryBroker

__all__ = ["Broker", "BrokerError", "MemoryBroker", "Payload", "canonical", "make_broker"]


def make_broker(spec: str = "memory", flush: bool = False) -> Broker:
    """``memory``, ``fakeredis``, or a Redis URL (``jobsim.broker.url``). A real server
    gets a fresh key prefix and a run lock (``RedisBroker.connect``); ``flush`` empties
    its database first. Raises BrokerError (one line, password redacted)."""
    if spec == "memory":
        return MemoryBroker()
    from jobsim.broker import url
    from jobsim.broker.redis import RedisBroker, connect

    target = url.parse(spec)
    if target is None:
        return RedisBroker()
    return connect(target, flush=flush)
