"""Every validation case, in table order. Sizes live on each case class, so the cost of a
case and the precision it buys are read in one place."""

from __future__ import annotations

from jobsim.validate.amplification import Amplification
from jobsim.validate.backoffs import OtherBackoffs
from jobsim.validate.case import Case
from jobsim.validate.metastable import Metastable
from jobsim.validate.queueing import MG1, MMc, Priority
from jobsim.validate.sidekiq import SidekiqSchedule
from jobsim.validate.weighted import Weighted


def all_cases() -> list[Case]:
    return [MMc(), MG1(), Priority(), Weighted(), SidekiqSchedule(), OtherBackoffs(),
            Amplification(), Metastable()]


def by_name(names: list[str]) -> list[Case]:
    """The named cases (all when ``names`` is empty); ValueError for an unknown name."""
    cases = all_cases()
    if not names:
        return cases
    known = {case.name: case for case in cases}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown case {unknown[0]!r}; known: {', '.join(known)}")
    return [known[n] for n in names]
