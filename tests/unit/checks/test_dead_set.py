"""dead_set: one death-handler call per handler per death, the set bounded at rest, and
every dead job trimmed on record or still held at the horizon."""

from __future__ import annotations

import pytest

from jobsim.checks.dead_set import check
from jobsim.history.history import History

HANDLERS = ["notify", "refund"]


def config(max_jobs: int = 3, handlers: list[str] | None = None) -> tuple:
    cfg = {"dead_max_jobs": max_jobs, "dead_timeout_s": 180 * 86400.0,
           "death_handlers": HANDLERS if handlers is None else handlers}
    return (0, "config", None, cfg)


def died(t: float, jid: str, reason: str = "exhausted", handlers: list[str] = HANDLERS) -> list:
    return [(t, "dead", jid, reason)] + [(t, "death_handler", jid, h, True, None)
                                         for h in handlers]


def healthy() -> list:
    """Four deaths into a set of max 3 (rest bound 2): Sidekiq trims the oldest on add."""
    return [
        config(),
        *died(1, "a"),
        (2, "discard", "f", "retry_false"), (2, "death_handler", "f", "notify", True, None),
        (2, "death_handler", "f", "refund", False, "Timeout"),   # a failing handler counts
        (3, "discard", "r", "replaced"),                         # no handlers owed
        *died(4, "u", reason="reject", handlers=[]),             # notify_failure: false
        *died(5, "b", reason="kill"), (5, "trim", "a", "size"),
        *died(6, "c"), (6, "trim", "u", "size"),
        (9, "horizon", None), (9, "held", "b", "dead"), (9, "held", "c", "dead"),
        (9, "held", "q", "queue:default"),
    ]


def test_healthy_dead_set_holds() -> None:
    result = check(History(healthy()))
    assert result.ok, result.examples
    assert result.stats["deaths"] == 4
    assert result.stats["handler_calls"] == 3 * 2 + 2
    assert result.stats["max_size"] == 2              # at rest: dead_max_jobs - 1
    assert result.stats["max_size_transient"] == 3    # between an add and its trim
    assert result.stats["trimmed"] == {"size": 2}
    assert result.stats["final_size"] == 2 and result.stats["held_dead"] == 2


def test_negative_control_handler_called_twice() -> None:
    events = healthy()
    events.insert(3, (1, "death_handler", "a", "refund", True, None))
    result = check(History(events))
    assert result.violations == 1
    example = result.examples[0]
    assert (example["what"], example["jid"], example["handler"]) == ("duplicate", "a", "refund")
    assert (example["calls"], example["expected"]) == (2, 1)


def test_missing_and_unexpected_handler_calls() -> None:
    events = [e for e in healthy() if e[1:4] != ("death_handler", "b", "notify")]
    events.append((7, "death_handler", "r", "notify", True, None))   # replaced: owed nothing
    events.append((7, "death_handler", "c", "audit", True, None))    # not configured
    result = check(History(events))
    found = sorted((e["what"], e["jid"], e["handler"]) for e in result.examples)
    assert found == [("missing", "b", "notify"), ("unexpected", "c", "audit"),
                     ("unexpected", "r", "notify")]
    assert result.violations == 3


@pytest.mark.parametrize(("reason", "owed"), [
    ("retry_false", True), ("discard", True), ("dead_false", True), ("replaced", False)])
def test_discards_that_owe_handlers(reason: str, owed: bool) -> None:
    """Sidekiq runs death handlers for retry: false, retry_in :discard and an exhausted
    job with dead: false; a replaced unique job owes none."""
    silent = check(History([config(), (1, "discard", "f", reason)]))
    assert silent.violations == (len(HANDLERS) if owed else 0)
    assert {e["what"] for e in silent.examples} <= {"missing"}
    called = check(History([config(), (1, "discard", "f", reason),
                            *[(1, "death_handler", "f", h, True, None) for h in HANDLERS]]))
    assert called.violations == (0 if owed else len(HANDLERS))


def test_untrimmed_set_breaks_its_bound_at_every_rest_point() -> None:
    """max 3 -> at most 2 at rest. Five adds with no trim: rest sizes 0,1,2,3,4 before the
    adds and 5 at the horizon; the last three exceed 2."""
    events = [config(handlers=[])]
    events += [(t, "dead", f"j{t}", "exhausted") for t in range(5)]
    events += [(9, "horizon", None)] + [(9, "held", f"j{t}", "dead") for t in range(5)]
    result = check(History(events))
    assert result.violations == 3
    assert [e["size"] for e in result.examples] == [3, 4, 5]
    assert result.stats["max_size"] == 5


def test_trim_of_unknown_job_and_silent_drop() -> None:
    events = healthy()
    events.insert(-4, (8, "trim", "nobody", "age"))
    events = [e for e in events if e != (9, "held", "c", "dead")]   # c vanished
    events.append((9, "held", "r", "dead"))                          # r never died
    result = check(History(events))
    found = sorted((e["what"], e["jid"]) for e in result.examples)
    assert found == [("dropped", "c"), ("held_not_dead", "r"), ("trim_not_dead", "nobody")]
    assert result.violations == 3


def test_edge_no_horizon_and_no_config() -> None:
    """Without a horizon nothing can be called dropped; without a config no handler or
    size rule applies, but a trim of a job never dead is still caught."""
    no_horizon = [e for e in healthy() if e[1] not in ("horizon", "held")]
    assert check(History(no_horizon)).ok
    bare = check(History([*died(1, "a"), *died(2, "b"), (3, "trim", "zz", "age")]))
    assert bare.violations == 1 and bare.examples[0]["what"] == "trim_not_dead"
    assert bare.stats["dead_max_jobs"] is None


# ---- the age rule: ZREMRANGEBYSCORE dead -inf (now - timeout) on every add ---------
TIMEOUT = 100.0


def aged_config() -> tuple:
    cfg = {"dead_max_jobs": 10, "dead_timeout_s": TIMEOUT, "death_handlers": []}
    return (0, "config", None, cfg)


def aging() -> list:
    """a dies at 0; the add at 100 is exactly a's timeout (inclusive: a goes); b, dead at
    50, is 70 s old at the add at 120 and stays."""
    return [
        aged_config(),
        (0, "dead", "a", "exhausted"), (50, "dead", "b", "exhausted"),
        (100, "dead", "c", "exhausted"), (100, "trim", "a", "age"),
        (120, "dead", "d", "exhausted"),
        (200, "horizon", None), *[(200, "held", j, "dead") for j in "bcd"],
    ]


def test_age_trims_on_time_hold() -> None:
    result = check(History(aging()))
    assert result.ok, result.examples
    assert result.stats["trimmed"] == {"age": 1}
    assert result.stats["dead_timeout_s"] == TIMEOUT
    assert (result.stats["early_age_trims"], result.stats["survived_timeout"]) == (0, 0)


def test_negative_control_age_trim_too_early() -> None:
    """b is 70 s old at the add at 120: trimming it for age breaks the 100 s timeout."""
    events = aging()
    events.insert(6, (120, "trim", "b", "age"))
    events.remove((200, "held", "b", "dead"))
    result = check(History(events))
    assert result.violations == 1 and result.stats["early_age_trims"] == 1
    assert result.examples == [{"what": "early_age_trim", "jid": "b", "t": 120,
                                "died": 50, "age": 70, "timeout": TIMEOUT}]


def test_negative_control_entry_outlives_its_timeout() -> None:
    """Without a's trim, a survives the add at 100 (and the one at 120): one violation,
    found at the next rest point, never counted again."""
    events = [e for e in aging() if e != (100, "trim", "a", "age")]
    events.append((200, "held", "a", "dead"))
    result = check(History(events))
    assert result.violations == 1 and result.stats["survived_timeout"] == 1
    assert result.examples == [{"what": "survived_timeout", "jid": "a", "t": 100,
                                "died": 0, "age": 100, "timeout": TIMEOUT}]


@pytest.mark.parametrize(("died", "due"), [(20.0, True), (20.5, False), (19.5, True)])
def test_edge_exactly_at_the_timeout_is_due(died: float, due: bool) -> None:
    """The add at 120 removes scores <= 120 - 100 = 20 (ZREMRANGEBYSCORE is inclusive):
    at exactly 20 the trim is due, and both an early trim and a survivor are caught."""
    base = [aged_config(), (died, "dead", "x", "exhausted"), (120, "dead", "y", "exhausted")]
    trimmed = check(History([*base, (120, "trim", "x", "age")]))
    kept = check(History(base))
    assert trimmed.ok is due and trimmed.stats["early_age_trims"] == (0 if due else 1)
    assert kept.ok is not due and kept.stats["survived_timeout"] == (1 if due else 0)


def test_age_rule_matches_the_broker_arithmetic() -> None:
    """Replaying adds through the real dead set store, at a float boundary (0.3 - 0.1 <
    0.2 in binary), the checker agrees with what it trimmed; with ages ignored by the
    store (timeout infinite), the same history is caught."""
    from jobsim.broker.memory import MemoryBroker

    def replay(store_timeout: float) -> History:
        broker, events = MemoryBroker(), [(0, "config", None, {"dead_timeout_s": 0.1})]
        for t, jid in [(0.1, "a"), (0.2, "b"), (0.3, "c"), (0.30000000000000004, "d")]:
            events.append((t, "dead", jid, "exhausted"))
            for old, why in broker.dead_add({"jid": jid}, t, 10, store_timeout):
                events.append((t, "trim", old["jid"], why))
        return History(events)

    faithful = replay(0.1)
    assert [e[2] for e in faithful.events if e[1] == "trim"] == ["a", "b"]
    assert check(faithful).ok
    ageless = check(replay(float("inf")))
    assert ageless.stats["survived_timeout"] == 2
    assert [e["jid"] for e in ageless.examples] == ["a", "b"]
