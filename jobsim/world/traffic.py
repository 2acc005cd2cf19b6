"""Each called service's traffic over time, as gauges for the world's sampler.

Why gauges and not an event per call: a call is on every job's hot path and a run makes
hundreds of thousands of them. The service keeps counters; every ``sample_interval`` the
sampler reads this source and records the gauges that changed:

- ``traffic.NAME.calls``, ``.errors``, ``.timeouts``, ``.ended``: running totals
  (calls started, failed with an error, timed out on the client, and ended);
- ``traffic.NAME.latency_total_s``: the running total of the ended calls' durations as
  the client saw them (waiting for a slot included, failures included);
- ``traffic.NAME.latency_max_s``: the longest call that ended in the interval just
  ended (recorded only for an interval in which a call ended).

Running totals survive the sampler's "record only what changed": a reader holds each
value until the next sample of that name, and the calls (or mean duration) in any
window are the difference of the totals at its two ends. Services never called record
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

PREFIX = "traffic."
TOTALS = ("calls", "errors", "timeouts", "ended", "latency_total_s")
LATENCY_MAX = "latency_max_s"


class Traffic:
    """The sampler source over a world's services (``Service`` keeps the counters)."""

    def __init__(self, services: Iterable[Any]) -> None:
        self.services = list(services)

    def gauges(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for service in self.services:
            if not service.calls:
                continue
            name = f"{PREFIX}{service.name}."
            ended, total_s, longest = service.durations()
            for stat, value in zip(TOTALS, (service.calls, service.errors, service.timeouts,
                                            ended, round(total_s, 6)), strict=True):
                out[name + stat] = value
            if longest is not None:
                out[name + LATENCY_MAX] = round(longest, 6)
        return out
