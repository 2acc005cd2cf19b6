"""Model code never reads the wall clock, sleeps, or draws from a global RNG.

A run must be a pure function of (scenario, seed, code). The scan reads the AST, so an
alias (``import time as t``, ``from random import choice``) cannot slip past it, and a
comment or string that merely mentions ``time.time()`` does not trip it.
"""

from __future__ import annotations

import ast
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "jobsim"

# Non-model files: they measure wall time (benchmarks, runner), or only render results.
ALLOWLIST = (
    "jobsim/bench/*",
    "jobsim/cli.py",
    "jobsim/report/*",
    "jobsim/validate/*",
    "jobsim/scenario/runner.py",
    "jobsim/broker/namespace.py",   # a run's Redis key prefix: never part of the history
    # fakeredis's own clock for key expiry, set before each command as its socket does;
    # the broker sets no Redis TTL (expiry is compared with the simulated now)
    "jobsim/broker/embedded.py",
)

FORBIDDEN = frozenset({
    "time.time", "time.time_ns", "time.monotonic", "time.monotonic_ns",
    "time.perf_counter", "time.perf_counter_ns", "time.process_time", "time.sleep",
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today",
    "datetime.date.today",
    "os.urandom", "uuid.uuid1", "uuid.uuid4",  # nondeterministic ids are randomness too
})
RNG_MODULES = frozenset({"random", "secrets"})
ALLOWED_RNG = frozenset({"random.Random"})  # a seeded instance, as Streams builds


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> dotted name it was imported as."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.expr) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _forbidden(name: str) -> bool:
    module, _, rest = name.partition(".")
    if module in RNG_MODULES and rest:
        return ".".join(name.split(".")[:2]) not in ALLOWED_RNG
    return name in FORBIDDEN


def scan(source: str, filename: str = "<source>") -> list[str]:
    """``file:line: name`` for every wall-clock, sleep, global-RNG or hash() reference."""
    tree = ast.parse(source, filename)
    aliases = _aliases(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in RNG_MODULES:
            if any(a.name == "*" for a in node.names):
                found.append(f"{filename}:{node.lineno}: from {node.module} import *")
            continue
        if not isinstance(node, ast.Name | ast.Attribute):
            continue
        parts = _dotted(node)
        if parts is None:
            continue
        if parts == ["hash"] and "hash" not in aliases and isinstance(node.ctx, ast.Load):
            found.append(f"{filename}:{node.lineno}: hash() (salted per process)")
            continue
        if parts[0] not in aliases:
            continue
        name = ".".join([aliases[parts[0]], *parts[1:]])
        if _forbidden(name):
            found.append(f"{filename}:{node.lineno}: {name}")
    return found


def model_files() -> list[Path]:
    files = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if not any(fnmatch(rel, pattern) for pattern in ALLOWLIST):
            files.append(path)
    return files


def test_model_code_uses_only_simulated_time_and_named_streams() -> None:
    files = model_files()
    scanned = {p.relative_to(ROOT).as_posix() for p in files}
    assert "jobsim/sim/streams.py" in scanned  # the scan is not vacuous
    found = [hit for p in files for hit in scan(p.read_text(encoding="utf-8"), str(p))]
    assert found == [], "model code must take time and randomness from the Simulation:\n" + (
        "\n".join(found)
    )


@pytest.mark.parametrize(
    "source",
    [
        "import time\ntime.time()",
        "import time as t\nt.sleep(1)",
        "from time import perf_counter\nperf_counter()",
        "from time import monotonic as clock\nx = clock",
        "import datetime\ndatetime.datetime.now()",
        "from datetime import datetime\ndatetime.utcnow()",
        "import datetime as dt\ndt.date.today()",
        "import random\nrandom.random()",
        "import random\nrandom.choice([1, 2])",
        "from random import randint\nrandint(0, 9)",
        "from random import *",
        "import uuid\nuuid.uuid4()",
        "def key(x):\n    return hash(x)",
    ],
)
def test_scanner_reports_each_forbidden_use(source: str) -> None:
    assert len(scan(source)) == 1, source


@pytest.mark.parametrize(
    "source",
    [
        "import random\nrng = random.Random(42)\nrng.random()",
        "from random import Random\nRandom(1).choice([1])",
        "def f(sim):\n    return sim.now + sim.streams['x'].random()",
        "x = 'time.time()'  # time.sleep(1) in a comment",
        "import datetime\nd = datetime.timedelta(seconds=1)",
        "def f(time):\n    return time.time()",  # a parameter, not the module
    ],
)
def test_scanner_allows_seeded_streams_and_simulated_time(source: str) -> None:
    assert scan(source) == []
