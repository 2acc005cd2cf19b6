"""summary.md is Markdown a viewer renders: user strings must arrive as inert text."""

from __future__ import annotations

from typing import Any

from jobsim.report.summary import markdown, md_text

SCRIPT = '<script>alert("x")</script>'


def metrics(equals: Any, metric: str = "jobs.lost") -> dict[str, Any]:
    return {
        "scenario": "s", "variant": None, "seed": 1, "broker": "memory", "scale": 1.0,
        "sim_seconds": 10.0, "wall_seconds": 0.1, "history_digest": "sha256:00",
        "jobs": {"executions": 0, "retries": 0},
        "retries": {"peak_per_minute": 0}, "effects": {"total": 0, "duplicates": 0},
        "queues": {}, "checks": {"no_loss": {"ok": True, "violations": 0, "examples": []}},
        "expectations": [{"metric": metric, "op": "equals", "value": equals,
                          "actual": 0, "ok": False}],
    }


def test_an_expectation_string_is_escaped_not_copied_raw() -> None:
    text = markdown(metrics(SCRIPT))
    assert "<script" not in text and "</script>" not in text
    assert "&lt;script&gt;" in text


def test_a_pipe_or_newline_cannot_add_cells_or_rows() -> None:
    text = markdown(metrics("a | b\n| c |", metric="x|y"))
    row = next(line for line in text.splitlines() if line.startswith("| x"))
    assert row.count(" | ") == 3                       # four cells, as the header says
    assert "a \\| b \\| c \\|" in row


def test_md_text_leaves_plain_names_readable() -> None:
    assert md_text("queues.critical.latency_p99_s") == "queues.critical.latency_p99_s"
    assert md_text("[x](javascript:alert(1))") == "\\[x\\](javascript:alert(1))"
    assert md_text("a & b `c`") == "a &amp; b \\`c\\`"
