"""``jobsim hunt``: a Hypothesis search for a run that breaks a property, sharded over
Dask workers.

Each shard is an independent Hypothesis search with its own seed (``@seed(base + k)``),
so shards explore different inputs; all of them read and write one directory-based
example database under ``--out`` (``examples/``), so a failure one shard saved is tried
first by the next hunt, and a rerun starts from every failure found before. On a
multi-machine cluster that folder must be on a filesystem the workers share.

What is drawn (``--search``):

- ``perturb``: the scenario as written with its seed, fault timings and scale perturbed
  (``jobsim.strategies.scenario_perturbations``);
- ``faults``: the scenario with its fault schedule replaced by one Hypothesis draws from
  the scenario's own fault kinds (``jobsim.strategies.fault_schedules``).

Hypothesis shrinks a failure before the shard returns it; the first shard to report one
wins, the others are cancelled. The shrunk scenario is written as YAML and reported with
the ``jobsim simulate`` command that replays it. Exit 1 when a counterexample was found,
0 when none was, 2 for bad input.
"""

from __future__ import annotations

import math
import shlex
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from jobsim.files import replace_file
from jobsim.guard import fail

SEARCHES = ("perturb", "faults")
EXAMPLES = "examples"


@dataclass(frozen=True)
class Shard:
    """One worker's search: plain data, so it pickles to any worker."""

    index: int
    seed: int
    examples: int
    source: str
    scenarios: str
    variant: str | None
    search: str
    prop: str
    scale: float
    database: str


def search_shard(shard: Shard) -> dict[str, Any]:
    """Run one Hypothesis search; the shrunk counterexample, if any, and the count."""
    from jobsim.scenario.notes import silenced

    with silenced():            # the hunt command said the file's notes when it loaded it
        return _search(shard)


def _search(shard: Shard) -> dict[str, Any]:
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis.database import DirectoryBasedExampleDatabase
    from hypothesis.errors import HypothesisDeprecationWarning

    from jobsim.scenario.runner import run_scenario
    from jobsim.strategies import validate
    from jobsim.sweep.properties import get

    prop = get(shard.prop)
    found: dict[str, Any] = {}
    ran = [0]

    # @settings outside @seed: @seed alone switches the example database off, and the
    # shards must share theirs.
    @settings(max_examples=shard.examples, deadline=None, derandomize=False,
              database=DirectoryBasedExampleDatabase(shard.database), print_blob=False,
              suppress_health_check=list(HealthCheck),
              phases=[p for p in Phase if p is not Phase.explain])
    @seed(shard.seed)
    @given(_strategy(shard))
    def holds(doc: dict[str, Any]) -> None:
        ran[0] += 1
        scenario = validate(_with_check(doc, prop.needs_check))
        result = run_scenario(scenario, scale=_scale(shard))
        broken = prop.broken(result)
        if broken:
            found.clear()
            found.update(doc=doc, broken=broken, scale=_scale(shard))  # the last is shrunk
            raise AssertionError("; ".join(broken))

    try:
        with warnings.catch_warnings():
            # The Dask worker's own threads draw from the global random module while a
            # run is under way; Hypothesis would blame the strategy for it.
            warnings.simplefilter("ignore", HypothesisDeprecationWarning)
            holds()
    except AssertionError:
        return {"shard": shard.index, "examples": ran[0], "failure": found}
    return {"shard": shard.index, "examples": ran[0], "failure": None}


def _scale(shard: Shard) -> float:
    """``perturb`` draws the scale into the document; ``faults`` runs at --scale."""
    return shard.scale if shard.search == "faults" else 1.0


def _strategy(shard: Shard) -> Any:
    from jobsim import strategies as js
    from jobsim.chaos.faults import ALIASES
    from jobsim.scenario.loader import resolve
    from jobsim.scenario.references import service_names
    from jobsim.scenario.runner import load

    if shard.search == "perturb":
        return js.scenario_perturbations(shard.source, variant=shard.variant,
                                         search_dir=Path(shard.scenarios))
    doc = js.scenario_document(shard.source, shard.variant, Path(shard.scenarios))
    # Targets come from the scenario as loaded (its own world, queues and processes,
    # a sidekiq.yml's included), never from the demo shop's.
    scenario = load(resolve(shard.source, Path(shard.scenarios)), shard.variant)
    services = service_names(scenario)
    kinds = sorted({ALIASES.get(f["type"], f["type"]) for f in doc.get("faults") or []}
                   ) or [k for k in js.ALL if services or not js.needs_service(k)]
    schedules = js.fault_schedules(
        max(2, int(scenario.duration)), kinds=kinds, processes=scenario.system.processes,
        services=services, queues=scenario.system.queue_names,
        replicas=scenario.world.database.replicas)
    return schedules.map(lambda faults: {**doc, "faults": faults})


def _with_check(doc: dict[str, Any], check: str | None) -> dict[str, Any]:
    checks = list(doc.get("checks") or [])
    if check is None or check in checks:
        return doc
    return {**doc, "checks": [*checks, check]}


@click.command()
@click.argument("scenario")
@click.option("--property", "prop", required=True, help="What must hold (see docs/sweeps.md).")
@click.option("--examples", type=int, default=100, show_default=True,
              help="Examples in all, split over the shards.")
@click.option("--shards", type=int, default=None,
              help="Independent searches (default: one per worker).")
@click.option("--search", type=click.Choice(SEARCHES), default="perturb", show_default=True,
              help="Perturb the scenario, or draw its fault schedule.")
@click.option("--variant", default=None, help="Hunt in this variant of the story.")
@click.option("--scale", type=float, default=0.05, show_default=True,
              help="Scale of each run (--search faults; perturb draws its own).")
@click.option("--seed", "base_seed", type=int, default=0, show_default=True,
              help="Shard k searches with Hypothesis seed SEED + k.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="An existing Dask scheduler (default: a local cluster).")
@click.option("--workers", type=int, default=None, help="Local worker processes.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default reports/hunts/<scenario>-<property>/).")
def hunt(scenario: str, prop: str, examples: int, shards: int | None, search: str,
         variant: str | None, scale: float, base_seed: int, scheduler: str | None,
         workers: int | None, out: Path | None) -> None:
    """Search for a run of SCENARIO that breaks --property, sharded over Dask workers."""
    from jobsim.scenario.notes import reported
    from jobsim.scenario.runner import load, scenarios_dir
    from jobsim.sweep.engine import open_engine
    from jobsim.sweep.properties import get

    try:
        get(prop)
    except ValueError as exc:
        fail(f"--property: {exc}")
    if examples < 1 or (shards is not None and shards < 1) or scale <= 0:
        fail("--examples and --shards must be >= 1 and --scale positive")
    with reported():                             # each sidekiq.yml note once, here
        base = load(scenario, variant)           # bad scenario or variant: exit 2
    folder = out or Path("reports") / "hunts" / f"{base.name}-{prop}"
    database = folder / EXAMPLES
    database.mkdir(parents=True, exist_ok=True)
    with open_engine(scheduler, workers) as engine:
        count = shards or engine.workers
        per = math.ceil(examples / count)
        plan = [Shard(k, base_seed + k, per, scenario, str(scenarios_dir()), variant,
                      search, prop, scale, str(database.resolve())) for k in range(count)]
        total, failure = 0, None
        for _, result in engine.run(search_shard, plan):
            total += result["examples"]
            if result["failure"]:
                failure = result["failure"]
                break
    if failure is None:
        click.echo(f"{base.name}: {prop} held in {total} examples over {count} shard(s)")
        sys.exit(0)
    _report(folder, base.name, prop, failure)
    sys.exit(1)


def _report(folder: Path, name: str, prop: str, failure: dict[str, Any]) -> None:
    import yaml

    path = folder / "failing" / f"{name}-{prop}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, yaml.safe_dump(failure["doc"], sort_keys=False).encode())
    words = ["jobsim", "simulate", str(path), "--seed", str(failure["doc"].get("seed", 0))]
    if failure["scale"] != 1.0:
        words += ["--scale", f"{failure['scale']:g}"]
    click.echo(f"{name}: {prop} broken (shrunk counterexample):")
    for line in failure["broken"]:
        click.echo(f"  {line}")
    click.echo(f"  scenario: {path}")
    click.echo(f"  replay: {shlex.join(words)}")
