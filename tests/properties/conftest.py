"""Fixtures of the property tests."""

from __future__ import annotations

import pytest


@pytest.fixture(params=[pytest.param(False, id="found"),
                        pytest.param(True, id="minimal", marks=pytest.mark.slow)])
def shrink(request: pytest.FixtureRequest) -> bool:
    """A negative control's search: ``[found]`` (make test) stops at the first violating
    run; ``[minimal]`` (make test-slow) also shrinks it to the minimal witness."""
    return bool(request.param)
