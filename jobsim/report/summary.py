"""The end-of-run summary: jobs by final state, queue latency, retries, duplicate effects,
and every check and expectation with its verdict. Built from metrics.json alone, as a
Markdown document (summary.md) and as rows for the terminal table.
"""

from __future__ import annotations

import html
from typing import Any

STATES = ("enqueued", "succeeded", "dead", "discarded", "canceled", "lost", "in_flight")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def sections(m: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for each part of the summary."""
    jobs = m["jobs"]
    out = [("Jobs", ["state", "count"], [[s, _fmt(jobs.get(s, 0))] for s in STATES])]
    out.append(("Work", ["measure", "value"], [
        ["executions", _fmt(jobs["executions"])],
        ["retries scheduled", _fmt(jobs["retries"])],
        ["retry peak per minute", _fmt(m["retries"]["peak_per_minute"])],
        ["effects", _fmt(m["effects"]["total"])],
        ["duplicate effects", _fmt(m["effects"]["duplicates"])],
    ]))
    queues = [[name, _fmt(q["fetched"]), _fmt(q["latency_p50_s"]), _fmt(q["latency_p95_s"]),
               _fmt(q["latency_p99_s"]), _fmt(q["latency_max_s"]), _fmt(q["max_depth"])]
              for name, q in sorted(m["queues"].items())]
    out.append(("Queues (latency in seconds)",
                ["queue", "fetched", "p50", "p95", "p99", "max", "max depth"], queues))
    checks = [[name, "pass" if c["ok"] else "FAIL", _fmt(c["violations"]),
               _example(c["examples"])] for name, c in m["checks"].items()]
    out.append(("Checks", ["check", "verdict", "violations", "first example"], checks))
    expectations = [[e["metric"], f"{e['op']} {_fmt(e['value'])}", _fmt(e["actual"]),
                     "pass" if e["ok"] else "FAIL"] for e in m["expectations"]]
    out.append(("Expectations", ["metric", "rule", "actual", "verdict"], expectations))
    for title, header, rows in _extra(m):
        out.append((title, header, rows))
    return out


def _extra(m: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """Scenario-specific lines (e.g. one per idempotency guard), when the run has them."""
    lines = m.get("highlights") or []
    if not lines:
        return []
    return [("Highlights", ["measure", "value"], [[k, _fmt(v)] for k, v in lines])]


def _example(examples: list[dict[str, Any]]) -> str:
    if not examples:
        return ""
    first = examples[0]
    text = ", ".join(f"{k}={v}" for k, v in first.items())
    return text if len(text) <= 90 else text[:87] + "..."


def verdict(m: dict[str, Any]) -> bool:
    return all(c["ok"] for c in m["checks"].values()) and all(
        e["ok"] for e in m["expectations"])


def md_text(value: Any) -> str:
    """A string as literal Markdown text: HTML escaped (a viewer must never run an
    ``expect ... equals: "<script>"`` from a scenario file), and the characters that
    would end a table cell, open a link or code span, or break a line made inert."""
    text = html.escape(" ".join(str(value).split()), quote=False)
    for char in "\\`|[]*":
        text = text.replace(char, "\\" + char)
    return text


def markdown(m: dict[str, Any]) -> str:
    title = md_text(m["scenario"] + (f" / {m['variant']}" if m.get("variant") else ""))
    lines = [f"# {title}", "",
             f"Verdict: **{'PASS' if verdict(m) else 'FAIL'}**  ",
             f"seed {m['seed']}, broker {md_text(m['broker'])}, scale {m.get('scale', 1.0)}, "
             f"{_fmt(m['sim_seconds'])} simulated s in {_fmt(m['wall_seconds'])} wall s  ",
             f"history digest `{m['history_digest']}`", ""]
    for title_, header, rows in sections(m):
        lines += [f"## {title_}", "", "| " + " | ".join(header) + " |",
                  "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(md_text(cell) for cell in r) + " |" for r in rows]
        lines.append("")
    return "\n".join(lines)
