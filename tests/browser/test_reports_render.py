"""What a person sees: each kind of report opened in headless Chromium.

For report.html, compare.html and the retry report the test checks that the page logs no
console error, that every figure decoded, that each figure's data area in a screenshot
of the whole page is not blank (the pixel spread inside the figure is above a floor),
and that the story headline and the description are on the page. Negative controls show
that the probe can fail: a blanked figure, an undecodable image, a script error and a
page without its story headline (as compare.html was before it told the story).

How: every report page carries a small inline script that, on window load, writes onto
``<body>`` how many images exist and decoded, where each figure's image sits
(``data-figures="fig-ID:x,y,w,h;..."``) and the page's height. ``--dump-dom`` prints the
DOM after load; ``--enable-logging=stderr`` puts console messages (``CONSOLE``) and
uncaught errors on stderr. A second run takes a screenshot as tall as the page at the
same width and scale, which is cut into figures with Pillow (matplotlib's own image
library, so no extra dependency).

Without Chromium the tests skip with a reason, except in CI (env CI set), where they
fail: .ci/run installs the ``chromium`` package and exports JOBSIM_CHROMIUM.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from needs import need

pytestmark = pytest.mark.browser

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--hide-scrollbars", "--mute-audio", "--force-device-scale-factor=1")
WIDTH = 1280
TIMEOUT_S = 180
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Standard deviation of grey levels (0..255) inside a figure's data area. A white or
# single-colour figure is 0; real charts measure 15 to 60, and a "none: ..." panel's
# centred sentence about 10.
SPREAD_FLOOR = 4.0


def chromium() -> str:
    """The browser binary, or skip (fail in CI) when absent."""
    for candidate in (os.environ.get("JOBSIM_CHROMIUM"), shutil.which("chromium"),
                      "/usr/bin/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    need(False, "chromium not installed (apt-get install chromium); CI installs it")
    raise AssertionError("unreachable")


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    command = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S,
                          check=False)


@dataclass
class Seen:
    """What Chromium showed: body attributes, console lines, screenshot, figure boxes."""

    attrs: dict[str, str]
    console: list[str]
    shot: Path
    dom: str
    figures: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)


def render(page: Path, work: Path) -> Seen:
    url = page.resolve().as_uri()
    dom = _run(["--enable-logging=stderr", "--v=0", f"--window-size={WIDTH},2000",
                "--dump-dom", url], work / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body, dom.stdout[:500]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    console = [line for line in dom.stderr.splitlines()
               if ":CONSOLE" in line or "Uncaught" in line]
    figures = {}
    for item in filter(None, attrs.get("data-figures", "").split(";")):
        name, _, box = item.rpartition(":")
        x, y, w, h = (int(v) for v in box.split(","))
        figures[name] = (x, y, w, h)
    height = min(int(attrs.get("data-height", "2000")) + 20, 16000)
    shot = work / f"{page.parent.name}-{page.stem}.png"
    snap = _run([f"--window-size={WIDTH},{height}", f"--screenshot={shot}", url],
                work / "profile-shot")
    assert snap.returncode == 0, snap.stderr[-2000:]
    return Seen(attrs, console, shot, dom.stdout, figures)


def spread(shot: Path, box: tuple[int, int, int, int]) -> float:
    """Grey-level standard deviation inside the inner part of a figure's box: the data
    area, away from the frame."""
    from PIL import Image, ImageStat

    x, y, w, h = box
    with Image.open(shot) as image:
        inner = image.convert("L").crop((x + w // 8, y + h // 8, x + w * 7 // 8,
                                         y + h * 7 // 8))
        return ImageStat.Stat(inner).stddev[0]


def text_of(dom: str, css_class: str) -> str:
    """The text of the first element with ``class="css_class"`` ('' when absent)."""
    found = re.search(rf'<(\w+)[^>]*class="{css_class}"[^>]*>(.*?)</\1>', dom, re.S)
    return html.unescape(re.sub(r"<[^>]+>|\s+", " ", found.group(2))).strip() if found else ""


def problems(seen: Seen, min_images: int, story: bool = True) -> list[str]:
    """Everything a person would notice is wrong with the page; [] when none."""
    out = []
    if seen.attrs.get("data-rendered") != "1":
        return [f"load handler never ran: {seen.attrs}"]
    images, ok = int(seen.attrs["data-images"]), int(seen.attrs["data-images-ok"])
    if images < min_images:
        out.append(f"{images} images, expected >= {min_images}")
    if ok != images:
        out.append(f"only {ok} of {images} images decoded")
    if seen.console:
        out.append(f"console output: {seen.console[:5]}")
    data = seen.shot.read_bytes()
    if data[:8] != PNG_MAGIC or len(data) < 10_000:
        out.append(f"{seen.shot}: empty screenshot")
    for name, box in seen.figures.items():
        value = spread(seen.shot, box)
        if value < SPREAD_FLOOR:
            out.append(f"figure {name} is blank (grey-level spread {value:.1f})")
    if story and not text_of(seen.dom, "story"):
        out.append("no story headline (class=story)")
    if not text_of(seen.dom, "description"):
        out.append("no description (class=description)")
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chromium()
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="module")
def scenario_runs(work: Path) -> Path:
    """black_friday at 2 % scale, base and single_fifo, written as ``simulate`` does."""
    from jobsim.report.compare import write_comparison
    from jobsim.scenario.output import run_folder, write_run
    from jobsim.scenario.runner import run_scenario

    root = work / "black_friday"
    results = []
    for variant in (None, "single_fifo"):
        result = run_scenario("black_friday", variant=variant, scale=0.02)
        write_run(run_folder(root, variant), result.metrics, result.history, result.charts)
        results.append(result.metrics)
    write_comparison(root, results)
    return root


@pytest.fixture(scope="module")
def retries_page(work: Path) -> Path:
    from jobsim.report.retries import write_report

    out = work / "retries"
    specs = ["sidekiq", "exponential:jitter=none,base=1,cap=600",
             "exponential:jitter=full,base=1,cap=600"]
    write_report(out, specs, jobs=100, recover_s=600)
    return out / "report.html"


def test_scenario_run_report_shows_its_story(scenario_runs: Path, work: Path) -> None:
    seen = render(scenario_runs / "report.html", work)
    assert problems(seen, min_images=6) == []
    assert "fig-service-payment" in seen.figures          # the faulted service's chart
    assert text_of(seen.dom, "story").startswith("How long do payments wait")


def test_comparison_page_shows_its_story(scenario_runs: Path, work: Path) -> None:
    seen = render(scenario_runs / "compare.html", work)
    assert problems(seen, min_images=2) == []
    assert next(iter(seen.figures)) == "fig-story"          # the story chart comes first
    assert "(base) -> " in text_of(seen.dom, "story")


def test_retries_report_shows_its_story(retries_page: Path, work: Path) -> None:
    seen = render(retries_page, work)
    assert problems(seen, min_images=2 + 3) == []


def test_a_blanked_figure_is_detected(scenario_runs: Path, work: Path) -> None:
    """Negative control: the same page with one figure replaced by a white image of the
    same size is reported as blank, and only that figure is."""
    from PIL import Image

    page = scenario_runs / "report.html"
    text = page.read_text()
    found = re.search(r'<figure id="fig-service-payment">\s*<img src="data:image/png;'
                      r'base64,([^"]+)"', text)
    assert found
    with Image.open(io.BytesIO(base64.b64decode(found.group(1)))) as image:
        size = image.size
    white = io.BytesIO()
    Image.new("RGB", size, "white").save(white, format="PNG")
    blanked = work / "blanked" / "report.html"
    blanked.parent.mkdir(exist_ok=True)
    blanked.write_text(text.replace(found.group(1),
                                    base64.b64encode(white.getvalue()).decode(), 1))
    found_problems = problems(render(blanked, work), min_images=6)
    assert len(found_problems) == 1
    assert found_problems[0].startswith("figure fig-service-payment is blank")


def test_a_page_without_its_story_headline_fails(scenario_runs: Path, work: Path) -> None:
    """Negative control: compare.html as it was before it told the story (no headline,
    no description) fails the probe."""
    page = scenario_runs / "compare.html"
    old = work / "nostory" / "compare.html"
    old.parent.mkdir(exist_ok=True)
    text = re.sub(r'<p class="(story|description)">.*?</p>', "", page.read_text(),
                  flags=re.S)
    old.write_text(text)
    assert problems(render(old, work), min_images=2) == [
        "no story headline (class=story)", "no description (class=description)"]


@pytest.fixture(scope="module")
def contention_page(work: Path) -> Path:
    from jobsim.report.contention import write_report

    out = work / "contention"
    write_report(out, [2, 4, 6], reps=1)
    return out / "report.html"


def test_contention_report_renders(contention_page: Path, work: Path) -> None:
    assert problems(render(contention_page, work), min_images=2, story=False) == []


def test_a_broken_image_is_detected(contention_page: Path, work: Path) -> None:
    """The probe must be able to fail: the same page with one undecodable image."""
    page = work / "broken" / "report.html"
    page.parent.mkdir(exist_ok=True)
    marker = "data:image/png;base64,"
    page.write_text(contention_page.read_text().replace(marker, marker + "AA", 1))
    seen = render(page, work)
    assert int(seen.attrs["data-images-ok"]) == int(seen.attrs["data-images"]) - 1


def test_a_console_error_is_detected(contention_page: Path, work: Path) -> None:
    """An uncaught script error in the page shows up in the captured console lines."""
    page = work / "scripterror" / "report.html"
    page.parent.mkdir(exist_ok=True)
    page.write_text(contention_page.read_text().replace(
        "</body>", "<script>notDefinedAnywhere();</script></body>", 1))
    seen = render(page, work)
    assert any("notDefinedAnywhere" in line for line in seen.console), seen.console
