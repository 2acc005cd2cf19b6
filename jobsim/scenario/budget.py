"""What a run will cost, estimated from the scenario before it starts, and the caps.

A scenario file is input, and input can ask for ``count: 1000000000`` or
``processes: 100000``; without a budget such a run grows until the machine runs out of
memory, an hour later. The estimate needs no simulation: jobs from counts, bursts,
fanouts, rates x windows and the faults that enqueue (``load_burst``, ``poison_jobs``);
simulation steps from those jobs, from every poller, and from the idle wake-ups of
every thread where they happen (system/idle.py: an idle thread wakes on Sidekiq's 2 s
BRPOP timeout only while a storage fault it could see is on, and always under Celery,
whose consumers hold messages outside the store); memory from both. The constants are
calibrated on the runs docs/performance.md measures (black_friday: 151,398 jobs from
115,699 arrivals, 561,335 events; a million SyntheticJobs: 705 MB peak), rounded up,
so a real run stays below its estimate.

A run over any cap is refused unless the user says ``--allow-large``; the message gives
the estimate and the flag.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobsim.scenario.errors import ScenarioError
from jobsim.scenario.schema import Scenario

JOBS_PER_ARRIVAL = 2.0  # an arrival may enqueue follow-up jobs (an order pays, then fulfils)
EVENTS_PER_JOB = 6.0  # enqueue, fetch, start, effects, success, retries...
IDLE_WAIT_S = 2.0  # Sidekiq's BRPOP timeout: an idle thread wakes this often...
IDLE_FAULTS = frozenset({"redis_outage", "redis_failover", "duplicate_enqueue"})  # ...in these
BYTES_PER_JOB = 1024  # job state, payload and history rows (the million run: ~705 B)
BYTES_PER_EVENT = 128
BYTES_PER_THREAD = 16 * 1024  # a processor, its simpy process and its bookkeeping

MAX_JOBS = 5_000_000
MAX_STEPS = 200_000_000
MAX_MEMORY = 4 * 1024**3
ALLOW_FLAG = "--allow-large"


@dataclass(frozen=True)
class Estimate:
    """A run's expected size: jobs enqueued, simulation steps, bytes of memory."""

    jobs: float
    steps: float
    memory: float

    def over(self) -> list[str]:
        """The caps this estimate exceeds, each worded with its figure."""
        found = []
        if self.jobs > MAX_JOBS:
            found.append(f"about {_big(self.jobs)} jobs (cap {_big(MAX_JOBS)})")
        if self.steps > MAX_STEPS:
            found.append(f"about {_big(self.steps)} simulation steps (cap {_big(MAX_STEPS)})")
        if self.memory > MAX_MEMORY:
            found.append(f"about {_bytes(self.memory)} of memory (cap {_bytes(MAX_MEMORY)})")
        return found


def estimate(scenario: Scenario) -> Estimate:
    """The size of a run of SCENARIO as it stands (already scaled, one variant)."""
    arrivals = sum(_arrivals(entry) for entry in scenario.workload)
    arrivals += sum(_fault_jobs(fault.type, fault.params) for fault in scenario.faults)
    jobs = arrivals * JOBS_PER_ARRIVAL
    system = scenario.system
    threads = system.processes * system.concurrency
    poll = system.poll_interval or 5.0 * system.processes
    wakeups = threads * _timed_idle(scenario) / IDLE_WAIT_S
    wakeups += system.processes * scenario.horizon / poll
    steps = jobs * EVENTS_PER_JOB + wakeups
    memory = jobs * BYTES_PER_JOB + jobs * EVENTS_PER_JOB * BYTES_PER_EVENT
    memory += threads * BYTES_PER_THREAD
    return Estimate(jobs, steps, memory)


def _timed_idle(scenario: Scenario) -> float:
    """Seconds in which idle threads wake on their timer: the whole run under Celery,
    else the windows of the storage faults a timer wake could see."""
    horizon = scenario.horizon
    if scenario.system.flavor.name == "celery":
        return horizon
    return min(horizon, sum(
        fault.duration if fault.duration is not None else max(0.0, horizon - fault.start)
        for fault in scenario.faults if fault.type in IDLE_FAULTS))


def _arrivals(entry: object) -> float:
    rate = getattr(entry, "rate", None)
    if rate is not None:
        end = getattr(entry, "end", None) or 0.0
        return float(rate) * max(0.0, end - getattr(entry, "start", 0.0))
    return float(getattr(entry, "count", 0) or 0)


def _fault_jobs(kind: str, params: object) -> float:
    """Jobs a fault enqueues: load_burst (default 1,000) and poison_jobs (default 1)."""
    defaults = {"load_burst": 1000, "poison_jobs": 1}
    if kind not in defaults:
        return 0.0
    count = params.get("count") if isinstance(params, dict) else None
    return float(count) if isinstance(count, int | float) else float(defaults[kind])


def check_budget(scenario: Scenario, *, allow_large: bool = False) -> Estimate:
    """The estimate, or a ScenarioError naming it and ``--allow-large`` when over a cap."""
    found = estimate(scenario)
    over = found.over()
    if over and not allow_large:
        what = scenario.name + (f" / {scenario.variant}" if scenario.variant else "")
        scale = f" at --scale {scenario.scale:g}" if scenario.scale != 1.0 else ""
        raise ScenarioError(scenario.file, "", f"{what}{scale} would need {'; '.join(over)}; "
                            f"refused before running. Lower --scale or the counts, or pass "
                            f"{ALLOW_FLAG} to run it anyway (see docs/scenarios.md, Budgets)")
    return found


def _big(n: float) -> str:
    if n >= 1e12:
        return f"{n:.1e}"
    for size, unit in ((1e9, " billion"), (1e6, " million")):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:,.0f}"


def _bytes(n: float) -> str:
    if n >= 1024**4 * 1000:
        return f"{n:.1e} bytes"
    for size, unit in ((1024**4, "TiB"), (1024**3, "GiB"), (1024**2, "MiB")):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:,.0f} bytes"
