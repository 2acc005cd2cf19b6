"""Scenario files: the schema, strict loading and validation, and variants.

A scenario is one story told to the simulator (a workload, a system, a world and a fault
schedule, plus the checks and expectations that judge the run). The file format is
documented in docs/scenarios.md; every problem is a ScenarioError ``FILE: PATH: REASON``.
"""

from jobsim.scenario.durations import format_duration, parse_duration, parse_rate
from jobsim.scenario.errors import ScenarioError
from jobsim.scenario.loader import (
    apply_variant,
    deep_merge,
    list_scenarios,
    load_document,
    load_scenario,
    scenario_names,
)
from jobsim.scenario.schema import (
    KNOWN_SAFEGUARDS,
    DatabaseConfig,
    Distribution,
    Expectation,
    Fault,
    Scenario,
    ServiceConfig,
    SystemConfig,
    WorkloadEntry,
    WorldConfig,
)
from jobsim.world.distributions import DISTRIBUTIONS

__all__ = [
    "DISTRIBUTIONS",
    "KNOWN_SAFEGUARDS",
    "DatabaseConfig",
    "Distribution",
    "Expectation",
    "Fault",
    "Scenario",
    "ScenarioError",
    "ServiceConfig",
    "SystemConfig",
    "WorkloadEntry",
    "WorldConfig",
    "apply_variant",
    "deep_merge",
    "format_duration",
    "list_scenarios",
    "load_document",
    "load_scenario",
    "parse_duration",
    "parse_rate",
    "scenario_names",
]
