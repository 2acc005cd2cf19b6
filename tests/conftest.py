"""Hypothesis profiles for the whole suite, chosen by $HYPOTHESIS_PROFILE (default ci).

- ``ci`` (``make test``): derandomized, so a CI failure reproduces on any machine with the
  same code; no deadline (a simulated run's wall time depends on the machine's load);
  bounded examples, so ``make test`` stays within its 10-minute budget on 2 cores (tests
  marked ``slow`` run in ``make test-slow``; CI runs both).
- ``dev``: random search with the example database, a few times the CI budget.
- ``nightly`` (``make property-nightly``): thousands of examples.

Property tests scale their own per-test budgets with ``PROFILE_SCALE`` (see
tests/properties/_support.py), so one number per test states its CI cost.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

# A simulated run takes 10 ms to a few seconds of wall time: "too slow" is expected
# (each example is a whole run), not a sign of an inefficient strategy.
SLOW_OK = [HealthCheck.too_slow]
# The explain phase re-runs the minimal failure dozens of times to annotate it: a minute
# of CI per failure, for a note the saved scenario file already gives.
NO_EXPLAIN = tuple(p for p in Phase if p is not Phase.explain)

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=25,
                          print_blob=True, suppress_health_check=SLOW_OK, phases=NO_EXPLAIN)
settings.register_profile("dev", deadline=None, max_examples=100, print_blob=True,
                          suppress_health_check=SLOW_OK)
settings.register_profile("nightly", deadline=None, max_examples=2000, print_blob=True,
                          suppress_health_check=SLOW_OK)

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
PROFILE_SCALE = {"ci": 1, "dev": 4, "nightly": 100}
settings.load_profile(PROFILE)
