"""The dependents of a failed job: jobsim's rq flavour against a real RQ ``SimpleWorker``.

RQ (``rq/worker/base.py`` ``handle_job_failure``, then ``Queue.enqueue_dependents``) moves
a dependent to its queue only when ``Job.dependencies_are_met`` holds, and a failed
dependency meets it only for ``Dependency(..., allow_failure=True)``. So in a chain
A -> B -> C where A fails for good, B and C stay in the DeferredJobRegistry: never run,
never failed, never canceled. A job enqueued with ``depends_on`` a job that has already
failed is deferred the same way. jobsim's rq flavour holds them (the ``hold`` rule of
``jobsim.system.dependencies``); the negative control runs jobsim with the ``cancel``
rule (Sidekiq's and Celery's), which must disagree with RQ.
"""

from __future__ import annotations

import operator
from typing import Any

from needs import need

from jobsim.broker import make_broker
from jobsim.sim.simulation import Simulation
from jobsim.system import Job, JobSystem, SystemConfig
from jobsim.system.dependencies import install
from jobsim.system.flavors import FlavorConfig, RQOptions

NAMES = ("A", "B", "C", "late")


def rq_states() -> dict[str, str]:
    """Each job's RQ status after the real worker drained its queue."""
    try:
        import fakeredis
        from rq import Queue, SimpleWorker
    except ImportError:
        need(False, "rq is not installed: make install (its dev extras) installs it")
    conn = fakeredis.FakeRedis()
    queue = Queue("default", connection=conn)
    a = queue.enqueue(operator.truediv, 1, 0)                  # fails, no Retry: FAILED
    b = queue.enqueue(operator.add, 1, 2, depends_on=a)
    c = queue.enqueue(operator.add, 3, 4, depends_on=b)
    SimpleWorker([queue], connection=conn).work(burst=True, with_scheduler=False)
    late = queue.enqueue(operator.add, 5, 6, depends_on=a)     # after A failed
    SimpleWorker([queue], connection=conn).work(burst=True, with_scheduler=False)
    deferred = set(queue.deferred_job_registry.get_job_ids())
    out = {}
    for name, job in zip(NAMES, (a, b, c, late), strict=True):
        status = job.get_status(refresh=True)
        out[name] = str(getattr(status, "value", status))
        if out[name] == "deferred":
            assert job.id in deferred, f"{name} deferred but not in the DeferredJobRegistry"
    return out


class Divides(Job):
    retry = False             # RQ retries only with a Retry; without one a failure is final

    def perform(self) -> None:
        raise ZeroDivisionError("division by zero")


class Adds(Job):
    def perform(self, x: int, y: int) -> None:
        return None


_STATE = {"dead": "failed", "discarded": "failed", "deferred": "deferred",
          "canceled": "canceled", "succeeded": "finished"}


def jobsim_states(on_failure: str | None) -> dict[str, str]:
    """The same chain through jobsim's rq flavour; ``on_failure`` None: the flavour's rule."""
    sim = Simulation(seed=5)
    system = JobSystem(sim, make_broker("memory"),
                       SystemConfig(concurrency=1, flavor=FlavorConfig("rq", rq=RQOptions())))
    install(system, {"enabled": True, "on_failure": on_failure})
    system.start()
    client = system.client
    a = client.perform_async(Divides)
    b = client.perform_async(Adds, 1, 2, depends_on=[a])
    c = client.perform_async(Adds, 3, 4, depends_on=[b])
    sim.run(until=30)
    late = client.perform_async(Adds, 5, 6, depends_on=[a])
    sim.run(until=60)
    last: dict[str, Any] = {}
    for event in sim.history.events:
        if event[1] in ("dead", "discarded", "cancel", "success", "defer"):
            last[event[2]] = {"cancel": "canceled", "success": "succeeded",
                              "defer": "deferred"}.get(event[1], event[1])
    return {name: _STATE[last[jid]] for name, jid in zip(NAMES, (a, b, c, late), strict=True)}


def test_dependents_of_a_failed_job_stay_deferred_as_in_rq() -> None:
    real = rq_states()
    assert real == {"A": "failed", "B": "deferred", "C": "deferred", "late": "deferred"}
    assert jobsim_states(None) == real


def test_negative_control_the_cancel_rule_disagrees_with_rq() -> None:
    real = rq_states()
    cancel = jobsim_states("cancel")
    assert cancel["B"] == "canceled" and cancel != real
