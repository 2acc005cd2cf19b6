"""The shop plug-in's jobs (and the built-in synthetic ones), run by a minimal fake
processor in a bare simulation."""

from __future__ import annotations

import statistics
from collections.abc import Generator
from typing import Any

import pytest
import simpy

from jobsim.shop import PLUGIN as SHOP
from jobsim.shop import jobs as shop_jobs
from jobsim.shop.settings import EXPORT_DEFAULTS, NAME, ShopSettings
from jobsim.sim.simulation import Simulation
from jobsim.system.job import Job
from jobsim.system.library import JobLibrary
from jobsim.world import synthetic
from jobsim.world.world import World

SHOP_KNOBS = ("guard", "payment_keys", "order_flow", "scoped_resources")


class jobs:  # one namespace for the tests below, as the old module was
    NotificationDeliveryJob = shop_jobs.NotificationDeliveryJob
    PaymentProcessingJob = shop_jobs.PaymentProcessingJob
    FraudCheckJob = shop_jobs.FraudCheckJob
    PaymentCaptureJob = shop_jobs.PaymentCaptureJob
    InventoryReservationJob = shop_jobs.InventoryReservationJob
    FulfillmentJob = shop_jobs.FulfillmentJob
    DataExportJob = shop_jobs.DataExportJob
    AnalyticsJob = shop_jobs.AnalyticsJob
    SyntheticJob = synthetic.SyntheticJob
    NoopJob = synthetic.NoopJob
    PoisonJob = synthetic.PoisonJob


class FakeClient:
    """Collects follow-up pushes; ``system.process(w).crash()`` interrupts the job."""

    def __init__(self) -> None:
        self.pushed: list[tuple[str, list[Any]]] = []
        self.crashed: list[str] = []
        self.procs: dict[str, simpy.Process] = {}
        self.system = self
        self.flavor = self      # Sidekiq's answer to a lost child: the process crashes

    def perform_async(self, cls: type[Job], *args: Any, **_: Any) -> str:
        self.pushed.append((cls.__name__, list(args)))
        return f"pushed{len(self.pushed)}"

    def process(self, worker: str) -> Any:
        return self

    def lose_child(self, worker: Any, job: Job) -> None:
        worker.crash()

    def crash(self) -> None:
        for worker, proc in self.procs.items():
            self.crashed.append(worker)
            proc.interrupt("crash")


class Harness:
    """What a processor does: set the job's attributes, run perform, note the outcome."""

    def __init__(self, config: dict[str, Any] | None = None, seed: int = 1) -> None:
        """``config``: world keys, plus the shop's knobs as its safeguard hook sets them."""
        config = dict(config or {})
        knobs = {k: config.pop(k) for k in SHOP_KNOBS if k in config}
        export = {**EXPORT_DEFAULTS, **config.pop("export", {})}
        self.sim = Simulation(seed)
        services = {name: {**spec, **config.pop("services", {}).get(name, {})}
                    for name, spec in SHOP.services.items()}
        self.world = World(self.sim, {"sample_interval": 0, "services": services,
                                      "tables": SHOP.tables, **config})
        self.world.plugins[NAME] = ShopSettings(**knobs, export=export)
        if knobs.get("guard") == "constraint":
            self.world.db.add_unique("notifications", ("user_id", "campaign_id"))
        self.client = FakeClient()
        self.n = 0

    def start(self, cls: type[Job], *args: Any, at: float = 0.0,
              worker: str = "p0") -> simpy.Process:
        self.n += 1
        job = cls()
        job.jid, job.args, job.attempt, job.worker = f"j{self.n}", list(args), 1, worker
        job.sim, job.world, job.client, job.payload = self.sim, self.world, self.client, {}

        def run() -> Generator[Any, Any, str]:
            if at:
                yield self.sim.timeout(at)
            try:
                yield from job.perform(*args)
            except simpy.Interrupt:
                return "interrupted"
            except Exception as exc:
                return type(exc).__name__
            return "success"

        proc = self.sim.process(run())
        self.client.procs[worker] = proc
        return proc

    def run(self, until: float | None = None) -> None:
        self.sim.run(until=until)

    def effects(self, service: str | None = None) -> list[str]:
        return [e[3] for e in self.sim.history.of_kind("effect")
                if service is None or e[4] == service]


def emails(h: Harness) -> list[str]:
    return h.effects("email")


# ---- notifications -----------------------------------------------------------------
def test_no_guard_sends_every_time() -> None:
    h = Harness({"guard": "none"})
    h.start(jobs.NotificationDeliveryJob, 1, 7)
    h.start(jobs.NotificationDeliveryJob, 1, 7, at=10)
    h.run()
    assert emails(h) == ["email:7:1", "email:7:1"]


@pytest.mark.parametrize("guard", ["primary", "replica", "constraint"])
def test_guards_stop_a_sequential_repeat_without_lag(guard: str) -> None:
    h = Harness({"guard": guard, "db": {"replicas": 1, "lag": 0.0}})
    first = h.start(jobs.NotificationDeliveryJob, 1, 7)
    second = h.start(jobs.NotificationDeliveryJob, 1, 7, at=10)
    h.run()
    assert emails(h) == ["email:7:1"]
    assert (first.value, second.value) == ("success", "success")


def test_replica_guard_misses_recent_writes_under_lag_primary_does_not() -> None:
    sent = {}
    for guard in ("replica", "primary"):
        h = Harness({"guard": guard, "db": {"replicas": 1, "lag": 5.0}})
        h.start(jobs.NotificationDeliveryJob, 1, 7)
        h.start(jobs.NotificationDeliveryJob, 1, 7, at=3.0)   # inside the lag
        h.start(jobs.NotificationDeliveryJob, 1, 7, at=20.0)  # the replica caught up
        h.run()
        sent[guard] = len(emails(h))
    assert sent == {"replica": 2, "primary": 1}


@pytest.mark.parametrize(("guard", "expected"), [("primary", 2), ("constraint", 1)])
def test_concurrent_copies_race_a_check_but_not_a_constraint(guard: str, expected: int) -> None:
    h = Harness({"guard": guard})
    h.start(jobs.NotificationDeliveryJob, 1, 7)
    h.start(jobs.NotificationDeliveryJob, 1, 7)
    h.run()
    assert len(emails(h)) == expected


def test_constraint_guard_releases_its_reservation_when_the_send_fails() -> None:
    h = Harness({"guard": "constraint"})
    h.world.service("email").set_outage("error")
    failed = h.start(jobs.NotificationDeliveryJob, 1, 7)
    h.run()
    h.world.service("email").clear_outage()
    retried = h.start(jobs.NotificationDeliveryJob, 1, 7)
    h.run()
    assert (failed.value, retried.value) == ("ServiceError", "success")
    assert emails(h) == ["email:7:1"]
    assert h.world.db.find("notifications", {"user_id": 1}).row["status"] == "sent"


# ---- orders ------------------------------------------------------------------------
def test_inline_flow_captures_reserves_then_enqueues_fulfilment() -> None:
    h = Harness()
    proc = h.start(jobs.PaymentProcessingJob, "o1", 1999)
    h.run()
    assert proc.value == "success"
    assert h.effects() == ["payment:o1", "reserve:o1"]
    assert h.client.pushed == [("FulfillmentJob", ["o1"])]
    assert h.world.db.find("captures", {"order_id": "o1"}).row["amount_cents"] == 1999


def test_chain_flow_enqueues_one_step_at_a_time() -> None:
    h = Harness({"order_flow": "chain"})
    h.start(jobs.PaymentProcessingJob, "o1", 500)
    h.run()
    for step in (jobs.FraudCheckJob, jobs.PaymentCaptureJob, jobs.InventoryReservationJob):
        assert h.client.pushed[-1] == (step.__name__, ["o1"])
        h.start(step, "o1")
        h.run()
    assert h.client.pushed[-1] == ("FulfillmentJob", ["o1"])
    assert len(h.client.pushed) == 4


def test_race_flow_lets_fulfilment_run_before_capture() -> None:
    h = Harness({"order_flow": "race"})
    h.start(jobs.PaymentProcessingJob, "o1", 500)
    h.run()
    assert [name for name, _ in h.client.pushed] == [
        "FraudCheckJob", "PaymentCaptureJob", "InventoryReservationJob", "FulfillmentJob"]
    h.start(jobs.FulfillmentJob, "o1")
    h.start(jobs.PaymentCaptureJob, "o1", at=60)
    h.start(jobs.PaymentProcessingJob, "o2", 700, at=100)
    h.start(jobs.PaymentCaptureJob, "o2", at=110)
    h.start(jobs.FulfillmentJob, "o2", at=120)
    h.run()
    assert "fulfilled_before_capture:o1" in h.effects("orders")
    assert "fulfilled_before_capture:o2" not in h.effects("orders")
    assert {"fulfil:o1", "fulfil:o2"} <= set(h.effects("orders"))


@pytest.mark.parametrize(("keys", "captures"), [(False, 2), (True, 1)])
def test_retrying_a_timed_out_capture_needs_an_idempotency_key(keys: bool, captures: int) -> None:
    h = Harness({"order_flow": "chain", "payment_keys": keys,
                 "services": {"payment": {"effect_on_timeout": True, "timeout": 5.0}}})
    h.start(jobs.PaymentProcessingJob, "o1", 500)
    h.run()
    pay = h.world.service("payment")
    pay.set_outage("timeout")
    first = h.start(jobs.PaymentCaptureJob, "o1")
    h.run()
    pay.clear_outage()
    retry = h.start(jobs.PaymentCaptureJob, "o1")
    h.run()
    assert (first.value, retry.value) == ("ServiceTimeout", "success")
    assert h.effects("payment") == ["payment:o1"] * captures


# ---- resources ---------------------------------------------------------------------
def held(h: Harness) -> tuple[int, int, int]:
    w = h.world
    return w.pool("db").in_use, w.tempfiles.count, w.memory.usage("p0")


@pytest.mark.parametrize(("scoped", "leaks"), [(True, False), (False, True)])
def test_export_leaks_on_error_only_when_unscoped(scoped: bool, leaks: bool) -> None:
    h = Harness({"scoped_resources": scoped, "export": {"fail_p": 1.0}})
    proc = h.start(jobs.DataExportJob, "e1", 1000)
    h.run()
    assert proc.value == "ExportError"
    assert (held(h) != (0, 0, 0)) is leaks


@pytest.mark.parametrize("scoped", [True, False])
def test_export_releases_everything_on_success(scoped: bool) -> None:
    h = Harness({"scoped_resources": scoped})
    proc = h.start(jobs.DataExportJob, "e1", 1000)
    h.run(until=0.1)
    assert held(h) == (1, 1, 1000 * 2048)
    h.run()
    assert proc.value == "success" and held(h) == (0, 0, 0)


@pytest.mark.parametrize(("scoped", "after_kill", "after_os"),
                         [(True, (0, 0, 0), (0, 0, 0)), (False, (1, 1, 2048000), (0, 1, 0))])
def test_export_interrupted(scoped: bool, after_kill: tuple, after_os: tuple) -> None:
    h = Harness({"scoped_resources": scoped})
    proc = h.start(jobs.DataExportJob, "e1", 1000)
    h.run(until=0.2)
    proc.interrupt("kill")
    h.run()
    assert proc.value == "interrupted"
    assert held(h) == after_kill
    h.world.free_process("p0")  # the process dies: the OS cleans up, except temp files
    assert held(h) == after_os


# ---- synthetic and utility jobs ------------------------------------------------------
def test_synthetic_job_service_time_and_failure_rate() -> None:
    h = Harness(seed=5)
    procs = [h.start(jobs.SyntheticJob, "exponential", 0.25, {"mean": 2.0}, at=i * 1000.0)
             for i in range(1500)]
    ends: list[float] = []
    for i, p in enumerate(procs):
        p.callbacks.append(lambda _e, i=i: ends.append(h.sim.now - i * 1000.0))
    h.run()
    assert statistics.fmean(ends) == pytest.approx(2.0, rel=0.08)
    failures = sum(p.value == "SyntheticFailure" for p in procs)
    assert 0.2 * 1500 <= failures <= 0.3 * 1500


def test_synthetic_uniform_stays_in_bounds() -> None:
    h = Harness()
    procs = [h.start(jobs.SyntheticJob, "uniform", 0.0, {"min": 1.0, "max": 2.0},
                     at=i * 10.0) for i in range(200)]
    ends: list[float] = []
    for i, p in enumerate(procs):
        p.callbacks.append(lambda _e, i=i: ends.append(h.sim.now - i * 10.0))
    h.run()
    assert all(p.value == "success" for p in procs)
    assert min(ends) >= 1.0 and max(ends) <= 2.0


def test_synthetic_sampler_follows_params_changed_in_place() -> None:
    """The sampler cache keys on the params dict's identity; a dict changed in place
    (a caller reusing one) must still get its new distribution."""
    h = Harness()
    params = {"value": 1.0}
    first = h.start(jobs.SyntheticJob, "fixed", 0.0, params)
    h.run()
    assert h.sim.now == 1.0
    params["value"] = 5.0
    second = h.start(jobs.SyntheticJob, "fixed", 0.0, params)
    h.run()
    assert h.sim.now == 6.0                   # 1.0 + 5.0: a stale sampler would say 2.0
    assert first.value == second.value == "success"


def test_noop_and_analytics_jobs() -> None:
    h = Harness()
    noop = h.start(jobs.NoopJob)
    analytics = h.start(jobs.AnalyticsJob, 42)
    h.run()
    assert noop.value == "success" and analytics.value == "success"
    assert h.world.service("analytics").calls == 1 and h.effects() == []


def test_poison_job_crashes_its_worker() -> None:
    h = Harness()
    proc = h.start(jobs.PoisonJob, worker="p3")
    h.run()
    assert proc.value == "interrupted" and h.client.crashed == ["p3"]
    assert h.sim.now == 0


def test_the_shop_offers_its_jobs_through_a_library_only() -> None:
    library = JobLibrary(SHOP.jobs)
    assert library.resolve("PaymentProcessingJob") is jobs.PaymentProcessingJob
    assert "SyntheticJob" not in library and "PaymentProcessingJob" not in JobLibrary()
    assert jobs.PaymentProcessingJob.queue == "critical"
    assert jobs.AnalyticsJob.queue == "low_priority"


def test_same_seed_same_history() -> None:
    def digest() -> str:
        h = Harness({"guard": "replica", "db": {"replicas": 1, "lag": 2.0}}, seed=11)
        for i in range(50):
            h.start(jobs.NotificationDeliveryJob, i % 7, 1, at=i * 0.3)
        h.run()
        return h.sim.history.digest()

    assert digest() == digest()
