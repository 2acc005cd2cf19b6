"""Seed farms and parameter sweeps on Dask: many (grid point, variant, seed) runs, one
tidy table of their verdicts and metrics, and the pass rates and spreads it implies.

``engine`` runs tasks on a Dask cluster (a LocalCluster, or any scheduler address);
``grid`` expands ``--seeds`` and ``--set`` into tasks; ``task`` runs one of them on a
worker; ``table`` keeps the rows durable and sorted; ``summary`` and ``page`` read them.
"""
