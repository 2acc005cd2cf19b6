"""The simulated world jobs act on: database, external services, finite resources.

Faults reach the job system only through here (a lagging replica, a failing API, a
leaking pool), the way they reach a production system. The world knows no
application: services and tables are declared by the scenario or a plug-in
(``plugin.py``); ``synthetic.py`` holds the generic test jobs every run may use.
"""
