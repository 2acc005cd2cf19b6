"""The ``jobsim`` command. Exit codes (``jobsim.guard``): 0 every check and expectation
held; 1 something failed (the summary says what); 2 bad input or usage: one message naming
the file, the field and the reason, never a traceback; 3 a bug in jobsim; 130 Ctrl-C."""

from __future__ import annotations

import gc
import json
import math
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from jobsim.guard import fail, guarded
from jobsim.report.summary import sections, verdict

console = Console()
errors = Console(stderr=True)


def fail_input(message: str) -> NoReturn:
    """Bad input: one line on stderr, exit 2."""
    fail(message)


def fail_scenario(error: Exception) -> NoReturn:
    """A bad scenario: one ``FILE:LINE:COL: PATH: REASON`` line per problem, exit 2.

    No ``jobsim:`` prefix, so editors and CI annotators can jump to each location."""
    for line in str(error).splitlines():
        click.echo(line, err=True)
    sys.exit(2)


class _Commands(click.Group):
    """click's lazy-group pattern: heavy subcommands (matplotlib, long validations) are
    imported only when invoked, so ``jobsim simulate`` starts fast."""

    LAZY = {
        "report": "jobsim.report.commands:report",
        "sweep": "jobsim.sweep.command:sweep",
        "validate": "jobsim.validate.command:validate",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.LAZY])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = self.LAZY.get(name)
        if target is None:
            return super().get_command(ctx, name)
        module, attr = target.split(":")
        return getattr(import_module(module), attr)

    def invoke(self, ctx: click.Context) -> Any:
        """Every subcommand runs inside the guard: one exit code per cause."""
        return guarded(lambda: super(_Commands, self).invoke(ctx))


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="jobsim")
def main() -> None:
    """Chaos simulation and property-based testing for background job systems."""


# ---- simulate ---------------------------------------------------------------------
def _load_warning(load: Callable[[str], Any], scenario: str) -> Any:
    """Load SCENARIO; each distinct warning (a sidekiq.yml key jobsim does not model) is
    one line on stderr. Warnings never change the exit code."""
    from jobsim.scenario.sidekiq_yml import SidekiqYmlWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SidekiqYmlWarning)
        loaded = load(scenario)
    ours = [w for w in caught if issubclass(w.category, SidekiqYmlWarning)]
    for message in dict.fromkeys(str(w.message) for w in ours):
        click.echo(f"jobsim: warning: {message}", err=True)
    for other in caught:
        if other not in ours:
            warnings.showwarning(other.message, other.category, other.filename, other.lineno)
    return loaded


@main.command()
@click.argument("scenario")
@click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
@click.option("--scale", type=float, default=1.0, show_default=True,
              help="Multiply every count and rate.")
@click.option("--variant", default=None, help="Run one variant instead of the base story.")
@click.option("--all-variants", is_flag=True, help="Run the base story and every variant.")
@click.option("--broker", default="memory", show_default=True,
              help="memory, fakeredis, or redis://HOST:PORT/DB")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default reports/<scenario>/).")
@click.option("--quiet", is_flag=True, help="No progress bar or tables.")
def simulate(scenario: str, seed: int | None, scale: float, variant: str | None,
             all_variants: bool, broker: str, out: Path | None, quiet: bool) -> None:
    """Run SCENARIO (a name under scenarios/ or a YAML path) and judge it."""
    from jobsim.broker import BrokerError
    from jobsim.report.compare import COMPARE_FILE
    from jobsim.scenario import ScenarioError
    from jobsim.scenario.output import run_folder
    from jobsim.scenario.runner import load
    from jobsim.scenario.staging import Staging, check_folder_name

    if variant and all_variants:
        fail_input("--variant and --all-variants are exclusive")
    if not math.isfinite(scale) or scale <= 0:
        fail_input(f"--scale: must be a finite number greater than 0, got {scale}")
    if broker not in ("memory", "fakeredis") and not broker.startswith(("redis://", "rediss://",
                                                                         "unix://")):
        fail_input(f"--broker: expected memory, fakeredis or a redis:// URL, got {broker!r}")
    try:
        base = _load_warning(load, scenario)
        names = [None, *base.variants] if all_variants else [variant]
        if variant is not None:
            base.with_variant(variant)
        if out is None:
            check_folder_name(base.name, f"{base.file}: name")
        root = out or Path("reports") / base.name
        target = root if variant is None else run_folder(root, variant)
        with Staging(target, lock_root=root, whole_set=all_variants) as staging:
            results = _run_all(base, names, staging.folder, variant, seed=seed,
                               broker=broker, scale=scale, quiet=quiet)
            if all_variants:
                _compare(staging.folder, results)
            staging.commit()
    except ScenarioError as exc:
        fail_scenario(exc)
    except BrokerError as exc:
        fail_input(f"--broker {broker}: {exc}")
    if not quiet:
        for metrics in results:
            _print_summary(metrics, _published(target, metrics, root))
        if all_variants:
            console.print(f"comparison: {root / COMPARE_FILE}")
    # Everything is written. Hide the run's millions of objects from the collector pass
    # that interpreter shutdown makes: about 0.8 s on black_friday, for nothing.
    gc.freeze()
    sys.exit(0 if all(verdict(m) for m in results) else 1)


def _run_all(base: Any, names: list[str | None], staged: Path, variant: str | None,
             **options: Any) -> list[dict[str, Any]]:
    """Run the base and/or variants, each into its folder under the staged folder."""
    from jobsim.scenario.output import HISTORY_FILE, run_folder, write_run
    from jobsim.scenario.runner import run_scenario

    quiet = options.pop("quiet")
    results = []
    for name in names:
        folder = staged if variant is not None else run_folder(staged, name)
        with _progress(quiet, base.name if name is None else f"{base.name}/{name}") as tick:
            result = run_scenario(base, variant=name, progress=tick,
                                  history_path=folder / HISTORY_FILE, **options)
        try:
            write_run(folder, result.metrics, result.history, result.charts)
        finally:
            if result.charts is not None:
                result.charts.cancel()
        results.append(result.metrics)
    return results


def _published(target: Path, metrics: dict[str, Any], root: Path) -> dict[str, Path]:
    """Where one run's files are now that its folder is in place."""
    from jobsim.scenario.output import artefact_paths

    variant = metrics.get("variant")
    folder = target if target != root or variant is None else root / variant
    return artefact_paths(folder)


@contextmanager
def _progress(quiet: bool, label: str) -> Iterator[Callable[[float, float], None] | None]:
    if quiet or not errors.is_terminal:
        yield None
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.completed:,.0f}/{task.total:,.0f} sim s"), TimeElapsedColumn())
    with Progress(*columns, console=errors, transient=True) as bar:
        tasks: list[TaskID] = []

        def tick(now: float, horizon: float) -> None:
            # The task is made at the first tick, when the horizon is known: a task
            # without a total cannot be rendered by the "completed/total" column.
            if not tasks:
                tasks.append(bar.add_task(label, total=horizon))
            bar.update(tasks[0], completed=now, total=horizon)

        yield tick


def _print_summary(metrics: dict[str, Any], paths: dict[str, Path]) -> None:
    title = metrics["scenario"] + (f" / {metrics['variant']}" if metrics.get("variant") else "")
    ok = verdict(metrics)
    console.rule(f"{title}: [{'green' if ok else 'red'}]{'PASS' if ok else 'FAIL'}")
    for heading, header, rows in sections(metrics):
        if not rows:
            continue
        table = Table(title=heading, title_justify="left")
        for column in header:
            table.add_column(column)
        for row in rows:
            table.add_row(*row, style=None if "FAIL" not in row else "red")
        console.print(table)
    console.print(f"sim {metrics['sim_seconds']:,.0f} s in {metrics['wall_seconds']:.2f} s wall;"
                  f" digest {metrics['history_digest']}")
    for name, path in paths.items():
        console.print(f"  {name}: {path}")


def _compare(root: Path, results: list[dict[str, Any]]) -> None:
    from jobsim.report.compare import write_comparison

    write_comparison(root, results)


# ---- list and check ---------------------------------------------------------------
@main.command(name="list")
def list_() -> None:
    """The built-in scenarios and the story each tells."""
    from jobsim.scenario.loader import list_scenarios
    from jobsim.scenario.runner import scenarios_dir

    for name, description in list_scenarios(scenarios_dir()):
        first = description.split(". ")[0].rstrip(".")
        console.print(f"[bold]{name:20}[/bold] {first}.", highlight=False)


@main.command()
@click.argument("history", type=click.Path(path_type=Path))
@click.option("--check", "names", multiple=True,
              help="Checks to run (default: those the run was configured with).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
def check(history: Path, names: tuple[str, ...], as_json: bool) -> None:
    """Re-run the checkers on a saved history.jsonl(.gz)."""
    from jobsim.checks.registry import NAMES, run_checks
    from jobsim.history.history import HistoryError, read_jsonl
    from jobsim.history.saved import verify_digest
    from jobsim.scenario.output import METRICS_FILE

    if not history.exists():
        fail_input(f"{history}: no such file")
    try:
        saved, digest = read_jsonl(history, strict=True)
        verify_digest(history, digest, history.parent / METRICS_FILE)
    except HistoryError as exc:
        fail_input(str(exc))
    config = next((e[3] for e in saved.events if e[1] == "config"), {}) or {}
    chosen = list(names) or config.get("checks") or list(NAMES)
    options = {"priority": {"latency_bounds": config.get("latency_bounds", {})}}
    try:
        results = run_checks(saved, chosen, {k: v for k, v in options.items() if k in chosen})
    except ValueError as exc:
        fail_input(f"--check: {exc}")
    if as_json:
        click.echo(json.dumps({n: r.to_dict() for n, r in results.items()}, indent=2))
    else:
        for result in results.values():
            style = "green" if result.ok else "red"
            console.print(f"[{style}]{result.summary()}[/{style}]", highlight=False)
            for example in result.examples[:3]:
                console.print(f"    {example}", highlight=False, markup=False)
    sys.exit(0 if all(r.ok for r in results.values()) else 1)


# ---- bench ------------------------------------------------------------------------
@main.command()
@click.argument("suites", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON object with every figure.")
@click.option("--quick", is_flag=True, help="Small sizes, for a smoke test.")
def bench(suites: tuple[str, ...], as_json: bool, quick: bool) -> None:
    """Benchmarks, as ratios to raw simpy speed measured in the same run."""
    from jobsim.bench import SUITES, run_suites

    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        fail_input(f"unknown benchmark {unknown[0]!r}; known: {', '.join(SUITES)}")
    results, text = run_suites(list(suites) or list(SUITES), quick=quick)
    if as_json and len(suites) == 1:     # one suite: its figures at the top level
        results = {"suite": suites[0], **results[suites[0]], "machine": results["machine"],
                   "quick": quick}
    click.echo(json.dumps(results, indent=2) if as_json else text)


if __name__ == "__main__":  # pragma: no cover
    main()
