"""How ``--scale F`` treats a scenario's worker threads: its ``scale:`` section.

``--scale`` multiplies counts and rates. For most stories that is all it should do: the
same threads see less work, and what the story is about (a duplicate, a lost job) stays.
An overload story is different: its point is a backlog, which exists only while work
arrives faster than the threads finish it. Such a scenario declares
``scale: {threads: true}``, and ``--scale`` then multiplies the threads too, so the
utilisation, and with it the backlog, stays what the full-size story has.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scaling:
    """A scenario's ``scale:`` section. ``unscaled``: (processes, concurrency) before
    ``--scale`` changed them, kept so that messages can say what the file declared."""

    threads: bool = False
    unscaled: tuple[int, int] | None = None


def thread_split(processes: int, concurrency: int, factor: float) -> tuple[int, int]:
    """(processes, concurrency) with about ``processes x concurrency x factor`` threads.

    The total is rounded half up, at least 1. Processes are kept while there are threads
    for them (a fault that names ``p3`` keeps its meaning), so P' = min(P, total) and
    C' = max(1, round(total / P')): exact when P' divides the total, otherwise off by at
    most P'/2 threads. Scaling up (F > 1) keeps the processes and grows each one."""
    total = max(1, int(processes * concurrency * factor + 0.5))
    kept = min(processes, total)
    return kept, max(1, int(total / kept + 0.5))
