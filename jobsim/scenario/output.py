"""Where a run's results go on disk: metrics.json, summary.md, history.jsonl.gz and the
HTML report, one folder per run (the base scenario in DIR, each variant in DIR/VARIANT).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jobsim.report.compare import COMPARE_FILE
from jobsim.report.html import REPORT_FILE
from jobsim.report.summary import markdown

HISTORY_FILE = "history.jsonl.gz"
METRICS_FILE = "metrics.json"
SUMMARY_FILE = "summary.md"
ARTEFACTS = frozenset({HISTORY_FILE, METRICS_FILE, SUMMARY_FILE, REPORT_FILE, COMPARE_FILE})


def run_folder(root: Path, variant: str | None) -> Path:
    return root if variant is None else root / variant


def artefact_paths(folder: Path) -> dict[str, Path]:
    """The files of one run in ``folder``, by name (the report only when written)."""
    paths = {"history": folder / HISTORY_FILE, "metrics": folder / METRICS_FILE,
             "summary": folder / SUMMARY_FILE, "report": folder / REPORT_FILE}
    if not paths["report"].exists():
        del paths["report"]
    return paths


def write_run(folder: Path, metrics: dict[str, Any], history: Any,
              charts: Any = None, tables: Any = None) -> dict[str, Path]:
    """Write every artefact of one run; returns their paths by name. The history is
    written here unless the runner already saved it (``run_scenario(history_path=)``);
    ``charts`` is the report's drawing the runner started (``Result.charts``), if any,
    and ``tables`` its job tables, if the runner made them (``Result.tables``)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = artefact_paths(folder)
    if not paths["history"].exists():
        digest = history.to_jsonl(paths["history"])
        if digest != metrics["history_digest"]:
            raise RuntimeError(f"history digest changed while saving: {digest}")
    paths["metrics"].write_text(json.dumps(metrics, indent=2, sort_keys=False) + "\n")
    paths["summary"].write_text(markdown(metrics) + "\n")
    html = _html_writer()
    if html is not None:
        paths["report"] = html(folder, metrics, history, charts, tables)
    return paths


def _html_writer() -> Any:
    """The HTML report writer, when the report layer provides one."""
    try:
        from jobsim.report.html import write_run_report
    except ImportError:
        return None
    return write_run_report
