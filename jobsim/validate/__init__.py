"""Fidelity validation: the simulated job system against queueing theory (Erlang C,
Pollaczek-Khinchine, Cobham) and published retry results (Sidekiq's schedule, SRE retry
amplification and budgets, metastable failure). ``jobsim validate`` runs every case in
``cases.py`` and writes docs/validation.md; ``theory.py`` holds the closed forms."""
