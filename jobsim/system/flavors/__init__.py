"""Flavours of the reference job system: Sidekiq (the default), Celery on Redis, RQ."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobsim.system.flavors.base import Flavor
from jobsim.system.flavors.options import FLAVORS, CeleryOptions, FlavorConfig, RQOptions

if TYPE_CHECKING:
    from jobsim.system.system import JobSystem

__all__ = ["FLAVORS", "CeleryOptions", "Flavor", "FlavorConfig", "RQOptions", "build"]


def build(system: JobSystem) -> Flavor:
    """The flavour ``system.config.flavor`` names, bound to ``system``."""
    name = system.config.flavor.name
    if name == "celery":
        from jobsim.system.flavors.celery import CeleryFlavor
        return CeleryFlavor(system)
    if name == "rq":
        from jobsim.system.flavors.rq import RQFlavor
        return RQFlavor(system)
    return Flavor(system)
