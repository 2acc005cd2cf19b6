"""Write-then-rename, for every output written in place (outside a staged run folder).

Why: a reader (a browser, CI, a resumed sweep) must see the old file or the new one,
never a part; a Ctrl-C or a full disk between the two leaves the old file whole.
"""

from __future__ import annotations

import os
from pathlib import Path


def replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a sibling temporary file, flush it to disk, then rename it over
    ``path`` (atomic on POSIX within one file system)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
