"""Queue orders of Celery's Redis transport and of RQ's workers.

Both pick the first non-empty queue in an order they keep per consumer and change after
every message; they differ in how:

* kombu 5.7.0 ``kombu/utils/scheduling.py``: ``round_robin_cycle.rotate`` moves only the
  queue just used to the end; ``priority_cycle`` never reorders; ``sorted_cycle`` keeps
  the names sorted. ``kombu/transport/redis.py`` (``_brpop_start``) issues one BRPOP
  over every queue in that order, so the first non-empty queue wins.
* rq 2.12.0 ``rq/worker/base.py`` (``reorder_queues``): ``default`` never reorders,
  ``round_robin`` puts every queue after the one just used first
  (``ordered[pos + 1:] + ordered[:pos + 1]``), ``random`` shuffles the whole list; then
  ``Queue.dequeue_any`` takes the first non-empty queue in the list.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from jobsim.broker.base import Broker


class OrderedSelector:
    """First non-empty queue in a per-consumer order, reordered after each pick."""

    __slots__ = ("lists", "order", "rng", "strategy")

    def __init__(self, names: list[str], strategy: str, rng: random.Random,
                 lists: Callable[[str], tuple[str, ...]] | None = None) -> None:
        self.order = sorted(names) if strategy == "sorted" else list(names)
        self.strategy = strategy
        self.rng = rng
        self.lists = lists      # queue -> its storage lists, most urgent first (priorities)

    def choose(self, broker: Broker) -> str | None:
        """The storage list to pop next; its queue moves in the order."""
        size = broker.queue_size
        if self.lists is None:
            for name in self.order:
                if size(name):
                    self.used(name)
                    return name
            return None
        # kombu's BRPOP keys: every queue's list of one priority step, then the next step
        per_queue = [self.lists(name) for name in self.order]
        for step in range(len(per_queue[0]) if per_queue else 0):
            for name, lists in zip(self.order, per_queue, strict=True):
                if size(lists[step]):
                    self.used(name)
                    return lists[step]
        return None

    def used(self, name: str) -> None:
        """Reorder after a message came from ``name``."""
        order, strategy = self.order, self.strategy
        if strategy == "round_robin":             # kombu: only the used queue moves back
            order.append(order.pop(order.index(name)))
        elif strategy == "rq_round_robin":        # rq: the used queue and all before it
            pos = order.index(name)
            self.order = order[pos + 1:] + order[:pos + 1]
        elif strategy == "random":
            self.rng.shuffle(order)
