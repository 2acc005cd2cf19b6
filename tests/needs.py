"""Tests that need something from outside Python: a Redis server, Chromium, Ruby's
Sidekiq, a Dask scheduler. On a laptop without it they skip with the reason and what to
install; under CI (``.ci/run`` starts or installs each one) a missing service fails,
since a quietly skipped tier would pass CI while testing nothing."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    """$CI set to anything but empty, 0, false or no (CI systems export CI=true)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def need(available: bool, reason: str) -> None:
    """Skip with ``reason`` outside CI; fail in CI, where a missing tool would hide."""
    if available:
        return
    if in_ci():
        pytest.fail(f"CI is set but {reason}")
    pytest.skip(reason)
