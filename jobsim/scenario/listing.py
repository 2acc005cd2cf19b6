"""What ``jobsim list`` shows: each scenario's story, jobs and variants, in 80 columns.

A scenario's jobs are the ones its workload pushes, then the ones it declares that
nothing pushes directly (they are enqueued by other jobs). A file that does not load is
listed with the reason, so one broken file never hides the others.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jobsim.scenario import loader
from jobsim.scenario.errors import ScenarioError
from jobsim.scenario.schema import Scenario

WIDTH = 80
NAME_COLUMN = 21


@dataclass(frozen=True)
class Entry:
    name: str
    summary: str                      # the description's first sentence
    jobs: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    problem: str | None = None        # why the file does not load
    question: str | None = None       # the story's question

    def render(self, width: int = WIDTH) -> str:
        indent = " " * NAME_COLUMN
        if len(self.name) < NAME_COLUMN:
            head = textwrap.wrap(f"{self.name:<{NAME_COLUMN - 1}} {self.summary}", width,
                                 subsequent_indent=indent, break_on_hyphens=False)
        else:       # a name wider than its column gets a line; the story stays in its own
            head = [self.name, *textwrap.wrap(self.summary, width, initial_indent=indent,
                                              subsequent_indent=indent,
                                              break_on_hyphens=False)]
        rows = [("asks", (self.question,) if self.question else ()), ("jobs", self.jobs),
                ("variants", self.variants)]
        if self.problem:
            rows = [("invalid", (self.problem,))]
        for label, items in rows:
            if items:
                head += textwrap.wrap(f"{label}: {', '.join(items)}", width,
                                      initial_indent=" " * NAME_COLUMN,
                                      subsequent_indent=" " * (NAME_COLUMN + len(label) + 2),
                                      break_on_hyphens=False, break_long_words=False)
        return "\n".join(head)


def entries(folder: Path, load: Callable[[Path], Scenario]) -> list[Entry]:
    """One Entry per FOLDER/*.yaml, each file loaded with LOAD."""
    out = []
    for name, description in loader.list_scenarios(folder):
        summary = description.split(". ")[0].rstrip(".") + "."
        try:
            scenario = load(folder / f"{name}.yaml")
        except ScenarioError as err:
            out.append(Entry(name, summary, problem=err.reason))
            continue
        question = scenario.story.question if scenario.story else None
        out.append(Entry(name, summary, jobs_of(scenario), tuple(scenario.variants),
                         question=question))
    return out


def jobs_of(scenario: Scenario) -> tuple[str, ...]:
    pushed = [entry.job for entry in scenario.workload]
    return tuple(dict.fromkeys([*pushed, *scenario.jobs]))
