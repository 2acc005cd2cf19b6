"""A lock file that keeps two runs from writing into one output folder at once.

Why: two ``jobsim simulate`` runs into one folder used to interleave their histories.
The lock is a file beside the folder (``.NAME.lock``) created with ``O_EXCL`` and holding
the owner's pid. A lock whose pid no longer runs is stale (its run was killed) and is
taken over, so a crash never blocks the folder for good. Taking over renames the stale
file aside first, which only one contender can do, and re-checks the pid it held.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from jobsim.scenario.errors import ScenarioError


class OutputError(ScenarioError):
    """An output folder cannot be used: one line naming the folder and the reason."""

    def __init__(self, folder: Path | str, reason: str) -> None:
        super().__init__(str(folder), "", reason)


class FolderLock:
    """Held from ``acquire`` to ``release``; refuses a folder another live run holds."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder.parent / f".{folder.name}.lock"
        self.held = False

    def acquire(self) -> None:
        for _ in range(3):
            if self._create():
                self.held = True
                return
            owner = holder_pid(self.path)
            if owner is not None and alive(owner):
                raise OutputError(self.folder, f"another jobsim run (pid {owner}) is writing "
                                  f"here; wait for it or choose another --out "
                                  f"(lock file {self.path})")
            self._take_over_stale()
        raise OutputError(self.folder, f"cannot take the lock file {self.path}")

    def release(self) -> None:
        if self.held and holder_pid(self.path) == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self.held = False

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        return True

    def _take_over_stale(self) -> None:
        """Move a dead run's lock aside; put it back if a live run took it meanwhile."""
        aside = self.path.with_name(f"{self.path.name}.stale-{os.getpid()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        owner = holder_pid(aside)
        if owner is not None and alive(owner):
            with contextlib.suppress(FileExistsError):
                os.link(aside, self.path)
        aside.unlink(missing_ok=True)


def holder_pid(path: Path) -> int | None:
    """The pid a lock file names, or None when it is unreadable or malformed (stale)."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")[:32]
    except OSError:
        return None
    token = text.split()[0] if text.split() else ""
    return int(token) if token.isdigit() and int(token) > 0 else None


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True                      # exists, owned by someone else
    except OverflowError:
        return False
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed process its parent has not reaped yet still answers signal 0."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
