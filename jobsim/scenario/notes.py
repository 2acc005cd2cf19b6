"""Loading notes (a sidekiq.yml key jobsim does not model, an ERB tag read as its
default): said once on stderr by the command that loads the file, never by the workers
that load it again for each task.

They are ``SidekiqYmlWarning`` warnings. Left to Python, each process would print its
own copies in the warnings module's format (a jobsim source line and the code on it);
``reported`` prints each distinct note once as ``jobsim: warning: ...``, ``silenced``
drops them where the command has already reported them (a sweep's or a hunt's task).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import click

from jobsim.scenario.sidekiq_yml import SidekiqYmlWarning


@contextmanager
def reported() -> Iterator[None]:
    """Each distinct note raised inside, once, as ``jobsim: warning: ...`` on stderr;
    other warnings pass through as Python shows them. Notes never change an exit code."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SidekiqYmlWarning)
        try:
            yield
        finally:
            ours = [w for w in caught if issubclass(w.category, SidekiqYmlWarning)]
            for message in dict.fromkeys(str(w.message) for w in ours):
                click.echo(f"jobsim: warning: {message}", err=True)
            others = [w for w in caught if w not in ours]
    for other in others:
        warnings.showwarning(other.message, other.category, other.filename, other.lineno)


@contextmanager
def silenced() -> Iterator[None]:
    """Notes raised inside are dropped: the command reported them when it loaded the file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SidekiqYmlWarning)
        yield
