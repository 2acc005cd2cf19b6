"""Helpers of the sweep tests: a story that runs in a tenth of a second, and an engine
that runs in this process in any order (the Dask ones are tested on a LocalCluster)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from jobsim.sweep.engine import Fn

TINY = Path(__file__).with_name("tiny.yaml")


class Shuffled:
    """Every task in this process, completing in a seeded random order."""

    workers = 1

    def __init__(self, seed: int = 0, stop_after: int | None = None) -> None:
        self.seed = seed
        self.stop_after = stop_after     # raise KeyboardInterrupt after this many
        self.ran = 0

    def run(self, fn: Fn, items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        order = list(range(len(items)))
        random.Random(self.seed).shuffle(order)
        for index in order:
            if self.stop_after is not None and self.ran >= self.stop_after:
                raise KeyboardInterrupt
            self.ran += 1
            yield index, fn(items[index])
