"""``jobsim sweep``: a seed farm and settings grid on Dask.

Imports only click at module level, so ``jobsim --help`` does not pay for Dask. Exit 0
when every run's verdict is good (PASS, or REPRODUCED for a variant that reproduces a
known failure), 1 when one is not, 2 for bad input, 130 when interrupted (the table keeps
every finished row; rerun the same command to resume).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from jobsim.files import replace_file
from jobsim.guard import EXIT_INTERRUPTED
from jobsim.guard import fail as fail_input


@click.command()
@click.argument("scenario")
@click.option("--seeds", default="10", show_default=True,
              help="N (seeds 0..N-1) or A..B (inclusive).")
@click.option("--set", "sets", multiple=True, metavar="KEY=V1,V2",
              help="Sweep a dotted scenario key over values; repeat for a grid.")
@click.option("--variant", default=None, help="Run this variant instead of the base story.")
@click.option("--all-variants", is_flag=True, help="The base story and every variant.")
@click.option("--scale", type=float, default=1.0, show_default=True,
              help="Multiply every count and rate (and the worker threads, when the "
                   "scenario says scale: {threads: true}).")
@click.option("--metric", "metrics", multiple=True, metavar="PATH",
              help="Also summarise this metrics.json path across seeds.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="An existing Dask scheduler (default: a local cluster).")
@click.option("--workers", type=int, default=None,
              help="Local worker processes (default: one per CPU).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default reports/sweeps/<scenario>/).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def sweep(scenario: str, seeds: str, sets: tuple[str, ...], variant: str | None,
          all_variants: bool, scale: float, metrics: tuple[str, ...], scheduler: str | None,
          workers: int | None, out: Path | None, as_json: bool) -> None:
    """Run SCENARIO over many seeds (and --set grid points), one Dask task per
    (point, variant, seed); write rows.csv/rows.jsonl, summary.md and sweep.html."""
    from jobsim.scenario import ScenarioError
    from jobsim.scenario.notes import reported, silenced
    from jobsim.scenario.runner import scenarios_dir
    from jobsim.sweep import page, summary
    from jobsim.sweep import sweep as farm
    from jobsim.sweep.engine import EngineError
    from jobsim.sweep.grid import PlanError, parse_seeds, parse_set

    _check_options(variant, all_variants, scale, workers, scheduler)
    try:
        request = farm.Request(
            source=scenario, seeds=parse_seeds(seeds), sets=[parse_set(s) for s in sets],
            variants=None if all_variants else [variant or ""], scale=scale,
            metrics=list(metrics))
        with reported():                       # each sidekiq.yml note once, here
            name = farm.plan(request, scenarios_dir()).meta["scenario"]
        folder = out or Path("reports") / "sweeps" / name
        with _folder_lock(folder):
            with silenced():                   # said above; the run's plan loads again
                the_plan, rows = farm.run(request, folder, scenarios_dir(),
                                          scheduler=scheduler, workers=workers,
                                          progress=_progress())
            result = summary.summarize(rows, the_plan.meta, folder)
            replace_file(folder / "summary.md", summary.markdown(result).encode())
            replace_file(folder / "summary.json", (json.dumps(result, indent=2) + "\n").encode())
            html = page.write(folder, result, rows)
    except ScenarioError as exc:     # one FILE:LINE:COL: PATH: REASON line per problem
        for line in str(exc).splitlines():
            click.echo(line, err=True)
        sys.exit(2)
    except (PlanError, EngineError) as exc:
        fail_input(str(exc))
    except KeyboardInterrupt:
        click.echo("\njobsim: interrupted; the table keeps every finished run; rerun the "
                   "same command to resume", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        _print(result, folder, html)
    sys.exit(0 if all(g["verdict"]["passes"] == g["verdict"]["runs"]
                      for g in result["groups"]) else 1)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """One sweep at a time per folder: two would append interleaved rows to one table
    (the lock file sits beside the folder, as for ``jobsim simulate``; a dead sweep's
    lock is taken over)."""
    from jobsim.scenario.lock import FolderLock

    folder = Path(os.path.abspath(folder))
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = FolderLock(folder)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _check_options(variant: str | None, all_variants: bool, scale: float,
                   workers: int | None, scheduler: str | None) -> None:
    if variant and all_variants:
        fail_input("--variant and --all-variants are exclusive")
    if scale <= 0:
        fail_input(f"--scale: must be positive, got {scale}")
    if workers is not None and workers < 1:
        fail_input(f"--workers: must be >= 1, got {workers}")
    if workers is not None and scheduler:
        fail_input("--workers sizes a local cluster; a --scheduler's cluster has its own")
    if scheduler is not None and not scheduler.startswith(("tcp://", "tls://", "ucx://",
                                                           "inproc://", "ws://", "wss://")):
        fail_input(f"--scheduler: expected an address like tcp://HOST:PORT, got {scheduler!r}")


def _print(result: dict, folder: Path, html: Path) -> None:
    from jobsim.sweep.interval import wilson

    for g in result["groups"]:
        v = g["verdict"]
        rate = wilson(v["passes"], v["runs"])
        click.echo(f"{g['point']:24} {g['variant'] or 'base':16} {g['outcome']} {rate.text()}")
    click.echo(f"table: {folder / 'rows.csv'}\nsummary: {folder / 'summary.md'}\n"
               f"chart: {html}")


def _progress():  # type: ignore[no-untyped-def]
    if not sys.stderr.isatty():
        return None

    def tick(done: int, total: int) -> None:
        click.echo(f"\r{done}/{total} runs", err=True, nl=False)

    return tick
