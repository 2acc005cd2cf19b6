"""resources: pools and temp files released at a drained end, memory flat with job count."""

from __future__ import annotations

from jobsim.checks.resources import check
from jobsim.history.history import History

MB = 1024 * 1024


def sample(t: float, name: str, value: float) -> tuple:
    return (t, "sample", None, name, value)


def job(t: float, jid: str, worker: str = "p0") -> list[tuple]:
    return [(t, "start", jid, "default", worker, 1, 0), (t + 1, "success", jid, 0)]


def test_released_pools_and_flat_memory_hold() -> None:
    events = [sample(0, "pool.db.in_use", 0), sample(0, "tempfiles.count", 0)]
    for i in range(8):
        events += job(10 * i, f"j{i}")
        events.append(sample(10 * i + 0.5, "pool.db.in_use", 2))  # while j{i} runs
        events.append(sample(10 * i + 5, "memory.p0", 100 * MB + (i % 2) * MB))
    events += [sample(90, "pool.db.in_use", 0), sample(90, "tempfiles.count", 0),
               (90, "horizon", None)]
    result = check(History(events))
    assert result.ok, result.examples
    assert result.stats["pools"]["db"] == {"peak": 2, "last": 0}
    assert result.stats["memory"]["p0"]["peak"] == 101 * MB
    assert result.stats["final_idle"] is True


def test_connection_and_temp_file_leak_at_the_end() -> None:
    events = [*job(0, "a"), sample(2, "pool.db.in_use", 1), sample(2, "pool.cache.in_use", 0),
              sample(2, "tempfiles.count", 3), sample(2, "tempfiles.bytes", 4096),
              (3, "horizon", None)]
    result = check(History(events))
    assert result.violations == 2
    assert {e["name"] for e in result.examples} == {"pool.db.in_use", "tempfiles.count"}
    assert result.stats["tempfiles"]["last_bytes"] == 4096
    assert check(History(events[:-1])).ok  # no horizon: the end is not judged


def test_pool_in_use_while_a_job_runs_is_not_judged() -> None:
    events = [(0, "start", "a", "default", "p0", 1, 0), sample(1, "pool.db.in_use", 1),
              (2, "horizon", None)]
    result = check(History(events))
    assert result.ok
    assert result.stats["final_idle"] is False


def test_memory_growing_with_jobs_is_a_violation() -> None:
    events = []
    for i in range(12):
        events += job(10 * i, f"j{i}")
        events.append(sample(10 * i + 5, "memory.p1", 100 * MB + i * 20 * MB))
    result = check(History(events))
    assert result.violations == 1
    example = result.examples[0]
    assert example["worker"] == "p1"
    assert example["per_1000_jobs"] == 20 * MB * 1000
    assert check(History(events), growth_tolerance=4.0).ok


def test_warm_up_plateau_and_restart_reset_are_not_growth() -> None:
    events = [sample(1, "memory.p0", 50 * MB)]
    events += [sample(2 + i, "memory.p0", 70 * MB) for i in range(7)]  # warm-up, then flat
    events += [(10, "crash", None, "p0"), (11, "restart", None, "p0")]
    events += [sample(12 + i, "memory.p0", 200 * MB) for i in range(4)]  # a new process
    result = check(History(events))
    assert result.ok, result.examples
    assert result.stats["memory"]["p0"]["lives"] == 2
    assert result.stats["memory"]["p0"]["end"] == 200 * MB


def _life(worker: str, start: float, levels: list[int]) -> list[tuple]:
    """Idle memory samples between jobs on ``worker``, one per level (MB)."""
    events: list[tuple] = []
    for i, level in enumerate(levels):
        events += job(start + 10 * i, f"{worker}-{start}-{i}", worker)
        events.append(sample(start + 10 * i + 5, f"memory.{worker}", level * MB))
    return events


def test_a_life_cut_by_a_crash_is_judged_at_rest_not_on_its_busy_last_sample() -> None:
    events = _life("p0", 0, [100] * 6)
    events.append((60, "start", "big", "default", "p0", 1, 0))      # a 2 GB job starts
    events.append(sample(61, "memory.p0", 2048 * MB))                # still running...
    events.append((62, "crash", None, "p0"))                         # ...when killed
    result = check(History(events))
    assert result.ok, result.examples


def test_growth_at_rest_before_a_crash_is_still_a_leak() -> None:
    events = _life("p0", 0, [100, 100, 150, 200, 250, 300])
    events.append((60, "crash", None, "p0"))
    result = check(History(events))
    assert not result.ok
    assert result.examples[0]["what"] == "memory growth"
