"""``jobsim hunt``: sharded Hypothesis searches sharing one example database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from jobsim.cli import main
from jobsim.scenario.runner import run_scenario, scenarios_dir
from jobsim.strategies import validate
from jobsim.sweep.hunt import Shard, search_shard
from jobsim.sweep.properties import PROPERTIES


def _shard(tiny: Path, db: Path, variant: str | None, seed: int = 0, examples: int = 8
           ) -> Shard:
    return Shard(0, seed, examples, str(tiny), str(scenarios_dir()), variant, "faults",
                 "no_loss", 1.0, str(db))


def test_a_shrunk_counterexample_that_replays(tiny: Path, tmp_path: Path) -> None:
    found = search_shard(_shard(tiny, tmp_path / "db", "basic"))
    failure = found["failure"]
    assert failure, "basic fetch under worker crashes must lose a job"
    # shrunk: one crash of one process, as early, short and mild as the search allows
    assert len(failure["doc"]["faults"]) == 1
    assert failure["doc"]["faults"][0]["type"] == "worker_crash"
    replayed = run_scenario(validate(failure["doc"]))
    assert not replayed.checks["no_loss"].ok
    assert replayed.metrics["jobs"]["lost"] >= 1


def test_negative_control_reliable_fetch_holds(tiny: Path, tmp_path: Path) -> None:
    """The same search with the safeguard on (reliable fetch) finds nothing."""
    found = search_shard(_shard(tiny, tmp_path / "db", None, examples=6))
    assert found["failure"] is None and found["examples"] >= 6


def test_shards_share_the_example_database(tiny: Path, tmp_path: Path) -> None:
    first = search_shard(_shard(tiny, tmp_path / "db", "basic", seed=0))
    assert first["failure"] and any((tmp_path / "db").iterdir())
    second = search_shard(_shard(tiny, tmp_path / "db", "basic", seed=99))
    assert second["failure"]["doc"] == first["failure"]["doc"]
    assert second["examples"] <= 2           # replayed from the database, not searched


def test_hunt_command_on_a_local_cluster(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "hunt"
    result = CliRunner().invoke(main, [
        "hunt", str(tiny), "--property", "no_loss", "--variant", "basic", "--search",
        "faults", "--scale", "1", "--examples", "12", "--workers", "2", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "no_loss broken" in result.output and "replay: jobsim simulate" in result.output
    saved = yaml.safe_load((out / "failing" / "tiny-no_loss.yaml").read_text())
    assert saved["faults"][0]["type"] == "worker_crash"


def test_bad_property_is_input_error(tiny: Path) -> None:
    result = CliRunner().invoke(main, ["hunt", str(tiny), "--property", "no_lost"])
    assert result.exit_code == 2
    assert "did you mean 'no_loss'" in result.output
    assert {"checks", "expectations", "verdict", "no_loss"} <= set(PROPERTIES)


OWN_SYSTEM = """\
description: payments of a system that is not the shop
duration: 1m
system: {sidekiq_yml: config/sidekiq.yml, processes: 2, fetch: basic}
world:
  services: {card_processor: {latency: 50ms}}
jobs:
  Charge:
    queue: payments
    perform: [{call: {service: card_processor, op: charge, key: "c:{id}", effect: true}}]
workload: [{job: Charge, count: 20, spread: 30s, args: {id: "{n}"}}]
faults:
  - {type: outage, target: card_processor, start: 10s, duration: 5s}
  - {type: worker_crash, target: p1, start: 20s}
checks: [no_loss]
"""


def test_faults_are_drawn_for_the_scenarios_own_world(tmp_path: Path,
                                                      monkeypatch: Any) -> None:
    """A fault alias (outage), the scenario's own services and a sidekiq.yml next to the
    file: the search draws targets from that world, and its counterexample replays from
    another folder. Before, it crashed on the alias, targeted the shop's 'payment' and
    looked for config/sidekiq.yml in the working directory."""
    (tmp_path / "app" / "config").mkdir(parents=True)
    (tmp_path / "app" / "config" / "sidekiq.yml").write_text(
        ":concurrency: 2\n:queues:\n  - payments\n")
    source = tmp_path / "app" / "payments.yaml"
    source.write_text(OWN_SYSTEM)
    monkeypatch.chdir(tmp_path)                  # not the scenario's folder
    found = search_shard(Shard(0, 0, 30, str(source), str(scenarios_dir()), None, "faults",
                               "no_loss", 1.0, str(tmp_path / "db")))
    failure = found["failure"]
    assert failure, "basic fetch under worker crashes must lose a job"
    targets = {f.get("target") for f in failure["doc"]["faults"]} - {None}
    assert targets <= {"card_processor", "p0", "p1", "random", "all"}
    replayed = run_scenario(validate(failure["doc"]))
    assert not replayed.checks["no_loss"].ok
    assert replayed.scenario.system.queue_names == ("payments",)   # from the sidekiq.yml
