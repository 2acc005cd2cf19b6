"""Job ids: Sidekiq's 12 random bytes in hex, drawn from the seeded "jid" stream.

Why a block at a time: formatting one 96-bit number costs more than the rest of a push's
id handling. ``getrandbits(96 * n)`` draws the same 32-bit words, in the same order, as
``n`` calls of ``getrandbits(96)``, the first call's words least significant; so one
big-endian hex string of the block, read from its end, spells the very ids the calls
would have given, one slice each. The ids, and so every history, are unchanged; the
stream is only drawn ahead, and nothing else draws from it.
"""

from __future__ import annotations

import random

BLOCK = 256            # ids per draw
_WIDTH = 24            # hex digits per id
_BYTES = BLOCK * 12


class JidSource:
    """Hands out ids in the order sequential ``f"{getrandbits(96):024x}"`` would."""

    __slots__ = ("_hex", "_next", "_rng")

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._hex = ""
        self._next = 0          # where the next id ends in ``_hex``; 0: draw a block

    def __call__(self) -> str:
        end = self._next
        if end == 0:
            self._hex = self._rng.getrandbits(96 * BLOCK).to_bytes(_BYTES, "big").hex()
            end = len(self._hex)
        self._next = end - _WIDTH
        return self._hex[end - _WIDTH:end]
