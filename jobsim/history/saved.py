"""A saved run's history against the metrics.json written beside it.

Why: a folder whose history was cut, or which mixes two runs' files (an older
metrics.json beside a newer history), judged one run and reported another. The
metrics record the digest of the history the run wrote; ``jobsim check`` compares it
with the digest of the lines it read, when that file is there.
"""

from __future__ import annotations

import json
from pathlib import Path

from jobsim.history.history import HistoryError

MAX_METRICS_BYTES = 64 << 20


def verify_digest(history: Path, digest: str, metrics: Path) -> None:
    """Raise HistoryError if ``metrics`` exists and names another digest than ``digest``."""
    if not metrics.exists():
        return
    try:
        if not metrics.is_file() or metrics.stat().st_size > MAX_METRICS_BYTES:
            raise ValueError("not a regular file of a sensible size")
        recorded = json.loads(metrics.read_text(encoding="utf-8"))["history_digest"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HistoryError(f"{metrics}: unreadable, so the history beside it cannot be "
                           f"verified ({exc})") from None
    if recorded != digest:
        raise HistoryError(f"{history}: digest {digest} does not match {recorded} in "
                           f"{metrics.name} beside it: the history was cut or the folder "
                           f"mixes two runs")
