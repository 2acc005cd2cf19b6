"""Kernel: the simulation clock and the named, seeded RNG streams.

The history a run records lives in ``jobsim.history``, which imports nothing from here.
"""
