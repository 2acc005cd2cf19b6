"""Server-side extension points (Sidekiq's server middleware, reduced to what we need).

Uniqueness locks and dependency release hang off these; with no hooks installed the
processor skips them entirely, so the plain hot path pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jobsim.broker.base import Payload

BeforePerform = Callable[[Payload, str], bool]     # (payload, worker) -> run it?
AfterSuccess = Callable[[Payload], None]
Terminal = Callable[[Payload, str], None]           # (payload, "dead"|"discarded")
Retrying = Callable[[Payload], None]


@dataclass
class Hooks:
    before_perform: list[BeforePerform] = field(default_factory=list)
    after_perform: list[Callable[[Payload, bool], None]] = field(default_factory=list)
    after_success: list[AfterSuccess] = field(default_factory=list)
    on_retry: list[Retrying] = field(default_factory=list)
    on_terminal: list[Terminal] = field(default_factory=list)

    def any(self) -> bool:
        return bool(self.before_perform or self.after_perform or self.after_success
                    or self.on_retry or self.on_terminal)

    @staticmethod
    def call_all(hooks: list[Any], *args: Any) -> None:
        for hook in hooks:
            hook(*args)
