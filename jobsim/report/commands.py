"""``jobsim report ...``: the report subcommands (loaded lazily by jobsim.cli).

This module must import fast: matplotlib, jinja2 and the report modules are imported
inside the commands. Bad input exits 2 with one line naming the option, as the rest of
the CLI does.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import click

from jobsim.guard import fail

DEFAULT_JOBS = 1000
DEFAULT_RECOVER = "10m"
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|min|m|h|d)?\s*$")


def duration(text: str, option: str) -> float:
    """``90``, ``30s``, ``10m``, ``1.5h``, ``2d`` -> seconds."""
    match = _DURATION.match(text)
    if not match:
        fail(f"{option}: {text!r} is not a duration (e.g. 30s, 10m, 2h, 1d)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def client_counts(text: str) -> list[int]:
    """``10..100`` (step 10), ``10..100:5`` or ``10,20,50`` -> ascending client counts."""
    try:
        if ".." in text:
            span, _, step = text.partition(":")
            low, high = (int(v) for v in span.split(".."))
            values = list(range(low, high + 1, int(step or 10)))
        else:
            values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        fail(f"--clients: {text!r} is not LOW..HIGH[:STEP] or a comma list")
    if not values or min(values) < 1:
        fail(f"--clients: {text!r} must name at least one count >= 1")
    return sorted(set(values))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def report() -> None:
    """Reports: retry policies side by side, backoff under contention, run reports."""


# ---- retries ------------------------------------------------------------------------
@report.command()
@click.option("--policy", "policies", multiple=True,
              help="A backoff spec (repeatable), e.g. exponential:jitter=full,base=1,cap=600.")
@click.option("--scenario", default=None,
              help="Take the policies from a scenario's workload and its saved history.")
@click.option("--history", "history_path", type=click.Path(path_type=Path), default=None,
              help="History to measure (default reports/<scenario>/history.jsonl.gz).")
@click.option("--jobs", type=int, default=DEFAULT_JOBS, show_default=True,
              help="Jobs failing together at t=0.")
@click.option("--recover", default=DEFAULT_RECOVER, show_default=True,
              help="When the service recovers (30s, 10m, 2h, ...).")
@click.option("--retries", type=int, default=25, show_default=True, help="Retries per job.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports/retries"),
              show_default=True)
@click.option("--force", is_flag=True, help="Replace a report already in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics document as JSON.")
def retries(policies: tuple[str, ...], scenario: str | None, history_path: Path | None,
            jobs: int, recover: str, retries: int, seed: int, out: Path, force: bool,
            as_json: bool) -> None:
    """Compare retry policies on N jobs that fail together against a recovering service."""
    from jobsim import backoff
    from jobsim.report import retries as model

    if jobs < 1 or retries < 1:
        fail("--jobs and --retries must be >= 1")
    refuse_overwrite(out, force)
    recover_s = duration(recover, "--recover")
    specs, source, measured = list(policies), "", None
    if scenario is not None:
        found, source, measured = _from_scenario(scenario, history_path)
        specs = list(dict.fromkeys([*found, *specs]))
    specs = specs or list(model.DEFAULT_POLICIES)
    for spec in specs:
        try:
            backoff.parse(spec)
        except ValueError as exc:
            fail(f"--policy: {exc}")
    too_big = model.draws_refusal(jobs, retries, len(specs))
    if too_big:
        fail(too_big)
    doc = model.write_report(out, specs, jobs, recover_s, seed, retries, measured, source)
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    header, rows = model.table(doc["policies"])
    _print_table("Retry policies side by side", header, rows)
    click.echo(f"report: {out / 'report.html'}")


def refuse_overwrite(out: Path, force: bool) -> None:
    """A report already in ``out`` is replaced only when asked (``--force``)."""
    existing = out / "report.html"
    if existing.exists() and not force:
        fail(f"--out {out}: already holds a report ({existing}); pass --force to replace "
             "it or choose another --out")


def _from_scenario(name: str, history_path: Path | None) -> tuple[list[str], str, Any]:
    """Policies in the scenario's workload (plus those its history recorded). The file
    is read as the loader reads it (safely, every problem at its line) but not held to
    a whole scenario: only the workload's ``backoff`` and ``jitter`` are wanted, and a
    scenario of Python jobs would need its ``--import`` to load."""
    from jobsim.history.history import History, HistoryError
    from jobsim.report.retries import from_history
    from jobsim.scenario import ScenarioError
    from jobsim.scenario.loader import read_document

    path = _scenario_file(name)
    try:
        data = read_document(path)
    except ScenarioError as exc:
        fail(f"--scenario: {exc}")
    workload = data.get("workload")
    specs = []
    for entry in workload if isinstance(workload, list) else []:
        if isinstance(entry, dict) and (entry.get("backoff") or entry.get("jitter")):
            spec = str(entry.get("backoff") or "sidekiq")
            if entry.get("jitter"):
                spec += f"{',' if ':' in spec else ':'}j={entry['jitter']}"
            specs.append(spec)
    history_path = history_path or Path("reports") / str(data.get("name", name)) / \
        "history.jsonl.gz"
    measured, source = None, f"scenario {data.get('name', name)} ({path})"
    if history_path.exists():
        try:
            measured = from_history(History.from_jsonl(history_path))
        except (HistoryError, OSError, EOFError) as exc:
            fail(f"--history: {history_path}: {exc}")
        specs += list(measured["delays"])
        source += f" and its history {history_path}"
    return list(dict.fromkeys(specs)) or ["sidekiq"], source, measured


def _scenario_file(name: str) -> Path:
    candidates = [Path(name)]
    dirs = [os.environ.get("JOBSIM_SCENARIOS"), "scenarios",
            str(Path(__file__).resolve().parents[2] / "scenarios")]
    candidates += [Path(d) / f"{name}.yaml" for d in dirs if d]
    for path in candidates:
        if path.is_file():
            return path
    fail(f"--scenario: no scenario {name!r} (looked in {', '.join(d for d in dirs if d)})")


# ---- backoff-contention ---------------------------------------------------------------
@report.command("backoff-contention")
@click.option("--clients", default="10..100:10", show_default=True,
              help="Client counts: LOW..HIGH[:STEP] or a comma list.")
@click.option("--reps", type=int, default=10, show_default=True,
              help="Seeded trials averaged per point.")
@click.option("--seed", type=int, default=2015, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports/contention"),
              show_default=True)
@click.option("--force", is_flag=True, help="Replace a report already in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics document as JSON.")
def backoff_contention(clients: str, reps: int, seed: int, out: Path, force: bool,
                       as_json: bool) -> None:
    """The AWS 2015 contention experiment; exit 0 when the published ordering holds."""
    from jobsim.report import contention

    if reps < 1:
        fail("--reps must be >= 1")
    refuse_overwrite(out, force)
    doc = contention.write_report(out, client_counts(clients), reps, seed)
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        sys.exit(0 if doc["reproduced"] else 1)
    rows = contention.table(doc)[1]
    half = 1 + len(contention.PUBLISHED_ORDER)
    _print_table("Mean calls to the row", ["N", *contention.PUBLISHED_ORDER],
                 [r[:half] for r in rows])
    _print_table("Mean completion time (s)", ["N", *contention.PUBLISHED_ORDER],
                 [[r[0], *r[half:]] for r in rows])
    for rule in doc["verdict"]:
        click.echo(f"  {'PASS' if rule['ok'] else 'FAIL'} {rule['rule']}: {rule['measured']}")
    click.echo(f"published ordering: {'REPRODUCED' if doc['reproduced'] else 'NOT REPRODUCED'}")
    click.echo(f"report: {out / 'report.html'}")
    sys.exit(0 if doc["reproduced"] else 1)


# ---- run -------------------------------------------------------------------------------
@report.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="Print the run's metrics document and the report's path as JSON.")
def run(folder: Path, as_json: bool) -> None:
    """(Re)write FOLDER/report.html from a saved run's metrics.json and history."""
    from jobsim.history.history import History, HistoryError
    from jobsim.report.html import write_run_report

    try:
        metrics = json.loads((folder / "metrics.json").read_text())
        history = History.from_jsonl(folder / "history.jsonl.gz")
    except (OSError, ValueError, HistoryError, EOFError) as exc:
        fail(f"{folder}: {exc}")
    path = write_run_report(folder, metrics, history)
    if as_json:
        click.echo(json.dumps({"report": str(path), "metrics": metrics}, indent=2))
        return
    click.echo(f"report: {path}")


def _print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    from jobsim.report.text_table import render

    click.echo(render(title, header, rows))
