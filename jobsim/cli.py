"""The ``jobsim`` command. Exit codes (``jobsim.guard``): 0 every check and expectation
held; 1 something failed (the summary says what); 2 bad input or usage: one message naming
the file, the field and the reason, never a traceback; 3 a bug in jobsim; 130 Ctrl-C."""

from __future__ import annotations

import dataclasses
import gc
import json
import math
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from jobsim import __version__
from jobsim.checks.verdicts import GOOD, combine, exit_code
from jobsim.guard import fail, guarded
from jobsim.report.summary import sections, story_line, threads_text

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


class _LazyConsole:
    """A rich Console made on first use. Importing rich costs about a third of start-up,
    so ``jobsim --version``, ``--help`` and ``--quiet`` runs never pay for it."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return getattr(self._console, name)


console: Any = _LazyConsole()
errors: Any = _LazyConsole(stderr=True)


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
        "hunt": "jobsim.sweep.hunt:hunt",
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
@click.version_option(__version__, package_name="jobsim")
def main() -> None:
    """Chaos simulation and property-based testing for background job systems."""


# ---- simulate ---------------------------------------------------------------------
def _load_warning(load: Callable[[str], Any], scenario: str) -> Any:
    """Load SCENARIO; each distinct warning (a sidekiq.yml key jobsim does not model) is
    one line on stderr. Warnings never change the exit code."""
    from jobsim.scenario.notes import reported

    with reported():
        return load(scenario)


@main.command()
@click.argument("scenario")
@click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
@click.option("--scale", type=float, default=1.0, show_default=True,
              help="Multiply every count and rate (and the worker threads, when the "
                   "scenario says scale: {threads: true}).")
@click.option("--variant", default=None, help="Run one variant instead of the base story.")
@click.option("--all-variants", is_flag=True, help="Run the base story and every variant.")
@click.option("--broker", default="memory", show_default=True,
              help="memory, fakeredis, or redis://HOST:PORT/DB")
@click.option("--flush", is_flag=True,
              help="Empty the --broker Redis database first (FLUSHDB). Without it a run "
                   "touches only its own keys.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default reports/<scenario>/).")
@click.option("--quiet", is_flag=True, help="Print only the one-line verdict.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the metrics document as JSON on stdout (a list of runs, base "
                   "first, with --all-variants).")
@click.option("--allow-large", is_flag=True,
              help="Run even when the estimated jobs, steps or memory exceed the caps.")
@click.option("--import", "imports", multiple=True, metavar="MODULE",
              help="Make the Job classes MODULE defines available by name (repeatable; "
                   "a dotted module importable from the current directory, or a .py file).")
def simulate(scenario: str, seed: int | None, scale: float, variant: str | None,
             all_variants: bool, broker: str, flush: bool, out: Path | None, quiet: bool,
             as_json: bool, allow_large: bool, imports: tuple[str, ...]) -> None:
    """Run SCENARIO (a name under scenarios/ or a YAML path) and judge it."""
    from jobsim.broker import BrokerError, url
    from jobsim.report.compare import COMPARE_FILE
    from jobsim.scenario import ScenarioError
    from jobsim.scenario.budget import check_budget
    from jobsim.scenario.jobs import import_library
    from jobsim.scenario.output import run_folder
    from jobsim.scenario.runner import load
    from jobsim.scenario.staging import Staging, check_folder_name
    from jobsim.system.library import ImportFailed

    if variant and all_variants:
        fail_input("--variant and --all-variants are exclusive")
    if not math.isfinite(scale) or scale <= 0:
        fail_input(f"--scale: must be a finite number greater than 0, got {scale}")
    if seed is not None and seed < 0:       # as a file's seed: (and sweep's --seeds)
        fail_input(f"--seed: must be an integer >= 0, got {seed}")
    try:
        url.parse(broker)
    except BrokerError as exc:
        fail_input(f"--broker: {exc}")
    if flush and url.parse(broker) is None:
        fail_input("--flush: only for a Redis --broker URL")
    try:
        library = import_library(imports)
    except ImportFailed as exc:
        fail_input(f"--import: {exc}")
    try:
        base = _load_warning(lambda name: load(name, jobs=library, scale=scale), scenario)
        names = [None, *base.variants] if all_variants else [variant]
        for name in names:                   # every run is sized before the first starts
            check_budget(base.with_variant(name).scaled(scale), allow_large=allow_large)
        if out is None:
            check_folder_name(base.name, f"{base.file}: name")
        root = out or Path("reports") / base.name
        target = root if variant is None else run_folder(root, variant)
        with Staging(target, lock_root=root, whole_set=all_variants) as staging:
            results = _run_all(base, names, staging.folder, variant, seed=seed,
                               broker=broker, flush=flush, scale=scale,
                               quiet=quiet or as_json)
            if all_variants:
                _compare(staging.folder, results)
            staging.commit()
    except ScenarioError as exc:
        fail_scenario(exc)
    except BrokerError as exc:
        fail_input(f"--broker: {exc}")
    written = [_published(target, metrics, root) for metrics in results]
    _report(results, written, root / COMPARE_FILE if all_variants else None,
            quiet=quiet, as_json=as_json)
    # Everything is written. Hide the run's millions of objects from the collector pass
    # that interpreter shutdown makes: about 0.8 s on black_friday, for nothing.
    gc.freeze()
    sys.exit(exit_code(combine([m["verdict"] for m in results])))


def _report(results: list[dict[str, Any]], written: list[dict[str, Path]],
            compared: Path | None, *, quiet: bool, as_json: bool) -> None:
    """What simulate prints on stdout: the metrics as JSON, the one-line verdict, or the
    story line first and then each run's tables."""
    if as_json:
        click.echo(json.dumps(results[0] if len(results) == 1 else results, indent=2))
        return
    if quiet:
        click.echo(verdict_line(results))
        return
    line = story_line(results)
    if line:
        console.print(f"[bold]{results[0]['story']['question']}[/bold] {line}", soft_wrap=True,
                      highlight=False)
    for metrics, paths in zip(results, written, strict=True):
        _print_summary(metrics, paths)
    if compared is not None:
        console.print(f"comparison: {compared}")
    if len(results) > 1:      # never wrapped: scripts and people read it as one line
        console.print(verdict_line(results), highlight=False, soft_wrap=True)


def verdict_line(results: list[dict[str, Any]]) -> str:
    """One line: the scenario, its overall verdict and, for several runs, each run's."""
    scenario = results[0]["scenario"]
    overall = combine([m["verdict"] for m in results])
    if len(results) == 1:
        name = scenario + (f"/{results[0]['variant']}" if results[0].get("variant") else "")
        return f"{name}: {overall}"
    each = ", ".join(f"{m['verdict']} ({m.get('variant') or 'base'})" for m in results)
    return f"{scenario}: {overall}: {each}"


def _run_all(base: Any, names: list[str | None], staged: Path, variant: str | None,
             **options: Any) -> list[dict[str, Any]]:
    """Run the base and/or variants, each into its folder under the staged folder."""
    from jobsim.scenario.output import HISTORY_FILE, run_folder, write_run
    from jobsim.scenario.runner import run_scenario

    quiet = options.pop("quiet")
    results = []
    for number, name in enumerate(names, start=1):
        folder = staged if variant is not None else run_folder(staged, name)
        label = base.name if name is None else f"{base.name}/{name}"
        if len(names) > 1:
            label += f" (variant {number} of {len(names)})"
        with _progress(quiet, label) as bar:
            tick = bar.tick if bar.progress is not None else None   # hidden: no ticks
            result = run_scenario(base, variant=name, progress=tick, phase=bar.phase,
                                  history_path=folder / HISTORY_FILE, **options)
            bar.phase("writing report")
            try:
                write_run(folder, result.metrics, result.history, result.charts,
                          result.tables)
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


class _Bar:
    """The progress callbacks handed to the runner; no-ops when nothing is shown."""

    def __init__(self, progress: Progress | None = None, label: str = "") -> None:
        self.progress, self.label = progress, label
        self.task: TaskID | None = None

    def tick(self, now: float, horizon: float) -> None:
        if self.progress is None:
            return
        # The task is made at the first tick, when the horizon is known.
        if self.task is None:
            self.task = self.progress.add_task(self.label, total=horizon, phase="simulating")
        self.progress.update(self.task, completed=now, total=horizon)

    def phase(self, name: str) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, phase=name)
            self.progress.refresh()


def hmm(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


@contextmanager
def _progress(hidden: bool, label: str) -> Iterator[_Bar]:
    if hidden or not errors.is_terminal:
        yield _Bar()
        return
    from rich.progress import (
        BarColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class SimTime(ProgressColumn):
        """Simulated time as h:mm of the total, e.g. "0:45/2:10 sim"."""

        def render(self, task: Task) -> Text:
            return Text(f"{hmm(task.completed)}/{hmm(task.total or 0)} sim")

    columns = (TextColumn("[bold]{task.description}"), BarColumn(bar_width=24), SimTime(),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
               TextColumn("{task.fields[phase]}"))
    with Progress(*columns, console=errors, transient=True) as bar:
        yield _Bar(bar, label)


def _print_summary(metrics: dict[str, Any], paths: dict[str, Path]) -> None:
    title = metrics["scenario"] + (f" / {metrics['variant']}" if metrics.get("variant") else "")
    word = metrics["verdict"]
    console.rule(f"{title}: [{'green' if word in GOOD else 'red'}]{word}")
    if metrics.get("description"):
        console.print(" ".join(metrics["description"].split()), highlight=False)
    if metrics.get("scale", 1.0) != 1.0:      # what --scale made of the system, stated
        console.print(f"  scale {metrics['scale']:g}: {threads_text(metrics)}", highlight=False)
    for fault in metrics.get("faults") or []:
        console.print(f"  fault: {fault}", highlight=False)
    for heading, header, rows in sections(metrics):
        if not rows:
            continue
        from rich.table import Table

        table = Table(title=heading, title_justify="left")
        for column in header:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*row, style="red" if {"FAIL", "NOT REPRODUCED"} & set(row) else None)
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
@click.argument("folder", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the scenarios as JSON.")
def list_(folder: Path | None, as_json: bool) -> None:
    """The built-in scenarios (or FOLDER's): each one's story, jobs and variants."""
    from jobsim.scenario.listing import entries
    from jobsim.scenario.runner import load, scenarios_dir

    if folder is not None and not folder.is_dir():
        fail_input(f"{folder}: no such folder")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # sidekiq.yml notes are for simulate
        listed = entries(folder or scenarios_dir(), load)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(e) for e in listed], indent=2))
        return
    for entry in listed:
        click.echo(entry.render())


@main.command()
@click.argument("history", type=click.Path(path_type=Path))
@click.option("--check", "names", multiple=True,
              help="A check to run, with options as NAME:KEY=VALUE,KEY=VALUE (default: the "
                   "checks the run was configured with).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
def check(history: Path, names: tuple[str, ...], as_json: bool) -> None:
    """Re-run the checkers on a saved history.jsonl(.gz)."""
    from jobsim.checks.options import OptionError
    from jobsim.checks.registry import NAMES, config_of, run_checks, validate_options
    from jobsim.history.history import HistoryError, read_jsonl
    from jobsim.history.saved import verify_digest
    from jobsim.scenario.errors import unknown
    from jobsim.scenario.output import METRICS_FILE

    try:                               # a typo fails before the history is read
        chosen, options = _check_specs(names)
        for name in chosen:
            if name not in NAMES:
                fail_input(f"--check: {unknown('check', name, NAMES)}")
        for name, opts in options.items():
            validate_options(name, opts)
    except OptionError as exc:
        fail_input(f"--check: {exc}")
    if not history.exists():
        fail_input(f"{history}: no such file")
    try:
        saved, digest = read_jsonl(history, strict=True)
        verify_digest(history, digest, history.parent / METRICS_FILE)
    except HistoryError as exc:
        fail_input(str(exc))
    config = config_of(saved)
    try:
        chosen = chosen or config.get("checks") or list(NAMES)
        results = run_checks(saved, chosen, options, config)
    except OptionError as exc:
        fail_input(f"--check: {exc}")
    if as_json:
        click.echo(json.dumps({n: r.to_dict() for n, r in results.items()}, indent=2))
    else:
        for result in results.values():
            style = "green" if result.ok else "red"
            console.print(f"[{style}]{result.summary()}[/{style}]", highlight=False)
            for example in result.examples[:3]:
                console.print(f"    {example}", highlight=False, markup=False)
        held = all(r.ok for r in results.values())
        console.print(f"{history}: {'PASS' if held else 'FAIL'}", highlight=False,
                      markup=False)
    sys.exit(0 if all(r.ok for r in results.values()) else 1)


def _check_specs(specs: tuple[str, ...]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """``priority:alpha=0.01,latency_bounds.critical=5`` -> names and options per name."""
    from jobsim.checks.options import OptionError, parse_value

    names: list[str] = []
    options: dict[str, dict[str, Any]] = {}
    for spec in specs:
        name, _, rest = spec.partition(":")
        names.append(name)
        for pair in filter(None, rest.split(",")):
            key, eq, value = pair.partition("=")
            if not eq or not key:
                raise OptionError(f"{spec!r}: expected NAME:KEY=VALUE[,KEY=VALUE], got {pair!r}")
            head, _, sub = key.partition(".")
            opts = options.setdefault(name, {})
            if sub:
                opts.setdefault(head, {})[sub] = parse_value(value)
            else:
                opts[key] = parse_value(value)
    return names, options


# ---- schema -----------------------------------------------------------------------
@main.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (for editors; see docs/scenarios.md)."""
    from jobsim.scenario.json_schema import text
    from jobsim.scenario.runner import known_registries, scenarios_dir

    click.echo(text(known_registries(), sorted(scenarios_dir().glob("*.yaml"))), nl=False)


# ---- bench ------------------------------------------------------------------------
@main.command()
@click.argument("suites", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON object with every figure.")
@click.option("--quick", is_flag=True, help="Small sizes, for a smoke test.")
def bench(suites: tuple[str, ...], as_json: bool, quick: bool) -> None:
    """Benchmarks, as ratios to raw simpy speed measured in the same run."""
    from jobsim.bench import DEFAULT, SUITES, run_suites

    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        fail_input(f"unknown benchmark {unknown[0]!r}; known: {', '.join(SUITES)}")
    results, text = run_suites(list(suites) or DEFAULT, quick=quick)
    if as_json and len(suites) == 1:     # one suite: its figures at the top level
        results = {"suite": suites[0], **results[suites[0]], "machine": results["machine"],
                   "quick": quick}
    click.echo(json.dumps(results, indent=2) if as_json else text)


if __name__ == "__main__":  # pragma: no cover
    main()
