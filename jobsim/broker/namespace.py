"""Which keys of a shared Redis database one run owns: a random prefix claimed with SET NX.

This is the only place outside the simulation that draws unseeded randomness, and it
must: two runs on one server, started from the same scenario and seed, need different
prefixes. The prefix never enters the history (keys are stripped of it), so digests stay
a pure function of scenario, seed and code.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from typing import Any

from jobsim.broker.base import BrokerError
from jobsim.broker.url import RedisURL

NAMESPACE = "jobsim:"
LOCK_TTL_S = 24 * 3600       # a killed run's lock frees its prefix after a day
_CLAIM_TRIES = 5


def lock_key(token: str) -> str:
    return f"{NAMESPACE}{token}.lock"


def claim(client: Any, target: RedisURL) -> str:
    """A token no other run holds, claimed with SET NX (with an expiry, for runs killed
    before they could release it)."""
    owner = json.dumps({"host": socket.gethostname(), "pid": os.getpid()})
    for _ in range(_CLAIM_TRIES):
        token = secrets.token_hex(8)
        if client.set(lock_key(token), owner, nx=True, ex=LOCK_TTL_S):
            return token
    raise BrokerError(f"{target.redacted}: could not claim a run prefix after "
                      f"{_CLAIM_TRIES} tries")
