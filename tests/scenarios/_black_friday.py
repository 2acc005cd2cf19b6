"""black_friday as it scaled before it declared ``scale: {threads: true}``: at a small
``--scale`` its 40 threads see a few per cent of the load, so there is no backlog and
single_fifo does NOT reproduce. Tests of the NOT REPRODUCED path, and the negative
control of thread scaling, run this copy."""

from __future__ import annotations

from pathlib import Path

BLACK_FRIDAY = Path(__file__).parents[2] / "scenarios" / "black_friday.yaml"
THREADS_LINE = "scale: {threads: true}\n"


def fixed_threads(folder: Path) -> Path:
    """A copy of black_friday.yaml in FOLDER whose --scale leaves the threads alone."""
    text = BLACK_FRIDAY.read_text()
    assert text.count(THREADS_LINE) == 1, "black_friday.yaml no longer scales its threads"
    path = folder / "black_friday.yaml"
    path.write_text(text.replace(THREADS_LINE, "scale: {threads: false}\n"))
    return path
