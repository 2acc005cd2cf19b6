"""The reference job system, one concept per file, laid out as Sidekiq's lib/sidekiq."""

from jobsim.system.client import ArgumentError, Client, PushError, PushTimeout
from jobsim.system.config import SystemConfig
from jobsim.system.job import Job
from jobsim.system.library import JobLibrary
from jobsim.system.system import JobSystem

__all__ = [
    "ArgumentError", "Client", "Job", "JobLibrary", "JobSystem", "PushError", "PushTimeout",
    "SystemConfig",
]
