"""jobsim's celery flavour against a real Celery task's autoretry (celery 5.x).

A real task that always raises runs eagerly (``Task.apply``): Celery's own
``autoretry_for`` wrapper and ``Task.retry`` decide each retry's countdown and when to
stop, and every retry passes through ``Signature.apply``, which the test wraps to note
the countdown and the new ``retries``. The jobsim side runs the same options in
simulated time and reads the retry events and the final state. Without jitter both must
agree exactly; the negative control (a retry allowed one past ``max_retries``) must not.
"""

from __future__ import annotations

from typing import Any

import pytest
from needs import need

from jobsim.broker import make_broker
from jobsim.sim.simulation import Simulation
from jobsim.system import Job, JobSystem, SystemConfig
from jobsim.system.flavors import CeleryOptions, FlavorConfig
from jobsim.system.flavors.celery import CeleryRetry

Outcome = tuple[list[tuple[float, int]], str]     # (countdown, retries) per retry; state


class DiffConnectionDown(Job):
    def perform(self) -> Any:
        yield self.sleep(1)
        raise ConnectionError("down")


def celery_outcome(monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]) -> Outcome:
    try:
        from celery import Celery
        from celery.canvas import Signature
    except ImportError:
        need(False, "celery is not installed: make install (its dev extras) installs it")
    app = Celery("diff", broker="memory://", backend="cache+memory://")
    app.conf.task_always_eager = True
    seen: list[tuple[float, int]] = []
    original = Signature.apply

    def apply(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append((float(self.options["countdown"]), self.options["retries"]))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Signature, "apply", apply)
    names = {"ConnectionError": ConnectionError, "Exception": Exception, "KeyError": KeyError}
    task_options = {k: v for k, v in options.items() if k != "autoretry_for"}

    @app.task(bind=True, autoretry_for=tuple(names[n] for n in options["autoretry_for"]),
              **task_options)
    def down(self: Any) -> None:
        raise ConnectionError("down")

    return seen, down.apply().state


def jobsim_outcome(options: dict[str, Any], retry: type[CeleryRetry] = CeleryRetry) -> Outcome:
    opts = CeleryOptions(**{**options, "autoretry_for": tuple(options["autoretry_for"])})
    sim = Simulation(seed=5)
    system = JobSystem(sim, make_broker("memory"),
                       SystemConfig(concurrency=1, flavor=FlavorConfig("celery", celery=opts)))
    system.retry = retry(system, opts)
    system.start()
    jid = system.client.perform_async(DiffConnectionDown)
    sim.run(until=10_000)
    seen = [(e[4], e[3] + 1) for e in sim.history.of_kind("retry") if e[2] == jid]
    failed = [e for e in sim.history.of_kind("discard") if e[2] == jid and e[3] == "FAILURE"]
    succeeded = [e for e in sim.history.of_kind("success") if e[2] == jid]
    state = "FAILURE" if failed else "SUCCESS" if succeeded else "PENDING"
    return seen, state


CASES = [
    {"autoretry_for": ["ConnectionError"], "max_retries": 3, "retry_backoff": 2,
     "retry_jitter": False},
    {"autoretry_for": ["Exception"], "max_retries": 2, "default_retry_delay": 180},
    {"autoretry_for": ["Exception"], "max_retries": 5, "retry_backoff": 1,
     "retry_backoff_max": 6, "retry_jitter": False},
    {"autoretry_for": ["KeyError"], "max_retries": 3},
    {"autoretry_for": ["ConnectionError"], "max_retries": 0},
]


@pytest.mark.parametrize("options", CASES)
def test_countdowns_and_final_state_match_a_real_task(
        monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]) -> None:
    assert jobsim_outcome(options) == celery_outcome(monkeypatch, options)


class _OnePastMax(CeleryRetry):
    """The rule changed: ``retries <= max_retries`` instead of ``<``."""

    def handle(self, payload: Any, cls: Any, job: Any, exc: Exception, now: float) -> None:
        if payload.get("retries", 0) == self.opts.max_retries:
            payload = {**payload, "retries": self.opts.max_retries - 1}
        super().handle(payload, cls, job, exc, now)


def test_negative_control_a_retry_past_max_retries_disagrees(
        monkeypatch: pytest.MonkeyPatch) -> None:
    options = CASES[0]
    assert jobsim_outcome(options, _OnePastMax) != celery_outcome(monkeypatch, options)
