"""The verdict words, the one vocabulary every command, summary and page uses.

- PASS: every check and expectation held.
- FAIL: a check or an expectation did not hold.
- REPRODUCED: a run that reproduces a known failure (a scenario variant with
  ``reproduces: true``, or a published experiment) showed it: its expectations held.
  Its checks do not decide: the failure it reproduces is often a check failing. An
  expectation such as ``checks.no_loss.ok equals true`` makes a check count.
- NOT REPRODUCED: such a run did not show the failure.
- UNKNOWN: nothing failed, but something could not be judged (an expectation whose
  metric has no data, e.g. the latency of a queue that started no job).

Exit codes follow: 0 for PASS and REPRODUCED, 1 for the rest.
"""

from __future__ import annotations

PASS, FAIL, UNKNOWN = "PASS", "FAIL", "UNKNOWN"
REPRODUCED, NOT_REPRODUCED = "REPRODUCED", "NOT REPRODUCED"
WORDS = (PASS, FAIL, REPRODUCED, NOT_REPRODUCED, UNKNOWN)
GOOD = frozenset({PASS, REPRODUCED})


def word(held: bool | None, reproduces: bool = False) -> str:
    """The verdict for: everything held (True), something failed (False), or nothing
    failed but something could not be judged (None)."""
    if held is None:
        return UNKNOWN
    if reproduces:
        return REPRODUCED if held else NOT_REPRODUCED
    return PASS if held else FAIL


def combine(words: list[str]) -> str:
    """One verdict for several (variants of one story): the worst of them."""
    for bad in (FAIL, NOT_REPRODUCED, UNKNOWN):
        if bad in words:
            return bad
    return REPRODUCED if words and all(w == REPRODUCED for w in words) else PASS


def exit_code(verdict: str) -> int:
    return 0 if verdict in GOOD else 1
