"""Named streams: a stream's numbers depend on the seed and its own name, nothing else."""

from __future__ import annotations

import hashlib

from jobsim.sim.streams import Streams, derive_seed


def draws(streams: Streams, name: str, n: int = 5) -> list[float]:
    return [streams[name].random() for _ in range(n)]


def test_same_seed_and_name_give_the_same_numbers_in_new_instances() -> None:
    assert draws(Streams(7), "arrivals") == draws(Streams(7), "arrivals")


def test_other_streams_never_shift_a_stream() -> None:
    alone = Streams(7)
    crowded = Streams(7)
    crowded["retry"].random()  # created first and drawn from, before "arrivals" exists
    crowded["faults"].randint(0, 100)
    first = draws(crowded, "arrivals", 3)
    for _ in range(100):
        crowded["retry"].random()
    assert first + draws(crowded, "arrivals", 2) == draws(alone, "arrivals", 5)


def test_names_and_seeds_separate_streams() -> None:
    streams = Streams(7)
    assert draws(streams, "a") != draws(streams, "b")
    assert draws(Streams(7), "a") != draws(Streams(8), "a")
    assert streams.get("a") is streams["a"]
    assert streams.names() == ["a", "b"]


def test_derive_seed_is_the_first_eight_bytes_of_sha256() -> None:
    expected = int.from_bytes(hashlib.sha256(b"42/arrivals").digest()[:8], "big")
    assert derive_seed(42, "arrivals") == expected
    assert 0 <= derive_seed(0, "") < 2**64
    assert derive_seed(1, "x/y") != derive_seed(1, "x")
