"""The runner hides the growing run state from the garbage collector during a run
(``gc.freeze`` after every slice), and gives it back at the end."""

from __future__ import annotations

import gc

from jobsim.scenario.runner import run_scenario


def test_the_run_is_frozen_while_it_runs_and_thawed_after() -> None:
    gc.unfreeze()
    during: list[int] = []
    result = run_scenario("duplicate_emails", scale=0.02,
                          progress=lambda now, horizon: during.append(gc.get_freeze_count()))
    assert result.ok
    assert during and max(during) > 0          # frozen after the slices ran
    assert gc.get_freeze_count() == 0          # and thawed when the run returned


def test_a_callers_own_freeze_is_left_alone() -> None:
    keep = [object() for _ in range(10)]
    gc.freeze()
    frozen = gc.get_freeze_count()
    try:
        run_scenario("duplicate_emails", scale=0.02)
        assert gc.get_freeze_count() >= frozen  # not unfrozen behind the caller's back
    finally:
        gc.unfreeze()
    assert keep
