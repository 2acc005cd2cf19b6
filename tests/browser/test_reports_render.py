"""Each kind of report opened in headless Chromium: it renders its figures, logs no console
error, and a screenshot comes out.

How: every report page carries a tiny inline script that, on window load, writes how many
images exist and how many decoded (``naturalWidth > 0``) onto ``<body data-images
data-images-ok data-rendered>``. ``--dump-dom`` prints the DOM after load, so the test reads
those attributes back; ``--enable-logging=stderr`` puts console messages (``CONSOLE``) and
uncaught errors on stderr. A second run takes the screenshot. No extra Python dependency.

Without Chromium the test is skipped with a reason, except in CI (env CI set), where it
fails: CI installs the ``chromium`` package (see .ci/run).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--hide-scrollbars", "--mute-audio")
TIMEOUT_S = 120
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def chromium() -> str:
    """The browser binary, or skip (fail in CI) when absent."""
    for candidate in (os.environ.get("JOBSIM_CHROMIUM"), shutil.which("chromium"),
                      "/usr/bin/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    reason = "chromium not installed (apt-get install chromium); CI installs it"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    command = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S,
                          check=False)


def render(page: Path, work: Path) -> tuple[dict[str, str], list[str], Path]:
    """(body attributes after load, console/uncaught lines, screenshot path)."""
    url = page.resolve().as_uri()
    dom = _run(["--enable-logging=stderr", "--v=0", "--dump-dom", url], work / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body, dom.stdout[:500]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    console = [line for line in dom.stderr.splitlines()
               if ":CONSOLE" in line or "Uncaught" in line]
    shot = work / f"{page.parent.name}-{page.stem}.png"
    snap = _run(["--window-size=1280,2000", f"--screenshot={shot}", url], work / "profile-shot")
    assert snap.returncode == 0, snap.stderr[-2000:]
    return attrs, console, shot


def assert_rendered(page: Path, work: Path, min_images: int) -> None:
    attrs, console, shot = render(page, work)
    assert attrs.get("data-rendered") == "1", f"{page}: load handler never ran: {attrs}"
    images, ok = int(attrs["data-images"]), int(attrs["data-images-ok"])
    assert images >= min_images, f"{page}: {images} images, expected >= {min_images}"
    assert ok == images, f"{page}: only {ok} of {images} images decoded"
    assert not console, f"{page}: console output: {console[:5]}"
    data = shot.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000, f"{shot}: empty screenshot"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chromium()
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="module")
def scenario_runs(work: Path) -> Path:
    """black_friday at 1 % scale, base and single_fifo, written as ``simulate`` does."""
    from jobsim.report.compare import write_comparison
    from jobsim.scenario.output import run_folder, write_run
    from jobsim.scenario.runner import run_scenario

    root = work / "black_friday"
    results = []
    for variant in (None, "single_fifo"):
        result = run_scenario("black_friday", variant=variant, scale=0.01)
        write_run(run_folder(root, variant), result.metrics, result.history, result.charts)
        results.append(result.metrics)
    write_comparison(root, results)
    return root


def test_scenario_run_report_renders(scenario_runs: Path, work: Path) -> None:
    assert_rendered(scenario_runs / "report.html", work, min_images=5)


def test_comparison_page_renders(scenario_runs: Path, work: Path) -> None:
    assert_rendered(scenario_runs / "compare.html", work, min_images=1)


def test_retries_report_renders(work: Path) -> None:
    from jobsim.report.retries import write_report

    out = work / "retries"
    specs = ["sidekiq", "exponential:jitter=none,base=1,cap=600",
             "exponential:jitter=full,base=1,cap=600"]
    write_report(out, specs, jobs=100, recover_s=600)
    assert_rendered(out / "report.html", work, min_images=2 + len(specs))


@pytest.fixture(scope="module")
def contention_page(work: Path) -> Path:
    from jobsim.report.contention import write_report

    out = work / "contention"
    write_report(out, [2, 4, 6], reps=1)
    return out / "report.html"


def test_contention_report_renders(contention_page: Path, work: Path) -> None:
    assert_rendered(contention_page, work, min_images=2)


def test_a_broken_image_is_detected(contention_page: Path, work: Path) -> None:
    """The probe must be able to fail: the same page with one undecodable image."""
    page = work / "broken" / "report.html"
    page.parent.mkdir(exist_ok=True)
    marker = "data:image/png;base64,"
    page.write_text(contention_page.read_text().replace(marker, marker + "AA", 1))
    attrs, _console, _shot = render(page, work)
    assert int(attrs["data-images-ok"]) == int(attrs["data-images"]) - 1


def test_a_console_error_is_detected(contention_page: Path, work: Path) -> None:
    """An uncaught script error in the page shows up in the captured console lines."""
    page = work / "scripterror" / "report.html"
    page.parent.mkdir(exist_ok=True)
    page.write_text(contention_page.read_text().replace(
        "</body>", "<script>notDefinedAnywhere();</script></body>", 1))
    _attrs, console, _shot = render(page, work)
    assert any("notDefinedAnywhere" in line for line in console), console
