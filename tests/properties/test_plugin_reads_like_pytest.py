"""The plugin as pytest users expect it, run in a separate pytest session: the failure
shows the test's own line and not the plugin's source, the run is named after the test,
failing scenarios go under pytest's cache dir, ``--jobsim-seed`` and the ``jobsim``
marker set the seed, and a Hypothesis test using ``jobsim_run`` has no deadline (the
same slow test without it misses Hypothesis's 200 ms deadline: the negative control)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

USER_TESTS = '''
import time

import pytest
from hypothesis import given, settings, strategies as st

from jobsim import Job


class SendReceiptNaively(Job):
    services = ("email",)

    def perform(self, order_id):
        yield from self.world.service("email").call(
            self, "send", key=f"receipt:{order_id}", effect=True, once=True)


DOC = {
    "description": "receipts under duplicate deliveries",
    "duration": "1m",
    "system": {"processes": 2, "concurrency": 5, "fetch": "reliable"},
    "world": {"services": {"email": {"latency": {"dist": "exponential", "mean": "150ms"}}}},
    "workload": [{"job": "SendReceiptNaively", "count": 50, "spread": "30s"}],
    "faults": [{"type": "duplicate_delivery", "rate": 0.3, "start": "0s", "duration": "1m"}],
    "checks": ["idempotency"],
}


def test_receipts_are_sent_once(jobsim_run):
    jobsim_run(DOC, jobs=[SendReceiptNaively])


@pytest.mark.jobsim(seed=3)
def test_marked_seed(jobsim_run):
    jobsim_run(DOC, jobs=[SendReceiptNaively])


def test_bad_document(jobsim_run):
    jobsim_run({**DOC, "duration": "5s"}, jobs=[SendReceiptNaively])


@settings(max_examples=2, database=None)
@given(st.integers(0, 1))
def test_slow_examples_with_jobsim(jobsim_run, n):
    jobsim_run({**DOC, "faults": [], "duration": "5s",
                "workload": [{"job": "SendReceiptNaively", "count": 5, "spread": "1s"}]},
               jobs=[SendReceiptNaively])
    time.sleep(0.3)


@settings(max_examples=2, database=None)
@given(st.integers(0, 1))
def test_slow_examples_without_jobsim(n):
    time.sleep(0.3)
'''


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("user")
    (folder / "test_receipts.py").write_text(USER_TESTS)
    # A user's laptop: Hypothesis's default profile. Where CI is set, Hypothesis loads its
    # own "ci" profile, which has no deadline, and the control below could not fail.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JOBSIM_", "PYTEST_", "HYPOTHESIS_")) and k != "CI"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
                           "--hypothesis-profile", "default",
                           "--jobsim-seed", "5", "test_receipts.py"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    return folder, done.stdout + done.stderr


def test_the_failure_shows_the_test_not_the_plugin(session: tuple[Path, str]) -> None:
    _, out = session
    assert ">       jobsim_run(DOC, jobs=[SendReceiptNaively])" in out
    assert "def run_scenario_and_assert" not in out and "__tracebackhide__" not in out
    assert "pytest_plugin.py:" not in out


def test_the_run_is_named_after_the_test_and_saved_in_the_cache(
        session: tuple[Path, str]) -> None:
    folder, out = session
    assert "scenario 'test_receipts__test_receipts_are_sent_once' (seed 5)" in out
    saved = folder / ".pytest_cache" / "d" / "jobsim-failing"
    assert (saved / "test_receipts__test_receipts_are_sent_once.yaml").exists()
    assert f"replay: jobsim simulate {saved}/test_receipts__test_receipts_are_sent_once.yaml" \
        in out
    assert not (folder / "reports").exists()          # nothing in the user's directory


def test_a_bad_document_says_why_in_one_line(session: tuple[Path, str]) -> None:
    out = session[1]
    assert ("jobsim: the scenario does not load: test_receipts__test_bad_document: "
            "workload[0].spread: start + spread (30s) runs past the scenario's duration "
            "(5s)") in out
    assert "loader.py:" not in out


def test_the_marker_overrides_the_seed_option(session: tuple[Path, str]) -> None:
    assert "scenario 'test_receipts__test_marked_seed' (seed 3)" in session[1]


def test_hypothesis_tests_with_jobsim_run_have_no_deadline(session: tuple[Path, str]) -> None:
    out = session[1]
    assert "FAILED test_receipts.py::test_slow_examples_with_jobsim" not in out
    assert "FAILED test_receipts.py::test_slow_examples_without_jobsim" in out  # control
    assert "DeadlineExceeded" in out
