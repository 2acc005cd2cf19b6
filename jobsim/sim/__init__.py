"""Kernel: simulation clock, named RNG streams, and the history vocabulary.

Kept import-light on purpose: ``jobsim.sim.history`` and ``jobsim.sim.events`` must be
importable by checkers without loading simpy.
"""
