"""jobsim: chaos simulation and property-based testing for background job systems."""

__version__ = "0.1.0"
