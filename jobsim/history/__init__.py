"""The history: the contract between a run and everything that judges it.

``events`` lists the event kinds and their fields, ``states`` the job lifecycle and its
legal moves, ``history`` the record itself with its JSONL encoding and digest. Nothing
here imports the simulator, so checkers and reports can read a saved history alone.
"""
