"""The machine a figure was measured on: CPUs, CPU model, Python (no dates, no host
names, so a regenerated document only changes when the figures do)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The first ``model name`` of /proc/cpuinfo, or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe() -> dict[str, str | int]:
    return {"nproc": os.cpu_count() or 1, "cpu": cpu_model(),
            "python": platform.python_version(), "system": platform.system()}


def one_line() -> str:
    m = describe()
    return f"{m['nproc']} CPUs ({m['cpu']}), Python {m['python']} on {m['system']}"
