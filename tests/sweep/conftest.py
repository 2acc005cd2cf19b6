"""Fixtures of the sweep tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._support import TINY


@pytest.fixture
def tiny() -> Path:
    return TINY
