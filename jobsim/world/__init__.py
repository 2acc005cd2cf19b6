"""The simulated world jobs act on: database, external services, finite resources.

Faults reach the job system only through here (a lagging replica, a failing API, a
leaking pool), the way they reach a production system. ``jobs.py`` holds the seed's
application jobs; import it to register them.
"""
