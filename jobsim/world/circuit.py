"""A per-service circuit breaker (closed -> open -> half-open), as in Hystrix or Semian.

Why: during an outage every call still waits for the dead service (or its error), and
every failure becomes a retry that calls it again. After ``threshold`` consecutive
failures the breaker opens: calls fail at once with ``CircuitOpen`` without reaching the
service and without taking simulated time, so a struggling service sees no load from
us. After ``cooldown`` seconds it turns half-open: exactly one probe call goes through;
its success closes the breaker, its failure opens it for another cooldown. Other calls
arriving while the probe runs fail fast too.

A failure is any ``ServiceError`` except ``IdempotencyConflict`` (a 409 is a healthy
service answering). An interrupted call (crash, shutdown) says nothing about the
service: it only frees the probe slot when it was the probe. State changes are recorded
as ``sample("circuit.NAME.state", 0|1|2)`` (closed, open, half-open), a handful per
outage, so a report can draw the breaker next to the load.
"""

from __future__ import annotations

from jobsim.sim.simulation import Simulation
from jobsim.world.services import IdempotencyConflict, ServiceError

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
STATE_VALUE = {CLOSED: 0, OPEN: 1, HALF_OPEN: 2}


class CircuitOpen(ServiceError):
    """The breaker is open: the call failed fast and never reached the service."""


class CircuitBreaker:
    """One service's breaker. ``admit`` before a call, then exactly one of ``success``,
    ``failure`` or ``abandon`` for every admitted call, passing what ``admit`` returned."""

    def __init__(self, sim: Simulation, name: str, threshold: int = 5,
                 cooldown: float = 30.0) -> None:
        if threshold < 1:
            raise ValueError(f"circuit breaker threshold must be >= 1, got {threshold}")
        if cooldown <= 0:
            raise ValueError(f"circuit breaker cooldown must be > 0, got {cooldown}")
        self.sim = sim
        self.name = name
        self.threshold = int(threshold)
        self.cooldown = float(cooldown)
        self.state = CLOSED
        self.failures = 0            # consecutive failures while closed
        self.opened_at = 0.0
        self.probing = False         # half-open: the probe call is in flight
        self.rejected = 0            # calls failed fast (never reached the service)
        self.opens = 0

    def admit(self, op: str) -> bool:
        """Let a call through, or raise ``CircuitOpen``. True when the call is the probe."""
        if self.state == OPEN and self.sim.now >= self.opened_at + self.cooldown:
            self._move(HALF_OPEN)
        if self.state == CLOSED:
            return False
        if self.state == HALF_OPEN and not self.probing:
            self.probing = True
            return True
        self.rejected += 1
        raise CircuitOpen(f"{self.name}: circuit open ({op})")

    def success(self, probe: bool) -> None:
        """A call answered. Only the probe's answer moves an open breaker; a call admitted
        before the breaker opened says nothing about the service now."""
        if probe:
            self.probing = False
            self._move(CLOSED)
        if self.state == CLOSED:
            self.failures = 0

    def failure(self, exc: BaseException, probe: bool) -> None:
        if isinstance(exc, IdempotencyConflict):
            self.success(probe)
            return
        if probe:
            self.probing = False
            self._open()
        elif self.state == CLOSED:
            self.failures += 1
            if self.failures >= self.threshold:
                self._open()

    def abandon(self, probe: bool) -> None:
        """The call was interrupted: no verdict on the service; free the probe slot."""
        if probe:
            self.probing = False

    def _open(self) -> None:
        self.opened_at = self.sim.now
        self.failures = 0
        self.opens += 1
        self._move(OPEN)

    def _move(self, state: str) -> None:
        self.state = state
        self.sim.record("sample", None, f"circuit.{self.name}.state", STATE_VALUE[state])
