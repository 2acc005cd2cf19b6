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


class Streams(dict[str, random.Random]):
    """A lazily filled family of independent, named ``random.Random`` streams.

    A dict of the streams drawn from so far: looking up an existing stream is dict's
    own lookup, with no Python call (model code does it about once a job); a new name
    is seeded by ``__missing__``."""

    __slots__ = ("seed",)

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = int(seed)

    def __missing__(self, name: str) -> random.Random:
        stream = self[name] = random.Random(derive_seed(self.seed, name))
        return stream

    def get(self, name: str) -> random.Random:  # type: ignore[override]
        """The stream called ``name``, as ``streams[name]`` (made on first use)."""
        return self[name]

    def names(self) -> list[str]:
        """Streams drawn from so far, sorted."""
        return sorted(self)
