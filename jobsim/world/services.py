"""External services jobs call (any the scenario declares), with injectable faults.

A call is a generator used as ``resp = yield from service.call(self, "capture", ...)``. It
takes simulated time: it waits for a slot when the service has a ``capacity`` (or is
rejected when ``on_full="reject"``), then for a latency drawn from the stream
``service.NAME``. Fault draws use a separate stream ``service.NAME.faults`` so switching a
fault on or off never shifts the latencies of a run.

The client-side ``timeout`` is a deadline on the whole call, queueing for a slot
included, as an HTTP client's total timeout is. A call that succeeds records
``effect(key, NAME, once)`` when asked to: idempotency is judged on those effects.

Faults (the chaos layer's handles):

* ``set_outage("error")``: calls fail at once with ``ServiceError`` (connection refused).
* ``set_outage("timeout", timeout_s=..)``: calls hold their slot for ``timeout_s`` (or the
  client timeout, if shorter), then raise ``ServiceTimeout``.
* ``set_outage("hang")``: calls never return until the job is interrupted. Client
  timeouts do not help: this models the missing or ineffective timeout that makes a
  hang a hang. Calls already hung stay hung after ``clear_outage``.
* ``set_error_rate(p)``: each call fails with probability ``p`` after its latency (a 5xx).
* ``set_extra_latency(s)``: ``s`` seconds added to every call.

Idempotency keys: a service with a ``dedupe_window_s`` (the scenario's
``idempotency_window``) honours them as Stripe does for 24 hours: a repeat with the same
key inside the window returns the first response (marked ``replayed``) and records no new
effect; a repeat while the first is still running raises ``IdempotencyConflict``. Only
results that took effect are remembered, so a retry after a failure runs again. Without
a window keys are ignored, as most APIs do.

``effect_on_timeout`` (default False): when True, a call that timed out on the client
still took effect on the server (recorded at the moment the client gave up), which is
what makes retrying payments dangerous without idempotency keys.

Load: ``calls`` counts calls that reached the service (a connection refused during an
outage did reach it; a call failed fast by the client's circuit breaker, ``breaker``,
did not: those are ``rejected_by_breaker``). ``load`` keeps the peak calls per whole
simulated second, over the run and since the service last healed (an outage cleared,
an error rate or extra latency set back to 0): the load a recovering service must take.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import simpy

from jobsim.sim.simulation import Simulation
from jobsim.world.distributions import make_sampler

if TYPE_CHECKING:
    from jobsim.world.circuit import CircuitBreaker

OUTAGE_MODES = ("error", "timeout", "hang")


class UndeclaredService(KeyError):
    """A job called a service the world does not declare (as ``UndeclaredTable`` for a
    table): the history names this, not a bare KeyError the job's own code could raise.
    Not a ServiceError, so no ``autoretry_for: [ServiceError]`` retries it."""

    def __str__(self) -> str:          # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ServiceError(Exception):
    """The service answered with an error (5xx, connection refused)."""


class ServiceUnavailable(ServiceError):
    """The service was at capacity and rejected the call (HTTP 503)."""


class ServiceTimeout(ServiceError):
    """The client gave up waiting; the call may or may not have taken effect.

    ``response`` is set (for the simulator's bookkeeping, not for jobs to peek at) when
    the server did complete the work (``effect_on_timeout``).
    """

    response: Response | None = None


class IdempotencyConflict(ServiceError):
    """A request with the same idempotency key is still in flight (HTTP 409)."""


class Response(NamedTuple):
    """A successful call's answer. ``replayed`` marks a deduplicated repeat."""

    service: str
    op: str
    key: str | None
    t: float
    replayed: bool = False


def _jid(job: Any) -> str | None:
    return getattr(job, "jid", job)


_IN_FLIGHT = Response("", "", None, -1.0)  # marker: a request with this key is running


class LoadMeter:
    """Calls per whole simulated second: the peak over the run and since the last heal.

    O(1) per call and no history events: a call is on every job's hot path."""

    __slots__ = ("_n", "_rn", "_sec", "peak", "recovered_calls", "recovered_peak")

    def __init__(self) -> None:
        self._sec = -1
        self._n = self._rn = 0
        self.peak = self.recovered_peak = self.recovered_calls = 0

    def hit(self, now: float) -> None:
        sec = int(now)
        if sec != self._sec:
            self._sec, self._n, self._rn = sec, 0, 0
        self._n += 1
        self._rn += 1
        self.recovered_calls += 1
        if self._n > self.peak:
            self.peak = self._n
        if self._rn > self.recovered_peak:
            self.recovered_peak = self._rn

    def heal(self) -> None:
        """The service recovered: the "recovered" figures start again from here."""
        self._rn = self.recovered_peak = self.recovered_calls = 0


_STREAMS = {"_rng": "", "_faults": ".faults"}    # a Service's lazy streams: name suffix


class Service:
    """One external API. See the module docstring for faults and timeouts."""

    def __init__(
        self,
        sim: Simulation,
        name: str,
        latency: Mapping[str, Any] | float = 0.1,
        capacity: int | None = None,
        on_full: str = "queue",
        timeout: float | None = None,
        effect_on_timeout: bool = False,
        dedupe_window_s: float | None = None,
        track_load: bool = False,
    ) -> None:
        if on_full not in ("queue", "reject"):
            raise ValueError(f"on_full must be 'queue' or 'reject', not {on_full!r}")
        self.sim = sim
        self.name = name
        self.latency = make_sampler(latency)
        self.capacity = capacity
        self.on_full = on_full
        self.timeout = timeout
        self.effect_on_timeout = effect_on_timeout
        self.dedupe_window_s = dedupe_window_s
        self._res = Slots(sim.env, capacity) if capacity else None
        # self._rng and self._faults, the latency and error streams: see __getattr__
        self._idem: dict[str, Response] = {}
        self._starts: list[float] | None = [] if track_load else None
        self.breaker: CircuitBreaker | None = None   # set by the world (circuit_breaker)
        self.load = LoadMeter()
        self.outage: str | None = None
        self.outage_timeout_s = 30.0
        self.error_rate = 0.0
        self.extra_latency = 0.0
        self.calls = self.errors = self.timeouts = self.rejected = self.replays = 0
        self.effects = self.in_flight = self.peak_in_flight = 0
        self._ended, self._ended_s, self._longest = 0, 0.0, -1.0   # see durations()

    def __getattr__(self, attr: str) -> Any:
        """A stream is made on its first draw (then an ordinary attribute): a world
        declares services its jobs never call, and seeding a stream (a SHA-256 and a
        Mersenne Twister) was a fifth of building a 50-job property example's run.
        A stream depends only on the seed and its name, never on when it is made."""
        suffix = _STREAMS.get(attr)
        if suffix is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")
        stream = self.sim.streams[f"service.{self.name}{suffix}"]
        setattr(self, attr, stream)
        return stream

    # ---- fault control (chaos layer) -------------------------------------------------
    def set_outage(self, mode: str, timeout_s: float | None = None) -> None:
        if mode not in OUTAGE_MODES:
            raise ValueError(f"outage mode must be one of {OUTAGE_MODES}, not {mode!r}")
        self.outage = mode
        if timeout_s is not None:
            self.outage_timeout_s = float(timeout_s)

    def clear_outage(self) -> None:
        if self.outage is not None:
            self.load.heal()
        self.outage = None

    def set_error_rate(self, p: float) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"error rate must be in [0, 1], not {p}")
        if self.error_rate and not p:
            self.load.heal()
        self.error_rate = float(p)

    def set_extra_latency(self, seconds: float) -> None:
        if self.extra_latency and seconds <= 0:
            self.load.heal()
        self.extra_latency = max(0.0, float(seconds))

    # ---- the call ----------------------------------------------------------------------
    def call(
        self,
        job: Any,
        op: str,
        key: str | None = None,
        effect: bool = False,
        once: bool = True,
        idempotency_key: str | None = None,
    ) -> Generator[simpy.Event, Any, Response]:
        """Perform ``op``; record ``effect(key, NAME, once)`` on success if ``effect``.

        ``idempotency_key`` is honoured when the service has a ``dedupe_window_s``.
        Raises ``ServiceError`` and its subclasses (``CircuitOpen`` when the breaker
        refuses the call); an interrupt releases the slot. Without a breaker the call
        costs no extra generator layer.
        """
        if effect and key is None:
            raise ValueError("an effect needs a key")
        if self.breaker is None:
            return self._call(job, op, key, effect, once, idempotency_key)
        return self._guarded(job, op, key, effect, once, idempotency_key)

    def _guarded(
        self, job: Any, op: str, key: str | None, effect: bool, once: bool, idem: str | None
    ) -> Generator[simpy.Event, Any, Response]:
        """The call behind the circuit breaker: refused calls never reach ``_call``."""
        breaker = self.breaker
        assert breaker is not None
        probe = breaker.admit(op)
        try:
            resp = yield from self._call(job, op, key, effect, once, idem)
        except ServiceError as exc:
            breaker.failure(exc, probe)
            raise
        except BaseException:
            breaker.abandon(probe)
            raise
        breaker.success(probe)
        return resp

    def _call(
        self, job: Any, op: str, key: str | None, effect: bool, once: bool, idem: str | None
    ) -> Generator[simpy.Event, Any, Response]:
        now = self.sim.env.now
        self.calls += 1
        self.load.hit(now)
        if self._starts is not None:
            self._starts.append(now)
        if self.outage == "error":
            self.errors += 1
            raise ServiceError(f"{self.name}: connection refused ({op})")
        deadline = None if self.timeout is None else now + self.timeout
        slots = self._res
        holds_slot = slots is not None and (   # a free slot needs no generator
            slots.take() or (yield from self._wait_for_slot(slots, op, deadline)))
        self.in_flight += 1
        if self.in_flight > self.peak_in_flight:
            self.peak_in_flight = self.in_flight
        try:
            if idem is not None and self.dedupe_window_s is not None:
                return (yield from self._serve_once(job, op, key, effect, once, idem,
                                                    deadline))
            if self.outage is not None:
                return (yield from self._execute(job, op, key, effect, once, deadline))
            # _execute without an outage, in this generator: a call is on most jobs'
            # path, and a generator layer costs its creation and a hop at every resume
            wait, timed_out, fails = self._draw(deadline)
            yield self.sim.env.timeout(wait)
            return self._settle(timed_out, fails, job, op, key, effect, once)
        finally:
            self.in_flight -= 1
            if holds_slot:
                self._res.release()  # type: ignore[union-attr]
            took = self.sim.env.now - now
            self._ended += 1
            self._ended_s += took
            if took > self._longest:
                self._longest = took

    def _wait_for_slot(self, slots: Slots, op: str, deadline: float | None
                       ) -> Generator[simpy.Event, Any, bool]:
        """Wait for a capacity slot when none was free (or refuse, ``on_full: reject``)."""
        if self.on_full == "reject":
            self.errors += 1
            self.rejected += 1
            raise ServiceUnavailable(f"{self.name}: at capacity ({op})")
        granted = slots.wait()
        try:
            if deadline is None:
                yield granted
            else:
                yield granted | self.sim.env.timeout(max(0.0, deadline - self.sim.env.now))
        except BaseException:
            slots.abandon(granted)
            raise
        if not granted.triggered:
            slots.abandon(granted)
            self.timeouts += 1
            raise ServiceTimeout(f"{self.name}: timed out waiting for a slot ({op})")
        return True

    def _serve_once(
        self,
        job: Any,
        op: str,
        key: str | None,
        effect: bool,
        once: bool,
        idem: str,
        deadline: float | None,
    ) -> Generator[simpy.Event, Any, Response]:
        """Honour an idempotency key: replay a remembered result, refuse a concurrent one."""
        env = self.sim.env
        cached = self._idem.get(idem)
        if cached is _IN_FLIGHT:
            self.errors += 1
            raise IdempotencyConflict(f"{self.name}: {idem} is already in flight")
        if cached is not None and env.now - cached.t <= self.dedupe_window_s:  # type: ignore[operator]
            yield env.timeout(self.latency(self._rng) + self.extra_latency)
            self.replays += 1
            return cached._replace(replayed=True)
        self._idem[idem] = _IN_FLIGHT
        resp: Response | None = None
        try:
            resp = yield from self._execute(job, op, key, effect, once, deadline)
            return resp
        except ServiceTimeout as exc:
            resp = exc.response  # took effect although the client gave up
            raise
        finally:
            if resp is not None:
                self._idem[idem] = resp
            else:
                del self._idem[idem]

    def _execute(
        self, job: Any, op: str, key: str | None, effect: bool, once: bool, deadline: float | None
    ) -> Generator[simpy.Event, Any, Response]:
        """The call's work on the server (``_call`` does the no-outage case itself)."""
        env = self.sim.env
        if self.outage == "hang":
            yield env.event()  # never fires: only an interrupt ends this call
        if self.outage == "timeout":
            wait = self.outage_timeout_s
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - env.now))
            yield env.timeout(wait)
            return self._timed_out(job, op, key, effect, once)
        wait, timed_out, fails = self._draw(deadline)
        yield env.timeout(wait)
        return self._settle(timed_out, fails, job, op, key, effect, once)

    def _draw(self, deadline: float | None) -> tuple[float, bool, bool]:
        """How long the call takes, whether the client's deadline cuts it short, and
        whether it fails: the latency is drawn before the failure, always both."""
        latency = self.latency(self._rng) + self.extra_latency
        fails = self.error_rate > 0.0 and self._faults.random() < self.error_rate
        now = self.sim.env.now
        if deadline is not None and now + latency > deadline:
            return max(0.0, deadline - now), True, fails
        return latency, False, fails

    def _settle(self, timed_out: bool, fails: bool, job: Any, op: str, key: str | None,
                effect: bool, once: bool) -> Response:
        """The call's outcome once its wait is over."""
        if timed_out:
            return self._timed_out(job, op, key, effect, once)
        if fails:
            self.errors += 1
            raise ServiceError(f"{self.name}: 500 on {op}")
        return self._succeed(job, op, key, effect, once)

    def _timed_out(self, job: Any, op: str, key: str | None, effect: bool, once: bool) -> Any:
        """Raise ``ServiceTimeout``; with ``effect_on_timeout`` the server did the work."""
        self.timeouts += 1
        exc = ServiceTimeout(f"{self.name}: {op} timed out")
        if self.effect_on_timeout:
            exc.response = self._succeed(job, op, key, effect, once)
        raise exc

    def _succeed(self, job: Any, op: str, key: str | None, effect: bool, once: bool) -> Response:
        if effect:
            self.effects += 1
            self.sim.record("effect", _jid(job), key, self.name, once)
        return Response(self.name, op, key, self.sim.env.now)

    # ---- observation ---------------------------------------------------------------
    @property
    def rejected_by_breaker(self) -> int:
        return 0 if self.breaker is None else self.breaker.rejected

    def durations(self) -> tuple[int, float, float | None]:
        """(calls ended, their total duration) so far, and the longest call that ended
        since the last read (None if none did); the world's traffic gauges read this
        once per sampling interval."""
        longest = self._longest if self._longest >= 0 else None
        self._longest = -1.0
        return self._ended, self._ended_s, longest

    def stats(self) -> dict[str, int]:
        return {
            "calls": self.calls, "errors": self.errors, "timeouts": self.timeouts,
            "rejected": self.rejected, "replays": self.replays, "effects": self.effects,
            "in_flight": self.in_flight, "peak_in_flight": self.peak_in_flight,
            "rejected_by_breaker": self.rejected_by_breaker,
            "peak_calls_per_s": self.load.peak,
            "recovered_calls": self.load.recovered_calls,
            "recovered_peak_calls_per_s": self.load.recovered_peak,
        }

    def calls_per_second_series(self) -> list[int]:
        """Calls started in each whole simulated second (needs ``track_load=True``)."""
        if self._starts is None:
            raise RuntimeError(f"service {self.name!r} was built without track_load=True")
        if not self._starts:
            return []
        series = [0] * (int(self._starts[-1]) + 1)
        for t in self._starts:
            series[int(t)] += 1
        return series


class Slots:
    """A counting semaphore for a service's capacity.

    simpy.Resource schedules an event for every request and every release, even when a
    slot is free; a service call is on every job's hot path, so a free slot is taken here
    with no event at all, and only a caller that must wait gets one. A released slot is
    handed straight to the first waiter, in arrival order (FIFO, as simpy.Resource).
    """

    __slots__ = ("env", "free", "waiters")

    def __init__(self, env: simpy.Environment, capacity: int) -> None:
        self.env = env
        self.free = capacity
        self.waiters: deque[simpy.Event] = deque()

    def take(self) -> bool:
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return True
        return False

    def wait(self) -> simpy.Event:
        granted = self.env.event()
        self.waiters.append(granted)
        return granted

    def release(self) -> None:
        if self.waiters:
            self.waiters.popleft().succeed()     # the slot changes hands
        else:
            self.free += 1

    def abandon(self, granted: simpy.Event) -> None:
        """A waiter gave up (timeout, interrupt): return a slot it was already handed."""
        if granted.triggered:
            self.release()
        else:
            self.waiters.remove(granted)
