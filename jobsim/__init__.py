"""jobsim: chaos simulation and property-based testing for background job systems.

Public API: ``run_scenario``, ``Job``, ``backoff`` and ``strategies``. They are loaded on
first use so that importing a light module (``jobsim.history.history`` in a checker) does not
pull in the simulator.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "run_scenario": ("jobsim.scenario.runner", "run_scenario"),
    "Result": ("jobsim.scenario.runner", "Result"),
    "Job": ("jobsim.system.job", "Job"),
    "backoff": ("jobsim.backoff", None),
    "strategies": ("jobsim.strategies", None),
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'jobsim' has no attribute {name!r}") from None
    loaded = import_module(module)
    return loaded if attr is None else getattr(loaded, attr)
