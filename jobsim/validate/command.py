"""``jobsim validate``: the simulator against queueing theory and published retry results.

Imports only click at module level: the CLI lists this command without paying for the
simulator. Exit 0 when every row passes, 1 when one fails, 2 for bad input.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

DOC = Path("docs/validation.md")


@click.command()
@click.argument("cases", nargs=-1)
@click.option("--quick", is_flag=True, help="Tiny sizes: a smoke test, not a validation.")
@click.option("--jobs", "workers", type=int, default=None,
              help="Worker processes for the replications (default: every CPU).")
@click.option("--doc", type=click.Path(path_type=Path), default=DOC, show_default=True,
              help="Where the full run writes its table.")
@click.option("--no-doc", is_flag=True, help="Print the table only.")
@click.option("--seed-set", type=int, default=0, show_default=True,
              help="Replications with independent seeds; 0 is the published table.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run the replications on this Dask cluster (docs/sweeps.md).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the rows as JSON (case, theory, simulated, error, criterion, "
                   "verdict) instead of the table.")
def validate(cases: tuple[str, ...], quick: bool, workers: int | None, doc: Path,
             no_doc: bool, seed_set: int, scheduler: str | None, as_json: bool) -> None:
    """Run every validation case (or the named CASES) and print one table.

    A full run (all cases, not --quick, seed set 0) also writes the table to --doc.
    """
    from jobsim.bench.machine import one_line
    from jobsim.validate import table
    from jobsim.validate.cases import by_name
    from jobsim.validate.execute import run_cases

    try:
        chosen = by_name(list(cases))
    except ValueError as exc:
        click.echo(f"jobsim: {exc}", err=True)
        sys.exit(2)
    if workers is not None and workers < 1:
        click.echo(f"jobsim: --jobs: must be >= 1, got {workers}", err=True)
        sys.exit(2)
    if seed_set < 0:
        click.echo(f"jobsim: --seed-set: must be >= 0, got {seed_set}", err=True)
        sys.exit(2)
    if workers is not None and scheduler:
        click.echo("jobsim: --jobs sizes the local pool; a --scheduler's cluster has its own",
                   err=True)
        sys.exit(2)
    workers = workers or os.cpu_count() or 1
    started = time.perf_counter()
    outcomes, cpu = run_cases(chosen, quick=quick, workers=workers, progress=_progress(),
                               seed_set=seed_set, scheduler=scheduler)
    wall = time.perf_counter() - started
    rows = table.rows_of(outcomes)
    failed = sum(not r.ok for r in rows)
    if as_json:
        click.echo(json.dumps([{"case": r.case, "theory": r.theory, "simulated": r.simulated,
                                "error": r.error, "criterion": r.criterion,
                                "verdict": "PASS" if r.ok else "FAIL"} for r in rows],
                              indent=2))
        sys.exit(1 if failed else 0)
    click.echo(table.text(outcomes))
    click.echo(f"\n{len(rows) - failed}/{len(rows)} rows pass; {wall:.0f} s wall, "
               f"{cpu:.0f} s CPU in replications, "
               f"{scheduler or f'{workers} local worker process(es)'}")
    if not (no_doc or quick or cases or seed_set):
        doc.parent.mkdir(parents=True, exist_ok=True)
        doc.write_text(table.markdown(outcomes, one_line()))
        click.echo(f"wrote {doc}")
    sys.exit(1 if failed else 0)


def _progress() -> Callable[[str], None] | None:
    """A one-line progress counter on a terminal's stderr; nothing when piped."""
    if not sys.stderr.isatty():
        return None

    def tick(message: str) -> None:
        click.echo(f"\r{message}", err=True, nl=False)

    return tick
