"""Named random streams derived from one seed.

Each stream is a ``random.Random`` seeded from ``sha256(f"{seed}/{name}")``, so a stream's
numbers depend only on the seed and its own name: adding a stream, or drawing more from
one, never shifts another. Python's ``hash()`` is salted per process and is never used.
"""

from __future__ import annotations

import hashlib
import random


def derive_seed(seed: int, name: str) -> int:
    """A 64-bit seed for stream ``name``, stable across processes and machines."""
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Streams:
    """A lazily filled family of independent, named ``random.Random`` streams."""

    __slots__ = ("_streams", "seed")

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._streams: dict[str, random.Random] = {}

    def __getitem__(self, name: str) -> random.Random:
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = random.Random(derive_seed(self.seed, name))
        return stream

    get = __getitem__

    def names(self) -> list[str]:
        """Streams drawn from so far, sorted."""
        return sorted(self._streams)
