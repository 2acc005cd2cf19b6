"""The reference job system, one concept per file, laid out as Sidekiq's lib/sidekiq."""

from jobsim.system.client import ArgumentError, Client, PushError, PushTimeout
from jobsim.system.config import SystemConfig
from jobsim.system.job import REGISTRY, Job, job_class
from jobsim.system.system import JobSystem

__all__ = [
    "REGISTRY", "ArgumentError", "Client", "Job", "JobSystem", "PushError", "PushTimeout",
    "SystemConfig", "job_class",
]
