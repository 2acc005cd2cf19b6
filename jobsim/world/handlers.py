"""Death handlers an application registers (Sidekiq's ``death_handlers``), by name.

Scenario files name them; ``failing`` exists to show that a broken handler is recorded
and swallowed rather than breaking the processor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any], BaseException | None], None]


class HandlerFailed(RuntimeError):
    """Raised on purpose by the ``failing`` handler."""


def notify_ops(payload: dict[str, Any], exc: BaseException | None) -> None:
    """Page someone: in the simulation the history's death_handler event is the page."""


def failing(payload: dict[str, Any], exc: BaseException | None) -> None:
    raise HandlerFailed(f"handler failed for {payload['jid']}")


HANDLERS: dict[str, Handler] = {"notify_ops": notify_ops, "failing": failing}


def death_handler(name: str) -> Handler:
    try:
        return HANDLERS[name]
    except KeyError:
        raise ValueError(f"unknown death handler {name!r}; known: "
                         + ", ".join(sorted(HANDLERS))) from None
