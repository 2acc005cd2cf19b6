"""Uniqueness locks (sidekiq-unique-jobs semantics): every lock type under crash, retry
and TTL expiry, every conflict strategy at push and at perform, and the lock digest.

Each test reads back what the system recorded and what storage holds, and the job
checkers must accept the histories the strategies produce.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from jobsim.broker.base import DEAD, RETRY, SCHEDULE
from jobsim.checks.registry import run_checks
from jobsim.sim.simulation import Simulation
from jobsim.system import Job, JobSystem, PushError, unique
from jobsim.system.unique import UniqueConflict, UniqueLocks, lock_digest, resolve

from .conftest import build_system, history_events

LOCKS = ["until_executing", "until_executed", "until_expired", "while_executing",
         "until_and_while_executing"]


class UqJob(Job):
    """Works ``seconds``; tests make (user_id, campaign_id) the unique key."""

    def perform(self, user_id: int, campaign_id: int = 1, seconds: float = 10.0) -> Any:
        yield self.sleep(seconds)


class UqOtherJob(Job):
    def perform(self, user_id: int, campaign_id: int = 1, seconds: float = 10.0) -> Any:
        yield self.sleep(seconds)


class UqFlakyJob(Job):
    """Fails its first attempt when ``fail``; retries after a fixed 100 s."""

    retry = 3

    def perform(self, user_id: int, fail: bool = False) -> Any:
        yield self.sleep(1.0)
        if fail and self.attempt == 1:
            raise RuntimeError("first attempt fails")

    def retry_in(self, count: int, exc: BaseException) -> float:
        return 100.0


class UqDoomedJob(Job):
    retry = 1

    def perform(self, user_id: int) -> Any:
        yield self.sleep(1.0)
        raise RuntimeError("always fails")

    def retry_in(self, count: int, exc: BaseException) -> float:
        return 10.0


class UqOwnJob(Job):
    unique = {"lock": "until_executing"}

    def perform(self, user_id: int) -> Any:
        yield self.sleep(10.0)


class UqOffJob(Job):
    unique = {"lock": "none"}

    def perform(self, user_id: int) -> Any:
        yield self.sleep(10.0)


def make(lock: str = "until_executed", ttl: float | None = None, on_conflict: str = "drop",
         args: list[str] | None = None, broker: str = "memory", start: bool = True,
         **config: Any) -> tuple[Simulation, JobSystem, UniqueLocks]:
    sim, system = build_system(broker=broker, start=False, **config)
    locks = unique.install(system, {"lock": lock, "ttl": ttl, "on_conflict": on_conflict,
                                    "args": ["user_id"] if args is None else args})
    if start:
        system.start()
    return sim, system, locks


def kinds(sim: Simulation, jid: str) -> list[str]:
    return [e[1] for e in sim.history.events if e[2] == jid]


def succeeded(sim: Simulation, jid: str | None) -> bool:
    return jid is not None and any(e[3] == 0 for e in history_events(sim, "success", jid))


def conflicts(sim: Simulation) -> list[tuple[Any, ...]]:
    return history_events(sim, "unique_conflict")


def checks_pass(sim: Simulation, system: JobSystem) -> dict[str, int]:
    """Violations per checker (after the final inventory); {} when all hold."""
    system.inventory()
    results = run_checks(sim.history, ["no_loss", "lifecycle", "dead_set"], {})
    return {name: r.violations for name, r in results.items() if not r.ok}


# ---- the lock key ------------------------------------------------------------------
def test_digest_is_the_sha256_of_canonical_json() -> None:
    assert lock_digest("C", "q", [1, "a"]) == hashlib.sha256(b'["C","q",[1,"a"]]').hexdigest()
    assert lock_digest("C", "q", [{"b": 1, "a": 2}]) == lock_digest("C", "q", [{"a": 2, "b": 1}])


def test_key_depends_on_class_queue_and_chosen_args_only() -> None:
    rule = resolve(UqJob, {"args": ["user_id", "campaign_id"]})
    other = resolve(UqOtherJob, {"args": ["user_id", "campaign_id"]})
    assert rule is not None and other is not None

    def key(r: unique.Rule, args: list[Any], queue: str = "default") -> str:
        return r.key({"args": args, "queue": queue})

    base = key(rule, [5, 2, 10.0])
    assert key(rule, [5, 2, 99.0]) == base                  # seconds is not in the key
    assert key(rule, [5, 1]) == key(rule, [5])              # perform's default fills in
    assert len({base, key(rule, [6, 2]), key(rule, [5, 3]), key(rule, [5, 2], "low"),
                key(other, [5, 2])}) == 5
    everything = resolve(UqJob, {"args": None})
    assert everything is not None and key(everything, [5, 2, 1.0]) != key(everything, [5, 2])


def test_unknown_argument_names_and_bad_options_are_errors() -> None:
    with pytest.raises(ValueError, match="order_id"):
        resolve(UqJob, {"args": ["order_id"]})
    _sim, system = build_system(start=False)
    with pytest.raises(ValueError, match="lock"):
        unique.install(system, {"lock": "forever"})
    with pytest.raises(ValueError, match="on_conflict"):
        unique.install(system, {"on_conflict": "ignore"})


def test_a_class_unique_option_wins_and_lock_none_disables() -> None:
    sim, system, _ = make(lock="until_executed")
    own = system.client.perform_async(UqOwnJob, 1)
    off = [system.client.perform_async(UqOffJob, 1) for _ in range(2)]
    sim.run(until=5)                     # UqOwnJob runs: its until_executing lock is gone
    again = system.client.perform_async(UqOwnJob, 1)
    sim.run(until=30)
    assert succeeded(sim, own) and succeeded(sim, again)
    assert all(succeeded(sim, j) for j in off) and conflicts(sim) == []


# ---- lock types ----------------------------------------------------------------------
@pytest.mark.parametrize("broker", ["memory", "fakeredis"])
def test_until_executed_drops_duplicates_until_success(broker: str) -> None:
    sim, system, _ = make(broker=broker)
    first = system.client.perform_async(UqJob, 1, 1, 10.0)
    assert system.client.perform_async(UqJob, 1, 1, 3.0) is None        # queued or running
    sim.run(until=5)
    assert system.client.perform_async(UqJob, 1, 2, 3.0) is None        # only user_id counts
    sim.run(until=11)
    after = system.client.perform_async(UqJob, 1, 1, 3.0)
    sim.run(until=20)
    assert succeeded(sim, first) and succeeded(sim, after)
    ((_, _, dropped, key, strategy, holder), second) = conflicts(sim)
    assert (strategy, holder, second[5]) == ("drop", first, first)
    assert kinds(sim, dropped) == ["unique_conflict"]                   # never enqueued
    ops = [(e[4], e[5]) for e in history_events(sim, "lock")]
    assert ops == [("acquire", first), ("release", first), ("acquire", after), ("release", after)]
    assert all(e[3] == key for e in history_events(sim, "lock"))


def test_until_executing_frees_the_lock_just_before_perform() -> None:
    sim, system, _ = make(lock="until_executing", start=False)
    first = system.client.perform_async(UqJob, 1)
    assert system.client.perform_async(UqJob, 1) is None                # still queued
    system.start()
    sim.run(until=1)
    second = system.client.perform_async(UqJob, 1)                      # first is running
    sim.run(until=30)
    assert succeeded(sim, first) and succeeded(sim, second)


def test_until_expired_holds_past_success_until_the_ttl() -> None:
    sim, system, _ = make(lock="until_expired", ttl=60.0)
    first = system.client.perform_async(UqJob, 1)
    sim.run(until=30)
    assert succeeded(sim, first)
    assert system.client.perform_async(UqJob, 1) is None
    sim.run(until=61)
    later = system.client.perform_async(UqJob, 1)
    sim.run(until=80)
    assert succeeded(sim, later)
    assert [(e[0], e[4], e[5]) for e in history_events(sim, "lock") if e[4] == "expire"] == [
        (61, "expire", first)]


def test_while_executing_lets_pushes_in_but_never_runs_two_at_once() -> None:
    sim, system, _ = make(lock="while_executing", start=False)
    jids = [system.client.perform_async(UqJob, 1) for _ in range(2)]
    system.start()
    sim.run(until=30)
    assert succeeded(sim, jids[0]) and not succeeded(sim, jids[1])
    assert kinds(sim, jids[1])[-2:] == ["unique_conflict", "discard"]
    assert history_events(sim, "discard", jids[1])[0][3] == "unique_conflict"
    assert conflicts(sim)[0][3].endswith(":RUN")


def test_until_and_while_executing_locks_the_queue_then_the_run() -> None:
    sim, system, _ = make(lock="until_and_while_executing", start=False)
    first = system.client.perform_async(UqJob, 1)
    assert system.client.perform_async(UqJob, 1) is None               # push lock
    system.start()
    sim.run(until=1)
    second = system.client.perform_async(UqJob, 1)                     # push lock released
    sim.run(until=30)
    assert succeeded(sim, first) and not succeeded(sim, second)        # run lock
    assert history_events(sim, "discard", second)[0][3] == "unique_conflict"


# Can a new job with the same key get in and run while the first waits to retry, and
# after the first was SIGKILLed mid-perform (basic fetch, no TTL)? docs/semantics.md, Uniqueness.
AFTER_CRASH = {"until_executing": True, "until_executed": False, "until_expired": False,
               "while_executing": False, "until_and_while_executing": False}
DURING_RETRY = {"until_executing": True, "until_executed": False, "until_expired": False,
                "while_executing": True, "until_and_while_executing": True}


@pytest.mark.parametrize("lock", LOCKS)
def test_a_waiting_retry_keeps_its_lock(lock: str) -> None:
    sim, system, _ = make(lock=lock)
    first = system.client.perform_async(UqFlakyJob, 1, True)
    sim.run(until=50)
    assert history_events(sim, "retry", first)
    second = system.client.perform_async(UqFlakyJob, 1, False)
    sim.run(until=400)
    assert succeeded(sim, second) is DURING_RETRY[lock]
    assert succeeded(sim, first)                                        # the retry runs


@pytest.mark.parametrize("ttl", [None, 50.0])
@pytest.mark.parametrize("lock", LOCKS)
def test_a_crash_leaves_the_lock_stuck_unless_it_has_a_ttl(lock: str, ttl: float | None
                                                            ) -> None:
    sim, system, _ = make(lock=lock, ttl=ttl)
    first = system.client.perform_async(UqJob, 1)
    sim.run(until=5)
    system.process("p0").crash()
    system.process("p0").restart()
    sim.run(until=100)
    second = system.client.perform_async(UqJob, 1)
    sim.run(until=200)
    assert not succeeded(sim, first)                                    # lost: basic fetch
    assert succeeded(sim, second) is (ttl is not None or AFTER_CRASH[lock])


@pytest.mark.parametrize("broker", ["memory", "fakeredis"])
def test_stuck_lock_after_a_crash_blocks_the_key_forever_and_a_ttl_frees_it(broker: str
                                                                           ) -> None:
    """The process stays down until the end, so simulated days pass at no cost: the
    lock lives in storage, not in a process."""
    week = 7 * 86400.0
    sim, system, _ = make(broker=broker)
    system.client.perform_async(UqJob, 7)
    sim.run(until=5)
    system.process("p0").crash()
    for t in (60.0, 3600.0, week):
        sim.run(until=t)
        assert system.client.perform_async(UqJob, 7) is None
    assert [e[5] for e in conflicts(sim)] == [history_events(sim, "enqueue")[0][2]] * 3
    sim, system, _ = make(broker=broker, ttl=3600.0)
    system.client.perform_async(UqJob, 7)
    sim.run(until=5)
    system.process("p0").crash()
    sim.run(until=3599)
    assert system.client.perform_async(UqJob, 7) is None
    sim.run(until=3606)
    freed = system.client.perform_async(UqJob, 7)
    system.process("p0").restart()
    sim.run(until=3700)
    assert succeeded(sim, freed)


def test_reliable_fetch_reruns_the_crashed_holder_which_then_releases() -> None:
    sim, system, _ = make(fetch="reliable")
    first = system.client.perform_async(UqJob, 1)
    sim.run(until=5)
    system.process("p0").crash()
    system.process("p0").restart()                                      # recovers its list
    sim.run(until=30)
    assert succeeded(sim, first)
    again = system.client.perform_async(UqJob, 1)
    sim.run(until=60)
    assert succeeded(sim, again)


def test_ttl_expiring_before_the_first_run_ends_lets_a_duplicate_run_beside_it() -> None:
    sim, system, _ = make(ttl=5.0)
    first = system.client.perform_async(UqJob, 1)
    sim.run(until=6)
    second = system.client.perform_async(UqJob, 1)
    sim.run(until=30)
    assert succeeded(sim, first) and succeeded(sim, second)
    starts = {e[2]: e[0] for e in history_events(sim, "start")}
    assert starts[second] < 10.0                                        # overlapping runs
    ops = [(e[0], e[4], e[5]) for e in history_events(sim, "lock")]
    assert (6.0, "expire", first) in ops and (10.0, "release", first) not in ops


def test_a_dead_job_releases_its_lock() -> None:
    sim, system, _ = make()
    doomed = system.client.perform_async(UqDoomedJob, 1)
    sim.run(until=5)
    assert system.client.perform_async(UqDoomedJob, 1) is None          # retrying: kept
    sim.run(until=60)
    assert history_events(sim, "dead", doomed)
    assert system.client.perform_async(UqDoomedJob, 1) is not None


def test_a_redelivered_copy_of_the_same_job_passes_every_lock() -> None:
    """Locks are held per jid: a second delivery of the same jid is not a conflict."""
    sim, system, _ = make(lock="until_and_while_executing", start=False)
    jid = system.client.perform_async(UqJob, 1)
    assert system.client.push(UqJob, [1], jid=jid) == jid
    system.start()
    sim.run(until=30)
    assert sorted(e[6] for e in history_events(sim, "start", jid)) == [0, 1]
    assert conflicts(sim) == []


# ---- conflict strategies at push -----------------------------------------------------
@pytest.mark.parametrize("strategy", ["drop", "log"])
def test_drop_and_log_skip_the_push_and_record_it(strategy: str) -> None:
    sim, system, _ = make(on_conflict=strategy)
    holder = system.client.perform_async(UqJob, 1)
    assert system.client.perform_async(UqJob, 1) is None
    ((_, _, jid, _, recorded, who),) = conflicts(sim)
    assert (recorded, who) == (strategy, holder)
    assert kinds(sim, jid) == ["unique_conflict"]


def test_raise_raises_at_the_client_and_pushes_nothing() -> None:
    sim, system, _ = make(on_conflict="raise")
    holder = system.client.perform_async(UqJob, 1)
    with pytest.raises(UniqueConflict) as info:
        system.client.perform_async(UqJob, 1)
    assert isinstance(info.value, PushError) and info.value.holder == holder
    assert [p["jid"] for p in system.broker.queue_items("default")] == [holder]
    assert [e[2] for e in history_events(sim, "enqueue")] == [holder]


def test_reject_sends_the_job_to_the_dead_set_without_death_handlers() -> None:
    calls: list[str] = []

    def alert(payload: dict[str, Any], exc: BaseException | None) -> None:
        calls.append(payload["jid"])

    sim, system, _ = make(on_conflict="reject", death_handlers=[alert])
    system.client.perform_async(UqJob, 1)
    assert system.client.perform_async(UqJob, 1) is None
    ((_, _, rejected, _, _, _),) = conflicts(sim)
    assert kinds(sim, rejected) == ["unique_conflict", "dead"]
    assert history_events(sim, "dead", rejected)[0][3] == "reject"
    assert [p["jid"] for _, p in system.broker.zitems(DEAD)] == [rejected]
    sim.run(until=30)
    assert calls == [] and checks_pass(sim, system) == {}


def _wait_in(where: str, system: JobSystem, sim: Simulation) -> str | None:
    if where == "queue":
        return system.client.perform_async(UqFlakyJob, 1)
    if where == "schedule":
        return system.client.perform_in(300.0, UqFlakyJob, 1)
    jid = system.client.perform_async(UqFlakyJob, 1, True)
    sim.run(until=20)
    return jid


@pytest.mark.parametrize("where", ["queue", "schedule", "retry"])
def test_replace_deletes_the_waiting_holder_and_takes_the_lock(where: str) -> None:
    sim, system, _ = make(on_conflict="replace", start=(where == "retry"))
    holder = _wait_in(where, system, sim)
    newer = system.client.perform_async(UqFlakyJob, 1)
    assert newer is not None
    assert history_events(sim, "discard", holder)[0][3] == "replaced"
    stored = [p["jid"] for q in system.broker.queue_names() for p in system.broker.queue_items(q)]
    stored += [p["jid"] for z in (SCHEDULE, RETRY) for _, p in system.broker.zitems(z)]
    assert holder not in stored and newer in stored
    if where != "retry":
        system.start()
    sim.run(until=400)
    assert succeeded(sim, newer) and not succeeded(sim, holder)
    assert checks_pass(sim, system) == {}


def test_replace_while_the_holder_runs_forces_the_lock() -> None:
    sim, system, _ = make(on_conflict="replace")
    holder = system.client.perform_async(UqJob, 1)
    sim.run(until=2)
    newer = system.client.perform_async(UqJob, 1)
    sim.run(until=30)
    assert succeeded(sim, holder) and succeeded(sim, newer)
    assert [(e[4], e[5]) for e in history_events(sim, "lock")][1] == ("force", newer)
    assert checks_pass(sim, system) == {}


def test_reschedule_pushes_the_same_job_again_every_5s_until_the_lock_is_free() -> None:
    sim, system, _ = make(on_conflict="reschedule")
    holder = system.client.perform_async(UqJob, 1)                      # runs 0..10
    sim.run(until=1)
    assert system.client.perform_async(UqJob, 1) is None
    sim.run(until=40)
    waiting = conflicts(sim)[0][2]
    assert [e[0] for e in conflicts(sim)] == [1.0, 6.0]                 # 11: lock is free
    assert [e[0] for e in history_events(sim, "enqueue", waiting)] == [11.0]
    assert succeeded(sim, holder) and succeeded(sim, waiting)
    assert checks_pass(sim, system) == {}


# ---- conflict strategies at perform (while_executing) ----------------------------------
def _two_at_once(strategy: str) -> tuple[Simulation, JobSystem, str, str]:
    sim, system, _ = make(lock="while_executing", on_conflict=strategy, start=False)
    first, second = (system.client.perform_async(UqJob, 1) for _ in range(2))
    assert first is not None and second is not None
    system.start()
    sim.run(until=100)
    return sim, system, first, second


@pytest.mark.parametrize("strategy", ["drop", "log"])
def test_run_conflict_drop_and_log_discard_the_job(strategy: str) -> None:
    sim, system, first, second = _two_at_once(strategy)
    assert succeeded(sim, first) and not succeeded(sim, second)
    assert history_events(sim, "discard", second)[0][3] == "unique_conflict"
    assert conflicts(sim)[0][4] == strategy
    assert checks_pass(sim, system) == {}


def test_run_conflict_raise_fails_the_job_into_retry() -> None:
    sim, system, first, second = _two_at_once("raise")
    ((_, _, _, error, attempt, dup),) = history_events(sim, "failure", second)
    assert (error, attempt, dup) == ("UniqueConflict", 1, 0)
    assert history_events(sim, "retry", second)
    assert succeeded(sim, first) and succeeded(sim, second)           # after the retry
    assert checks_pass(sim, system) == {}


def test_run_conflict_reject_kills_the_job_silently() -> None:
    sim, system, _first, second = _two_at_once("reject")
    assert history_events(sim, "dead", second)[0][3] == "reject"
    assert history_events(sim, "death_handler") == []
    assert checks_pass(sim, system) == {}


def test_run_conflict_replace_runs_anyway() -> None:
    sim, _system, first, second = _two_at_once("replace")
    starts = [e[0] for e in history_events(sim, "start")]
    assert succeeded(sim, first) and succeeded(sim, second) and starts == [0.0, 0.0]
    assert ("force", second) in [(e[4], e[5]) for e in history_events(sim, "lock")]


def test_run_conflict_reschedule_pushes_a_new_job_5s_later() -> None:
    sim, system, first, second = _two_at_once("reschedule")
    assert history_events(sim, "discard", second)[0][3] == "rescheduled"
    later = [e for e in history_events(sim, "schedule") if e[2] not in (first, second)]
    assert later and later[0][7] == 5.0
    ran = [e for e in history_events(sim, "success") if e[2] not in (first, second)]
    assert len(ran) == 1 and ran[0][0] > 10.0                           # after the holder
    assert checks_pass(sim, system) == {}


# ---- brokers --------------------------------------------------------------------------
def _story(broker: str) -> str:
    sim, system, _ = make(on_conflict="replace", broker=broker, ttl=30.0, start=False)
    for user in (1, 2, 1, 3, 2):
        system.client.perform_async(UqJob, user)
    system.start()
    sim.run(until=5)
    system.process("p0").crash()
    system.process("p0").restart()
    for user in (1, 2, 3):
        system.client.perform_async(UqJob, user)
    sim.run(until=100)
    return sim.history.digest()


def test_memory_and_fakeredis_record_the_same_lock_history() -> None:
    assert _story("memory") == _story("fakeredis")


class UqShortTtlJob(Job):
    unique = {"lock": "until_executed", "ttl": 5.0, "args": ["user_id"]}

    def perform(self, user_id: int) -> Any:
        yield self.sleep(10.0)


def test_a_class_ttl_is_recorded_and_judged_per_hold() -> None:
    """The run's default has no TTL; the class's own 5 s does. The copy pushed at 7 s takes
    the expired lock legally, and the uniqueness check agrees because each acquire carries
    its hold's TTL; judged by the run's default instead, the takeover is an overlap."""
    sim, system = build_system(start=False, concurrency=2)
    unique.install(system, {"lock": "until_executed", "ttl": None})
    system.start({"safeguards": {"unique": {"ttl": None}}})
    first = system.client.perform_async(UqShortTtlJob, 1)

    def later() -> Any:
        yield sim.timeout(7.0)
        system.client.perform_async(UqShortTtlJob, 1)

    sim.process(later())
    sim.run(until=40)
    acquires = [e for e in history_events(sim, "lock") if e[4] == "acquire"]
    assert [(e[2] == first, e[6]) for e in acquires] == [(True, 5.0), (False, 5.0)]
    assert run_checks(sim.history, ["uniqueness"], {})["uniqueness"].ok
    default = run_checks(sim.history, ["uniqueness"], {"uniqueness": {"ttl": 3600}})
    assert default["uniqueness"].stats["overlaps"] == 1
