"""Shared helpers for the job system tests: build a system, read its history back.

Tests assert on what the system recorded (the history) and on what storage holds,
because those are the two things every checker and report reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jobsim.broker import make_broker
from jobsim.sim.simulation import Simulation
from jobsim.system import JobSystem, SystemConfig

Build = Callable[..., tuple[Simulation, JobSystem]]
Events = Callable[..., list[tuple[Any, ...]]]


def build_system(seed: int = 1, broker: str = "memory", start: bool = True,
                 **config: Any) -> tuple[Simulation, JobSystem]:
    """A fresh simulation and job system; started (config event, processes) by default."""
    sim = Simulation(seed=seed)
    system = JobSystem(sim, make_broker(broker), SystemConfig(**config))
    if start:
        system.start()
    return sim, system


def history_events(sim: Simulation, kind: str, jid: str | None = None) -> list[tuple[Any, ...]]:
    """Events of one kind, optionally of one job, in history order."""
    return [e for e in sim.history.of_kind(kind) if jid is None or e[2] == jid]


@pytest.fixture
def build() -> Build:
    return build_system


@pytest.fixture
def events() -> Events:
    return history_events
