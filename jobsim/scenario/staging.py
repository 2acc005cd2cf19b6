"""Atomic output folders: a run is written into a hidden folder beside its destination
and renamed into place only once every file is complete.

Why: an interrupted or failed run used to leave a truncated history under its final
name, beside the previous run's metrics and report. Now a destination folder always
holds one whole run or none: ``Staging`` locks the destination (``lock.FolderLock``),
checks that it can be written before anything is simulated, hands out the hidden
folder, and at ``commit`` swaps it in with two renames on the same file system. Without
``commit`` (an error, Ctrl-C) the hidden folder is removed and the destination is left
as it was. With ``whole_set`` (``--all-variants``) the destination is the parent of
every variant's folder and ``compare.html``, replaced as one set.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from types import TracebackType

from jobsim.report.compare import COMPARE_FILE
from jobsim.scenario.lock import FolderLock, OutputError, alive
from jobsim.scenario.output import ARTEFACTS, METRICS_FILE

MAX_NAME_BYTES = 200         # file systems allow 255; the hidden names add about 20
PROBE_BYTES = 64 * 1024      # written and synced before the run: a full disk fails early
MIN_FREE_BYTES = 1 << 20
_HIDDEN = re.compile(r"\.(?P<name>.+)\.(?:tmp|old)-(?P<pid>\d+)")


def check_folder_name(name: str, what: str) -> None:
    """A folder name jobsim may create: no separators, not hidden, not '.' or '..'."""
    reason = None
    if not name or name in (".", "..") or name.startswith("."):
        reason = f"{name!r} cannot name a folder (empty, hidden, '.' or '..')"
    elif "/" in name or "\0" in name or os.sep in name:
        reason = f"{name!r} cannot name a folder (it holds a path separator)"
    elif len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        reason = (f"{len(name.encode('utf-8', 'surrogatepass'))} bytes is too long for a folder "
                  f"name (at most {MAX_NAME_BYTES})")
    if reason:
        raise OutputError(what, reason)


class Staging:
    """The hidden folder a run writes into, and the swap that publishes it."""

    def __init__(self, target: Path, lock_root: Path | None = None,
                 whole_set: bool = False) -> None:
        self.target = Path(os.path.abspath(target))
        self.lock = FolderLock(Path(os.path.abspath(lock_root or target)))
        self.whole_set = whole_set
        self.folder = self.target.parent / f".{self.target.name}.tmp-{os.getpid()}"
        self.committed = False

    def __enter__(self) -> Staging:
        self.open()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def open(self) -> None:
        """Check, lock and create, before any simulation: every problem is exit 2 now
        rather than after a long run."""
        check_folder_name(self.target.name, str(self.target))
        self._check_destination()
        self._make(self.lock.folder.parent)
        self.lock.acquire()
        try:
            self._make(self.target.parent)
            _remove_abandoned(self.target)
            shutil.rmtree(self.folder, ignore_errors=True)
            self._make(self.folder)
            self._probe()
        except BaseException:
            self.close()
            raise

    def commit(self) -> None:
        """Publish the staged folder at the destination, keeping what is not this run's."""
        if self.target.exists():
            self._carry_over()
            old = self.target.parent / f".{self.target.name}.old-{os.getpid()}"
            os.rename(self.target, old)
            os.rename(self.folder, self.target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(self.folder, self.target)
        self.committed = True

    def close(self) -> None:
        """Remove the staged folder unless it was published; release the lock."""
        try:
            if not self.committed:
                shutil.rmtree(self.folder, ignore_errors=True)
        finally:
            self.lock.release()

    def _check_destination(self) -> None:
        target = self.target
        if target.exists() and not target.is_dir():
            raise OutputError(target, "exists and is not a folder")
        if target.is_dir():
            foreign = next((p.name for p in sorted(target.iterdir()) if not _ours(p)), None)
            if foreign is not None and not _is_run_folder(target):
                raise OutputError(target, f"holds files that are not a jobsim run (e.g. "
                                  f"{foreign!r}); choose a new or empty --out folder")

    def _make(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(folder, f"cannot create the output folder: "
                              f"{exc.strerror or exc}") from None

    def _probe(self) -> None:
        """Write and sync a little before the run: unwritable or full fails here."""
        probe = self.folder / ".probe"
        try:
            with open(probe, "wb") as fh:
                fh.write(b"\0" * PROBE_BYTES)
                fh.flush()
                os.fsync(fh.fileno())
            probe.unlink()
            free = shutil.disk_usage(self.folder).free
        except OSError as exc:
            raise OutputError(self.target, f"not writable: {exc.strerror or exc}") from None
        if free < MIN_FREE_BYTES:
            raise OutputError(self.target, f"not writable: no space left on the device "
                              f"({free} bytes free)")

    def _carry_over(self) -> None:
        """Move into the staged folder what the old destination holds that this run does
        not replace: other variants' folders, the user's own files."""
        staged = {p.name for p in self.folder.iterdir()}
        for entry in sorted(self.target.iterdir()):
            if entry.name in staged or entry.name in ARTEFACTS or _HIDDEN.fullmatch(entry.name):
                continue
            if entry.name.endswith(".lock") and entry.name.startswith("."):
                continue
            if self.whole_set and entry.is_dir() and _is_run_folder(entry):
                continue                      # a variant this set no longer has
            os.rename(entry, self.folder / entry.name)


def _ours(path: Path) -> bool:
    return path.name in ARTEFACTS or path.name.startswith(".") or (
        path.is_dir() and _is_run_folder(path))


def _is_run_folder(folder: Path) -> bool:
    """A folder a jobsim run wrote: its metrics, or a variant set's comparison."""
    return (folder / METRICS_FILE).is_file() or (folder / COMPARE_FILE).is_file() or any(
        (p / METRICS_FILE).is_file() for p in folder.iterdir() if p.is_dir())


def _remove_abandoned(target: Path) -> None:
    """Hidden folders left by runs killed outright (SIGKILL, power loss)."""
    for entry in target.parent.iterdir():
        match = _HIDDEN.fullmatch(entry.name)
        if match and match["name"] == target.name and not alive(int(match["pid"])):
            with contextlib.suppress(OSError):
                shutil.rmtree(entry)
