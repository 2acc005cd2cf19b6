"""Run every case's replications, spread over workers, and judge them.

Replications are independent runs with their own seeds, so running them in parallel
changes nothing but the wall time: results are collected in task order and the table is
the same with one worker or many, locally or on a remote Dask cluster. They run on the
sweep's engine (``jobsim.sweep.engine``): one local worker runs them in this process,
several make a Dask LocalCluster, ``scheduler`` connects to an existing cluster. A case
whose task raises is reported as failed with the error, never skipped silently.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from jobsim.sweep.engine import open_engine
from jobsim.validate.case import Case, Outcome, Task
from jobsim.validate.rows import Row, settle

Progress = Callable[[str], None]


def timed(task: Task) -> tuple[Any, float]:
    """The task's result and the CPU seconds it took (in the process that ran it)."""
    start = time.process_time()
    result = task()
    return result, time.process_time() - start


def run_cases(cases: Sequence[Case], quick: bool = False, workers: int = 1,
              progress: Progress | None = None, seed_set: int = 0,
              scheduler: str | None = None) -> tuple[list[Outcome], float]:
    """Judge every case; returns the outcomes and the total CPU seconds of the tasks.
    ``seed_set`` picks the replications' seeds (0: the published table); ``scheduler``
    a Dask scheduler address to run them on (``workers`` is then the cluster's)."""
    plan = [(i, task) for i, case in enumerate(cases) for task in case.tasks(quick, seed_set)]
    results: list[list[Any]] = [[] for _ in cases]
    errors: dict[int, str] = {}
    cpu = 0.0
    for (i, _task), outcome in zip(plan, _execute([t for _, t in plan], workers, progress,
                                                       scheduler),
                                   strict=True):
        if isinstance(outcome, BaseException):
            errors.setdefault(i, f"{type(outcome).__name__}: {outcome}")
            continue
        value, seconds = outcome
        results[i].append(value)
        cpu += seconds
    outcomes = [_judge(case, results[i], errors.get(i)) for i, case in enumerate(cases)]
    _settle(outcomes)
    return outcomes, cpu


def _settle(outcomes: list[Outcome]) -> None:
    """Judge every analytical row of the run as one family (simultaneous intervals)."""
    settled = iter(settle([row for outcome in outcomes for row in outcome.rows]))
    for outcome in outcomes:
        outcome.rows = [next(settled) for _ in outcome.rows]


def _judge(case: Case, results: list[Any], error: str | None) -> Outcome:
    outcome = _verdict(case, results, error)
    outcome.sizes = case.sizes()
    return outcome


def _verdict(case: Case, results: list[Any], error: str | None) -> Outcome:
    if error is not None:
        return Outcome(case.name, [Row(case.name, "", "", "", f"error: {error}", False)],
                       note=error)
    try:
        return Outcome(case.name, case.judge(results))
    except Exception as exc:      # a judge bug must show in the table, not kill the run
        message = f"{type(exc).__name__}: {exc}"
        return Outcome(case.name, [Row(case.name, "", "", "", f"error: {message}", False)],
                       note=message)


def _execute(tasks: list[Task], workers: int, progress: Progress | None,
             scheduler: str | None = None) -> list[tuple[Any, float] | BaseException]:
    """Each task's (result, cpu seconds) or its exception, in task order; the longest
    tasks are submitted first so the workers finish together."""
    out: list[tuple[Any, float] | BaseException] = [RuntimeError("not run")] * len(tasks)
    order = sorted(range(len(tasks)), key=lambda k: -tasks[k].cost)
    with open_engine(scheduler, workers, inline_single=True) as engine:
        for done, (k, outcome) in enumerate(engine.run(_capture, [tasks[k] for k in order])):
            out[order[k]] = outcome
            _tick(progress, done, len(tasks))
    return out


def _capture(task: Task) -> tuple[Any, float] | BaseException:
    """Returned, not raised: a replication's error belongs in its case's row."""
    try:
        return timed(task)
    except Exception as exc:
        return exc


def _tick(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(f"{done + 1}/{total} replications")
