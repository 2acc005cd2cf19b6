"""The shop's jobs, written as Sidekiq workers against the simulated world.

Each ``perform`` is a generator: world calls are ``yield from`` (they take simulated
time), raising is failing (the job system retries), and a crash arrives as a
``simpy.Interrupt`` at the current ``yield``. Side effects are recorded as ``effect``
events by the world (email sent, card captured, order fulfilled); idempotency is judged
on those.

Knobs come from the shop's settings (``settings.py``), which the plug-in's safeguard hook
derives from the scenario and keeps in ``world.plugins["shop"]``: ``guard``,
``payment_keys``, ``order_flow``, ``scoped_resources`` and ``export``.
"""

from __future__ import annotations

from typing import Any

import simpy

from jobsim.shop.settings import settings
from jobsim.system.job import Job, Work
from jobsim.world.database import UniqueViolation


class ExportError(Exception):
    """DataExportJob failed half way (the error path that leaked in the seed)."""


# ---- notifications -----------------------------------------------------------------
class NotificationDeliveryJob(Job):
    """Send one campaign email to one user, guarded per the ``guard`` setting.

    Windows each guard leaves open (duplicates = two executions both send):

    * ``none``: every execution sends (the seed's 12,000 duplicate emails).
    * ``primary``: check, send, then insert. Two copies running at once both pass the
      check: the window is the email call's latency; a crash after sending and before
      the insert also resends on retry.
    * ``replica``: as ``primary`` plus the replica's lag: a copy starting up to ``lag``
      seconds after the first one finished still sees no row.
    * ``constraint``: insert (unique on user+campaign) *before* sending; the loser of a
      race gets ``UniqueViolation`` and skips. No duplicate sends, but at-most-once: a
      send that fails deletes its reservation (so the retry sends), while a crash
      between insert and send leaves it and the email is never sent. With
      ``effect_on_timeout`` a timed-out send that did go out is resent by the retry.
    """

    services = ("email",)
    tables = ("notifications",)

    @classmethod
    def make_args(cls, index: int, params: dict[str, Any]) -> list[Any]:
        """Recipient ``index`` of campaign ``campaign_id`` (default 1)."""
        return [index, _only(cls, params, "campaign_id").get("campaign_id", 1)]

    def perform(self, user_id: Any, campaign_id: Any) -> Work:
        world = self.world
        db = world.db
        where = {"user_id": user_id, "campaign_id": campaign_id}
        guard = settings(world).guard
        if guard in ("primary", "replica"):
            if db.exists("notifications", where, on=guard):
                return
        elif guard == "constraint":
            try:
                db.insert(self, "notifications", {**where, "status": "sending"}, effect=False)
            except UniqueViolation:
                return
        email = world.service("email")
        key = f"email:{campaign_id}:{user_id}"
        try:
            yield from email.call(self, "send", key=key, effect=True, once=True)
        except simpy.Interrupt:
            raise
        except Exception:
            if guard == "constraint":
                db.delete("notifications", where)
            raise
        if guard == "constraint":
            db.update("notifications", where, {"status": "sent"})
        else:
            db.insert(self, "notifications", {**where, "status": "sent"}, effect=False)


# ---- the order pipeline ------------------------------------------------------------
class PaymentProcessingJob(Job):
    """Accept an order and run (or schedule) fraud check, capture, reservation, fulfilment.

    ``order_flow`` (from the ``dependencies`` safeguard):

    * ``inline`` (default): fraud check, capture and reservation in this job, then
      enqueue ``FulfillmentJob``: fulfilment can never precede capture.
    * ``chain``: enqueue ``FraudCheckJob``; each step enqueues the next on success.
    * ``race``: enqueue all four steps at once, as the seed did: a slow or failing
      capture lets fulfilment run first (``fulfilled_before_capture`` effects).
    * ``deps``: enqueue all four with explicit dependencies (the dependencies
      safeguard, ``system/dependencies.py``): capture waits for the fraud check,
      fulfilment for capture and reservation; a dead capture cancels fulfilment.
    """

    queue = "critical"
    services = ("fraud", "payment", "inventory")
    tables = ("orders", "fraud_checks", "captures")

    @classmethod
    def make_args(cls, index: int, params: dict[str, Any]) -> list[Any]:
        """Order ``index`` for ``amount_cents`` (default 4999)."""
        return [index, _only(cls, params, "amount_cents").get("amount_cents", 4999)]

    def perform(self, order_id: Any, amount_cents: int) -> Work:
        world = self.world
        if not world.db.exists("orders", {"id": order_id}):
            world.db.insert(self, "orders", {"id": order_id, "amount_cents": amount_cents},
                            effect=False)
        flow = settings(world).order_flow
        if flow == "race":
            for step in (FraudCheckJob, PaymentCaptureJob, InventoryReservationJob,
                         FulfillmentJob):
                self.client.perform_async(step, order_id)
            return
        if flow == "chain":
            self.client.perform_async(FraudCheckJob, order_id)
            return
        if flow == "deps":
            _enqueue_with_dependencies(self, order_id)
            return
        yield from _fraud_check(self, order_id)
        yield from _capture(self, order_id)
        yield from _reserve(self, order_id)
        self.client.perform_async(FulfillmentJob, order_id)


def _enqueue_with_dependencies(job: Job, order_id: Any) -> None:
    """fraud -> capture; capture + reservation -> fulfilment."""
    client = job.client
    if getattr(client.system, "dependencies", None) is None:
        raise RuntimeError("order_flow 'deps' needs the dependencies safeguard installed")
    fraud = client.perform_async(FraudCheckJob, order_id)
    capture = client.perform_async(PaymentCaptureJob, order_id,
                                   depends_on=[j for j in (fraud,) if j])
    reserve = client.perform_async(InventoryReservationJob, order_id)
    client.perform_async(FulfillmentJob, order_id,
                         depends_on=[j for j in (capture, reserve) if j])


def _next(job: Job, step: type[Job], order_id: Any) -> None:
    if settings(job.world).order_flow == "chain":
        job.client.perform_async(step, order_id)


def _fraud_check(job: Job, order_id: Any) -> Work:
    yield from job.world.service("fraud").call(job, "score")
    job.world.db.insert(job, "fraud_checks", {"order_id": order_id, "verdict": "ok"},
                        effect=False)


def _capture(job: Job, order_id: Any) -> Work:
    """Capture unless the primary already shows a capture (what careful code does);
    duplicates then come only from races and from timeouts that did take effect."""
    world = job.world
    if world.db.exists("captures", {"order_id": order_id}):
        return
    order = world.db.find("orders", {"id": order_id}).row
    idem = f"capture:{order_id}" if settings(world).payment_keys else None
    resp = yield from world.service("payment").call(
        job, "capture", key=f"payment:{order_id}", effect=True, once=True,
        idempotency_key=idem)
    world.db.insert(job, "captures", {
        "order_id": order_id, "amount_cents": order["amount_cents"] if order else None,
        "replayed": resp.replayed}, effect=False)


def _reserve(job: Job, order_id: Any) -> Work:
    yield from job.world.service("inventory").call(
        job, "reserve", key=f"reserve:{order_id}", effect=True, once=True)


class FraudCheckJob(Job):
    queue = "critical"
    services = ("fraud",)
    tables = ("fraud_checks",)

    def perform(self, order_id: Any) -> Work:
        yield from _fraud_check(self, order_id)
        _next(self, PaymentCaptureJob, order_id)


class PaymentCaptureJob(Job):
    """Capture the order's payment; sends ``capture:{order_id}`` as the idempotency key
    when the ``payment_keys`` setting is on."""

    queue = "critical"
    services = ("payment",)
    tables = ("orders", "captures")

    def perform(self, order_id: Any) -> Work:
        yield from _capture(self, order_id)
        _next(self, InventoryReservationJob, order_id)


class InventoryReservationJob(Job):
    queue = "critical"
    services = ("inventory",)

    def perform(self, order_id: Any) -> Work:
        yield from _reserve(self, order_id)
        _next(self, FulfillmentJob, order_id)


class FulfillmentJob(Job):
    """Ship the order: effect ``fulfil:{order_id}`` (service "orders", once).

    When no capture row is on the primary as it starts, it ships anyway (the seed's bug) and
    also records effect ``fulfilled_before_capture:{order_id}`` (service "orders",
    once=True): a checker or metric counts these as order errors.
    """

    queue = "critical"
    services = ("inventory",)
    tables = ("captures", "shipments")

    def perform(self, order_id: Any) -> Work:
        world = self.world
        captured = bool(world.db.exists("captures", {"order_id": order_id}))
        yield from world.service("inventory").call(self, "ship")
        record = self.sim.record
        if not captured:
            record("effect", self.jid, f"fulfilled_before_capture:{order_id}", "orders", True)
        record("effect", self.jid, f"fulfil:{order_id}", "orders", True)
        world.db.insert(self, "shipments", {"order_id": order_id}, effect=False)


# ---- resources ---------------------------------------------------------------------
class DataExportJob(Job):
    """Export ``rows`` rows: a db connection, a temp file and memory for the batch.

    Scoped (the ``scoped_resources`` setting): everything is released on every path, errors and
    interrupts included. Unscoped: released only on success, like the seed's job, so
    each failure (``export.fail_p``) or kill leaks a connection, a temp file and memory
    until the process dies (and the temp file even then).
    """

    pools = ("db",)

    @classmethod
    def make_args(cls, index: int, params: dict[str, Any]) -> list[Any]:
        """Export ``index`` of ``rows`` rows (default 1000)."""
        return [index, _only(cls, params, "rows").get("rows", 1000)]

    def perform(self, export_id: Any, rows: int) -> Work:
        if settings(self.world).scoped_resources:
            yield from self._scoped(rows)
        else:
            yield from self._unscoped(rows)

    def _scoped(self, rows: int) -> Work:
        world, worker = self.world, self.worker
        export = settings(world).export
        with (yield from world.pool("db").checkout(self)):
            handle = world.tempfiles.create(worker, rows * export["row_bytes"])
            mem = world.memory.allocate(worker, rows * export["mem_per_row"])
            try:
                yield from self._work(rows)
            finally:
                world.memory.free(mem)
                world.tempfiles.delete(handle)

    def _unscoped(self, rows: int) -> Work:
        world, worker = self.world, self.worker
        export = settings(world).export
        lease = yield from world.pool("db").checkout(self)
        handle = world.tempfiles.create(worker, rows * export["row_bytes"])
        mem = world.memory.allocate(worker, rows * export["mem_per_row"])
        yield from self._work(rows)
        world.memory.free(mem)
        world.tempfiles.delete(handle)
        lease.release()

    def _work(self, rows: int) -> Work:
        """Query and write half the rows, maybe fail, then the other half."""
        export = settings(self.world).export
        half = rows * export["row_s"] / 2
        yield self.sleep(half)
        p_fail = export["fail_p"]
        if p_fail and self.sim.streams["jobs.export"].random() < p_fail:
            raise ExportError(f"export {self.args[0] if self.args else '?'} failed")
        yield self.sleep(half)


def _only(cls: type[Job], params: dict[str, Any], *allowed: str) -> dict[str, Any]:
    if not params:
        return params            # the usual case, once per arrival: no sets to build
    extra = sorted(set(params) - set(allowed))
    if extra:
        raise ValueError(f"{cls.__name__} takes workload args {list(allowed)}, not {extra}")
    return params


# ---- load and benchmarks -----------------------------------------------------------
class AnalyticsJob(Job):
    """A short call to the analytics sink; no effect recorded (80k of them are load)."""

    queue = "low_priority"
    services = ("analytics",)

    def perform(self, event_id: Any) -> Work:
        yield from self.world.service("analytics").call(self, "track")


SHOP_JOBS: tuple[type[Job], ...] = (
    NotificationDeliveryJob, PaymentProcessingJob, FraudCheckJob, PaymentCaptureJob,
    InventoryReservationJob, FulfillmentJob, DataExportJob, AnalyticsJob,
)
