"""HTML pages from jinja2 templates, and the report of one scenario run.

Why self-contained pages: reports are opened from disk, mailed, attached to CI runs.
Every image is a base64 data URI and the only script is inline, so a page renders
offline with nothing to fetch. ``write_run_report`` is called by
``scenario/output.write_run`` for every ``jobsim simulate``; it reads the history once
(``timeseries.build``) and draws a handful of binned figures.

Drawing costs a fixed few seconds (importing matplotlib, rendering ten PNGs) whatever
the run's size. The runner starts a helper before it simulates (``report/drawing.py``):
matplotlib is imported while the run goes on, and the charts are drawn while the run is
checked. The runner hands that drawing to ``write_run_report`` on its Result (without
one, the report draws its charts itself).
"""

from __future__ import annotations

import base64
from functools import cache
from pathlib import Path
from typing import Any

from jobsim.files import replace_file
from jobsim.history.history import History
from jobsim.report import job_sets
from jobsim.report.drawing import ChartDrawer, draw
from jobsim.report.summary import good, sections, story_line, verdict

TEMPLATES = Path(__file__).with_name("templates")
REPORT_FILE = "report.html"
_MAX_CELL = 120


@cache
def environment() -> Any:
    """The jinja2 environment (autoescaping on): built once per process."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["datauri"] = datauri
    return env


def datauri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def write_page(path: Path, template: str, **context: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, render(template, **context).encode("utf-8"))
    return path


def cell(value: Any) -> str:
    """A short printable table cell."""
    if isinstance(value, float):
        text = f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    elif isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}"
    else:
        text = str(value)
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 3] + "..."


def check_rows(checks: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each check with its verdict, its minimal examples as a table, and its stats."""
    out = []
    for name, c in checks.items():
        examples = c.get("examples") or []
        header = list(dict.fromkeys(k for ex in examples for k in ex))
        out.append({
            "name": name, "ok": c.get("ok", False), "violations": c.get("violations", 0),
            "examples_header": header,
            "examples_rows": [[cell(ex.get(k, "")) for k in header] for ex in examples],
            "stats": [(k, cell(v)) for k, v in (c.get("stats") or {}).items()],
        })
    return out


def run_title(metrics: dict[str, Any]) -> str:
    scenario = metrics.get("scenario") or "run"
    return scenario + (f" / {metrics['variant']}" if metrics.get("variant") else "")


SETTINGS = (("processes", "worker processes"), ("concurrency", "threads per process"),
            ("fetch", "fetch"), ("queues", "queues (name, weight)"), ("mode", "queue order"),
            ("capsules", "capsules (Sidekiq 7)"), ("flavor", "job system"),
            ("death_handlers", "death handlers"),
            ("dead_max_jobs", "dead set size limit"), ("safeguards", "safeguards"),
            ("latency_bounds", "latency bounds (s)"), ("checks", "checks"),
            ("horizon", "horizon (s)"))


# Sidekiq's own settings: under another flavour the config still records their
# defaults, but nothing runs by them (Celery acknowledges by task_acks_late and keeps no
# dead set; RQ's failed registry has no size limit), so the page would state a wrong set-up.
SIDEKIQ_ONLY = frozenset({"fetch", "dead_max_jobs"})


def settings(history: History) -> list[tuple[str, str]]:
    """The system settings the run recorded in its config event, in words."""
    config = next((ev[3] for ev in history.events[:5] if ev[1] == "config"), None) or {}
    flavor = config.get("flavor")
    sidekiq = not isinstance(flavor, dict) or flavor.get("name", "sidekiq") == "sidekiq"
    rows = []
    for key, label in SETTINGS:
        if key not in config or (key in SIDEKIQ_ONLY and not sidekiq):
            continue
        value = config[key]
        if key == "queues":
            value = _queue_list(value)
        elif key == "capsules":
            value = "; ".join(f"{c['name']}: {c['concurrency']} "
                              f"thread{'' if c['concurrency'] == 1 else 's'} on "
                              f"{_queue_list(c['queues'])} ({c['mode']})" for c in value)
        elif key == "safeguards":
            value = "; ".join(f"{n} {o}" for n, o in value.items()) or "none"
        elif isinstance(value, list | dict):
            value = ", ".join(map(str, value)) if isinstance(value, list) else \
                ", ".join(f"{k}: {v}" for k, v in value.items())
        if key == "concurrency" and config.get("capsules"):
            label = "threads per process, default capsule"   # the capsules' row follows
        rows.append((label, cell(value if value != "" else "none")))
    return rows


def _queue_list(queues: list[Any]) -> str:
    return ", ".join(" ".join(str(p) for p in q) if isinstance(q, list) else str(q)
                     for q in queues)


def write_run_report(folder: Path, metrics: dict[str, Any], history: History,
                     charts: ChartDrawer | None = None,
                     tables: dict[str, job_sets.JobSet] | None = None) -> Path:
    """Write ``folder/report.html`` for one run and return its path. ``charts``: a
    drawing of this history already under way (``ChartDrawer``, given the history);
    ``tables``: its ``job_sets.build``, when already made.
    Everything else on the page is made first, the template compiled included, so that
    it is done while the helper still draws: the charts come last."""
    story = metrics.get("story") or None
    page = dict(
        title=run_title(metrics), m=metrics, ok=good(metrics), verdict=verdict(metrics),
        story=story, story_line=story_line([metrics]) if story else "",
        description=" ".join((metrics.get("description") or "").split()),
        schedule=metrics.get("faults") or [], settings=settings(history),
        job_sets=job_sets.build(history) if tables is None else tables,
        sim_seconds=cell(metrics.get("sim_seconds") or 0.0),
        wall_seconds=cell(metrics.get("wall_seconds") or 0.0),
        events=cell(metrics.get("events", len(history))),
        checks=check_rows(metrics.get("checks", {})),
        sections=[s for s in sections(metrics) if s[0] != "Checks"],
    )
    environment().get_template("run.html")          # compiled and cached for write_page
    drawn, faults = draw(history) if charts is None else charts.result()
    return write_page(Path(folder) / REPORT_FILE, "run.html", charts=drawn, faults=faults,
                      **page)
