"""Sidekiq 7 capsules: more threads per process, each capsule with its own queue list.

Outcomes, not mechanisms: a capsule's queue is served while the default capsule is
saturated (and starves without the capsule: the negative control), the priority checker
judges each capsule's own order (and flags the same history judged as one queue list),
and the loader refuses what Sidekiq's CLI could not run.
"""

from __future__ import annotations

from typing import Any

import pytest

from jobsim.checks import priority
from jobsim.history.history import History
from jobsim.scenario.errors import ScenarioError
from jobsim.scenario.runner import run_scenario
from jobsim.validate.runs import scenario


def document(capsules: dict[str, Any] | None, *, default: list[Any] | None = None,
             bounds: dict[str, str] | None = None) -> dict[str, Any]:
    """Two processes whose 2 default threads are swamped by ``critical`` (strict order
    puts ``reports`` behind it), plus whatever capsules are given."""
    system: dict[str, Any] = {"processes": 2, "concurrency": 2,
                              "queues": default or ["critical", "reports"]}
    if capsules is not None:
        system["capsules"] = capsules
    return {
        "name": "capsules", "description": "capsules", "duration": "5m", "drain": "0s",
        "system": system,
        "workload": [{"job": "SyntheticJob", "rate": "8/s", "queue": "critical"},
                     {"job": "SyntheticJob", "rate": "1/s", "queue": "reports"}],
        "latency_bounds": bounds or {"reports": "30s"},
        "checks": ["priority"],
    }


REPORTS = {"reports": {"concurrency": 1, "queues": ["reports"]}}


def test_a_capsule_serves_its_queue_while_the_default_threads_are_swamped() -> None:
    result = run_scenario(scenario(document(REPORTS)), seed=3)
    verdict = result.checks["priority"]
    assert verdict.ok, verdict.examples
    reports = verdict.stats["queues"]["reports"]
    assert reports["fetched"] > 200
    assert reports["latency_max_s"] < 30


def test_without_the_capsule_the_same_queue_starves() -> None:
    """Negative control: the bound the capsule keeps is broken when it is gone."""
    result = run_scenario(scenario(document(None)), seed=3)
    verdict = result.checks["priority"]
    assert not verdict.ok
    assert verdict.stats["latency_violations"] > 0


def test_every_process_runs_the_capsule_threads_too() -> None:
    result = run_scenario(scenario(document(REPORTS)), seed=3)
    workers = {ev[4] for ev in result.history.events
               if ev[1] == "start" and ev[3] == "reports"}
    assert len(workers) == 2          # both processes' capsule threads fetched
    config = next(ev[3] for ev in result.history.events if ev[1] == "config")
    assert config["capsules"] == [{"name": "reports", "concurrency": 1,
                                   "queues": [["reports", 1]], "mode": "strict"}]


def test_a_queue_shared_with_a_capsule_is_not_a_strict_violation() -> None:
    """The capsule fetches ``reports`` while ``critical`` waits: legal for its threads.
    The same history judged as if the default list were the only one is not."""
    shared = {"bulk": {"concurrency": 1, "queues": ["reports"]}}
    result = run_scenario(scenario(document(shared)), seed=5)
    assert result.checks["priority"].ok, result.checks["priority"].examples
    events = result.history.events
    config = next(ev[3] for ev in events if ev[1] == "config")
    alone = {k: v for k, v in config.items() if k != "capsules"}
    verdict = priority.check(History(events), alone)
    assert verdict.stats["strict_violations"] > 0


def test_a_capsule_that_breaks_its_own_order_is_caught(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    """Planted bug: the capsule's threads pick any non-empty queue of their list."""
    from jobsim.system import fetch

    real = fetch.QueueSelector.__init__

    def careless(self: Any, spec: Any, mode: str, rng: Any) -> None:
        real(self, spec, "random" if [n for n, _ in spec] == ["urgent", "reports"] else mode,
             rng)

    monkeypatch.setattr(fetch.QueueSelector, "__init__", careless)
    doc = document({"ops": {"concurrency": 2, "queues": ["urgent", "reports"]}},
                   default=["critical"])
    doc["workload"].append({"job": "SyntheticJob", "rate": "6/s", "queue": "urgent"})
    verdict = run_scenario(scenario(doc), seed=3).checks["priority"]
    assert verdict.stats["strict_violations"] > 0
    assert verdict.examples[0]["capsule"] == "ops"
    assert verdict.examples[0]["waiting_in"] == "urgent"


def test_weighted_shares_are_judged_per_capsule() -> None:
    weighted = {"mix": {"concurrency": 1, "queues": [["a", 3], ["b", 1]]}}
    doc = document(weighted)
    doc["workload"] += [{"job": "SyntheticJob", "rate": "4/s", "queue": q} for q in "ab"]
    verdict = run_scenario(scenario(doc), seed=1).checks["priority"]
    mix = verdict.stats["capsules"]["mix"]["weighted"]
    assert mix["n"] >= priority.MIN_FETCHES
    assert not mix["violated"]
    assert mix["expected"] == {"a": 0.75, "b": 0.25}


def test_shares_of_a_capsule_sharing_a_queue_are_not_judged() -> None:
    shared = {"mix": {"concurrency": 1, "queues": [["critical", 3], ["b", 1]]}}
    doc = document(shared)
    doc["workload"].append({"job": "SyntheticJob", "rate": "4/s", "queue": "b"})
    verdict = run_scenario(scenario(doc), seed=1).checks["priority"]
    assert verdict.stats["capsules"]["mix"]["weighted"]["judged"] is False


@pytest.mark.parametrize(("capsules", "flavor", "message"), [
    ({"default": {"concurrency": 1, "queues": ["a"]}}, None,
     "system.capsules.default: the default capsule is system.concurrency and system.queues"),
    ({"one": {"queues": ["a"]}}, None,
     "system.capsules.one: missing required key 'concurrency'"),
    ({"one": {"concurrency": 1}}, None, "system.capsules.one: missing required key 'queues'"),
    ({"one": {"concurrency": 0, "queues": ["a"]}}, None, "system.capsules.one.concurrency"),
    ({"one": {"concurrency": 1, "queues": ["a"], "weight": 2}}, None,
     "system.capsules.one.weight: unknown key"),
    ({"one": {"concurrency": 1, "queues": ["a", "a"]}}, None, "duplicate queue 'a'"),
    ({"one": {"concurrency": 1, "queues": ["a"]}}, "celery",
     "system.capsules: capsules are Sidekiq 7's"),
])
def test_the_loader_refuses_what_sidekiq_could_not_run(
        capsules: dict[str, Any], flavor: str | None, message: str) -> None:
    doc = document(capsules)
    if flavor is not None:
        doc["system"]["flavor"] = flavor
    with pytest.raises(ScenarioError) as info:
        scenario(doc)
    assert message in str(info.value)


def test_a_job_may_name_a_queue_only_a_capsule_serves() -> None:
    doc = document(REPORTS, default=["critical"])
    loaded = scenario(doc)
    assert loaded.system.queue_names == ("critical", "reports")
    with pytest.raises(ScenarioError, match=r"'reports' is not in system\.queues"):
        scenario(document(None, default=["critical"]))


# ---- sidekiq.yml's :capsules: ---------------------------------------------------------

def from_sidekiq_yml(tmp_path: Any, text: str, env: str = "development",
                     queue: str = "critical") -> Any:
    """The ``system`` of a scenario reading TEXT as its sidekiq.yml."""
    import yaml

    from jobsim.scenario.runner import load

    (tmp_path / "sidekiq.yml").write_text(text)
    doc = {"name": "yml", "description": "yml", "duration": "1m",
           "system": {"sidekiq_yml": "sidekiq.yml", "sidekiq_env": env},
           "workload": [{"job": "SyntheticJob", "count": 1, "queue": queue}]}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(doc))
    return load(tmp_path / "s.yaml").system


CAPSULE_YML = """\
:concurrency: 4
:queues: [critical, default]
:capsules:
  :single:
    :concurrency: 1
    :queues:
      - reports,2
      - [exports, 1]
"""


def test_sidekiq_yml_capsules_are_read_as_sidekiq_reads_them(tmp_path: Any) -> None:
    system = from_sidekiq_yml(tmp_path, CAPSULE_YML)
    assert system.concurrency == 4
    (single,) = system.capsules
    assert (single.name, single.concurrency, single.queue_mode) == ("single", 1, "weighted")
    assert single.queues == (("reports", 2), ("exports", 1))


def test_a_capsule_named_default_is_the_default_capsule(tmp_path: Any) -> None:
    """Sidekiq's Config#capsule("default") returns the default capsule, and the CLI
    sets the capsules after the top-level keys: the capsule's settings win."""
    system = from_sidekiq_yml(tmp_path, CAPSULE_YML.replace(":single:", ":default:"),
                              queue="reports")
    assert system.capsules == ()
    assert system.concurrency == 1
    assert system.queue_names == ("reports", "exports")


def test_an_environment_section_replaces_the_capsules(tmp_path: Any) -> None:
    text = CAPSULE_YML + "production:\n  :capsules:\n    bulk: {concurrency: 2, queues: [bulk]}\n"
    assert [c.name for c in from_sidekiq_yml(tmp_path, text, "production").capsules] == ["bulk"]
    from jobsim.scenario.sidekiq_yml import SidekiqYmlWarning

    with pytest.warns(SidekiqYmlWarning, match="'production' is not applied"):
        assert [c.name for c in from_sidekiq_yml(tmp_path, text).capsules] == ["single"]


def test_a_sidekiq_yml_capsule_missing_a_key_is_named_in_the_file(tmp_path: Any) -> None:
    text = CAPSULE_YML.replace("    :concurrency: 1\n", "")
    with pytest.raises(ScenarioError) as info:
        from_sidekiq_yml(tmp_path, text)
    (message,) = [line for line in str(info.value).splitlines() if "a capsule needs" in line]
    assert message.startswith(f"{tmp_path / 'sidekiq.yml'}:4:")
    assert "a capsule needs :concurrency:" in message


def test_other_capsule_keys_are_warned_of(tmp_path: Any) -> None:
    from jobsim.scenario.sidekiq_yml import SidekiqYmlWarning

    with pytest.warns(SidekiqYmlWarning, match="capsule 'single': key ':strict' is not read"):
        from_sidekiq_yml(tmp_path, CAPSULE_YML + "    :strict: true\n")


def test_a_push_wakes_a_thread_blocked_on_its_queue() -> None:
    """Redis serves a push to the client blocked longest on that list: with idle
    threads on the default capsule, a job pushed to ``critical`` starts at once, even
    when an idle capsule thread (which does not pop ``critical``) has waited longer.
    Negative control: serving the push to the longest waiter of any list leaves the
    job for the next BRPOP re-issue, up to 2 s later."""
    from jobsim.system.idle import IdleWaiters

    doc = document({"exports": {"concurrency": 1, "queues": ["exports"]}},
                   default=["critical"])
    doc["workload"] = [{"job": "SyntheticJob", "rate": "1/s", "queue": "critical",
                        "args": {"dist": "fixed", "value": 0.01}}]
    doc["latency_bounds"] = {"critical": "0.001s"}
    served = run_scenario(scenario(doc), seed=2).checks["priority"]
    assert served.ok, served.examples
    assert served.stats["queues"]["critical"]["latency_max_s"] == 0

    real = IdleWaiters.notify
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(IdleWaiters, "notify", lambda self, n, queue=None: real(self, n))
        blind = run_scenario(scenario(doc), seed=2).checks["priority"]
    assert not blind.ok
    assert 0 < blind.stats["queues"]["critical"]["latency_max_s"] <= 2.0


def test_the_run_says_how_many_threads_it_had() -> None:
    from jobsim.report.summary import threads_text

    metrics = run_scenario(scenario(document(REPORTS)), seed=3).metrics
    assert metrics["system"] == {"processes": 2, "concurrency": 2, "threads": 3}
    assert threads_text(metrics) == "2 processes x 3 threads (2 + 1 in capsules)"
    plain = run_scenario(scenario(document(None)), seed=3).metrics
    assert threads_text(plain) == "2 processes x 2 threads"
