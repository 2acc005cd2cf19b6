"""Real job-system code to compare jobsim with: Sidekiq's Ruby gem, Celery and RQ.

Each is optional on a laptop (skipped with the reason) and required in CI (``CI`` set),
where ``.ci/run`` installs Debian's ruby-sidekiq and ``make install`` the Python packages.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from needs import need

PROBE = Path(__file__).with_name("sidekiq_probe.rb")
RUBY_REASON = ("ruby with the sidekiq gem not found: apt-get install ruby-sidekiq "
               "(Debian's 6.4.1; CI does)")


def _has_sidekiq() -> bool:
    ruby = shutil.which("ruby")
    if ruby is None:
        return False
    done = subprocess.run([ruby, "-e", "require 'sidekiq'"], capture_output=True, check=False)
    return done.returncode == 0


@pytest.fixture(scope="session")
def sidekiq() -> Any:
    """Call ``sidekiq(request)``: one JSON request to the Ruby probe, its JSON answer."""
    need(_has_sidekiq(), RUBY_REASON)

    def ask(request: dict[str, Any]) -> dict[str, Any]:
        done = subprocess.run(["ruby", str(PROBE)], input=json.dumps(request), text=True,
                              capture_output=True, check=True, timeout=120)
        return json.loads(done.stdout)

    return ask
