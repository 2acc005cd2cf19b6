"""The job library: explicit registration, qualified names, ambiguity, and isolation
between two test modules that define the same class name."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jobsim.system.job import Job, UnknownJob, Work
from jobsim.system.library import AmbiguousJob, ImportFailed, JobLibrary, import_reference


def make(name: str, module: str) -> type[Job]:
    def perform(self: Job) -> Work:
        yield self.sleep(0)

    return type(name, (Job,), {"__module__": module, "__qualname__": name, "perform": perform})


def test_defining_a_class_registers_nothing() -> None:
    class Unseen(Job):
        pass

    assert "Unseen" not in JobLibrary()
    with pytest.raises(UnknownJob, match="Unseen"):
        JobLibrary().resolve("Unseen")


def test_qualified_and_bare_names_resolve_and_ambiguity_names_both() -> None:
    good, bad = make("SendReceipt", "shop_a"), make("SendReceipt", "shop_b")
    library = JobLibrary([good])
    assert library.resolve("SendReceipt") is good
    assert library.resolve("shop_a:SendReceipt") is good
    assert library.payload_name(good) == "SendReceipt"          # as Sidekiq's payloads
    library.add(bad)
    with pytest.raises(AmbiguousJob) as info:
        library.resolve("SendReceipt")
    assert "shop_a:SendReceipt" in str(info.value) and "shop_b:SendReceipt" in str(info.value)
    assert library.resolve("shop_b:SendReceipt") is bad
    assert library.payload_name(bad) == "shop_b:SendReceipt"    # a payload stays exact
    assert library.resolve(library.payload_name(good)) is good


def test_an_alias_is_the_scenarios_own_name_for_a_class() -> None:
    good, bad = make("SendReceipt", "shop_a"), make("SendReceipt", "shop_b")
    library = JobLibrary([good, bad])
    library.add(good, alias="Receipt")
    assert library.resolve("Receipt") is good
    with pytest.raises(AmbiguousJob):
        library.add(bad, alias="Receipt")


def test_import_reference_takes_modules_classes_and_files(tmp_path: Path) -> None:
    module, cls = import_reference("jobsim.world.synthetic:NoopJob")
    assert cls is not None and cls.__name__ == "NoopJob"
    source = tmp_path / "myjobs_lib_test.py"
    source.write_text("from jobsim.system.job import Job\n\nclass Hello(Job):\n"
                      "    def perform(self):\n        yield self.sleep(1)\n")
    module, cls = import_reference(f"{source}:Hello")
    assert cls is not None and cls.__module__ == "myjobs_lib_test"
    assert JobLibrary().add_module(module) == [cls]
    with pytest.raises(ImportFailed, match="no_such_module_xyz"):
        import_reference("no_such_module_xyz:Job")
    with pytest.raises(ImportFailed, match="not a jobsim Job"):
        import_reference("jobsim.system.job:UnknownJob")


MODULE = '''
from jobsim.system.job import Job

DOC = {{"description": "receipts", "duration": "20s", "drain": "10s",
        "workload": [{{"job": "SendReceipt", "count": 5}}], "checks": ["no_loss"]}}


class SendReceipt(Job):
    retry = False

    def perform(self, index):
        {body}
        yield self.sleep(0.1)


def test_receipts(jobsim_run):
    result = jobsim_run(DOC, jobs=[SendReceipt])
    assert result.metrics["jobs"]["succeeded"] == 5, result.metrics["jobs"]
'''


@pytest.mark.parametrize("order", [("good", "broken"), ("broken", "good")])
def test_two_modules_with_the_same_class_name_never_see_each_other(
        tmp_path: Path, order: tuple[str, str]) -> None:
    """The good module passes and the broken one fails, whichever is collected first."""
    bodies = {"good": "pass", "broken": "raise RuntimeError('broken receipt')"}
    for name, body in bodies.items():
        (tmp_path / f"test_{name}_receipts.py").write_text(
            textwrap.dedent(MODULE.format(body=body)))
    files = [f"test_{name}_receipts.py" for name in order]
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-rA", *files], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    out = run.stdout
    assert "PASSED test_good_receipts.py::test_receipts" in out, out
    assert "FAILED test_broken_receipts.py::test_receipts" in out, out
    assert "1 failed, 1 passed" in out, out


REPLAY_MODULE = '''
import pathlib

import pytest

from jobsim.pytest_plugin import ScenarioCheckFailed
from jobsim.system.job import Job

DOC = {"description": "receipts", "duration": "20s", "drain": "10s",
       "workload": [{"job": "SendReceipt", "count": 3}], "checks": ["no_loss"],
       "expect": [{"metric": "jobs.succeeded", "min": 3}]}


class SendReceipt(Job):
    retry = False

    def perform(self, index):
        yield self.sleep(0.1)
        raise RuntimeError("broken receipt")


def test_receipts(jobsim_run):
    with pytest.raises(ScenarioCheckFailed) as info:
        jobsim_run(DOC, jobs=[SendReceipt], expect=True)
    line = [x for x in str(info.value).splitlines() if "replay:" in x][0]
    pathlib.Path("replay.txt").write_text(line.split("replay:", 1)[1].strip())
'''


def test_the_plugins_replay_command_runs_verbatim_from_a_shell(tmp_path: Path) -> None:
    (tmp_path / "test_replay_receipts.py").write_text(REPLAY_MODULE)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "test_replay_receipts.py"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env=env)
    assert "1 passed" in run.stdout, run.stdout + run.stderr
    command = (tmp_path / "replay.txt").read_text()
    assert "--import" in command and "--seed 0" in command
    replay = subprocess.run(command + " --quiet", shell=True, cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    # exit 1: the run happened and its expectation failed again (2 would be bad input)
    assert replay.returncode == 1, replay.stdout + replay.stderr
    metrics = next((tmp_path / "reports").rglob("metrics.json")).read_text()
    assert '"succeeded": 0' in metrics
