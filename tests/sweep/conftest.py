"""Fixtures of the sweep tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._support import TINY


@pytest.fixture
def tiny() -> Path:
    return TINY


@pytest.fixture(scope="session")
def cluster() -> Iterator[object]:
    """One two-worker LocalCluster for every sweep module (starting one costs seconds)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=logging.ERROR) as c:
        yield c
