"""The end-of-run summary: the story's answer, jobs by final state, latency per queue and
per job class, how failures ended, and every check and expectation with its verdict.
Built from metrics.json alone, as a Markdown document (summary.md) and as rows for the
terminal tables (each fits 80 columns).

A value with no data (``None``: a queue that started nothing) is shown as "—", never as
0.000, which would read as "instant".
"""

from __future__ import annotations

import html
from typing import Any

from jobsim.checks.verdicts import GOOD, word

STATES = ("enqueued", "succeeded", "dead", "discarded", "canceled", "lost", "in_flight")
NO_DATA = "—"
EXAMPLE_WIDTH = 34       # the terminal's "first example" column; the report shows all


def fmt(value: Any) -> str:
    """A number for a table cell: "—" for no data, thousands separated."""
    if value is None:
        return NO_DATA
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def seconds(value: Any) -> str:
    """A duration for a sentence: "0.031 s", "4.2 s", "431 s", "1.3 h"; "—" for none."""
    if value is None:
        return NO_DATA
    if not isinstance(value, int | float) or isinstance(value, bool):
        return str(value)
    if abs(value) >= 3 * 3600:
        return f"{value / 3600:.1f} h"
    if abs(value) >= 100:
        return f"{value:,.0f} s"
    if abs(value) >= 1:
        return f"{value:.1f} s"
    return f"{value:.2g} s" if value else "0 s"


def sections(m: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for each part of the summary."""
    jobs = m["jobs"]
    out = [("Jobs", ["state", "count"], [[s, fmt(jobs.get(s, 0))] for s in STATES])]
    out.append(("Work", ["measure", "value"], [
        ["executions", fmt(jobs["executions"])],
        ["retries scheduled", fmt(jobs["retries"])],
        ["retry peak per minute", fmt(m["retries"]["peak_per_minute"])],
        ["effects", fmt(m["effects"]["total"])],
        ["duplicate effects", fmt(m["effects"]["duplicates"])],
    ]))
    queues = [[name, fmt(q["fetched"]), fmt(q["latency_p50_s"]), fmt(q["latency_p95_s"]),
               fmt(q["latency_p99_s"]), fmt(q["latency_max_s"]), fmt(q["max_depth"])]
              for name, q in sorted(m["queues"].items())]
    out.append(("Queues (wait in seconds)",
                ["queue", "fetched", "p50", "p95", "p99", "max", "max depth"], queues))
    classes = m.get("jobs_by_class") or {}
    out.append(("Job classes (wait and run time in seconds)",
                ["class", "jobs", "wait p50", "p99", "max", "run p50", "run p99"],
                [[name, fmt(c["enqueued"]), fmt(c["latency_p50_s"]), fmt(c["latency_p99_s"]),
                  fmt(c["latency_max_s"]), fmt(c["run_time_p50_s"]), fmt(c["run_time_p99_s"])]
                 for name, c in classes.items()]))
    out.append(("Failures by job class", ["class", "runs", "retries", "dead", "discarded",
                                          "top cause"],
                [[name, fmt(c["executions"]), fmt(c["retries"]), fmt(c["dead"]),
                  fmt(c["discarded"]), _top_cause(c)]
                 for name, c in classes.items() if c["retries"] or c["dead"] or c["discarded"]]))
    # a checker that raised reads UNKNOWN with its error, never a plain FAIL
    checks = [[name, c.get("verdict") or word(c["ok"]), fmt(c["violations"]),
               c.get("error") or _example(c["examples"])]
              for name, c in m["checks"].items()]
    out.append(("Checks", ["check", "verdict", "violations", "first example"], checks))
    expectations = [[e["metric"], f"{e['op']} {fmt(e['value'])}", fmt(e["actual"]),
                     word(e["ok"])] for e in m["expectations"]]
    out.append(("Expectations", ["metric", "rule", "actual", "verdict"], expectations))
    for title, header, rows in _extra(m):
        out.append((title, header, rows))
    return out


def _top_cause(c: dict[str, Any]) -> str:
    """The commonest error behind the class's deaths (else discards, else retries)."""
    for name in ("dead", "discarded", "retries"):
        causes = c.get(f"{name}_by_error") or {}
        if causes:
            error, count = next(iter(causes.items()))
            return f"{error}: {count:,}"
    return ""


def _extra(m: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """Highlight rows (plug-ins' metrics hooks add them), when the run has them."""
    lines = m.get("highlights") or []
    if not lines:
        return []
    return [("Highlights", ["measure", "value"], [[k, fmt(v)] for k, v in lines])]


def _example(examples: list[dict[str, Any]]) -> str:
    if not examples:
        return ""
    text = ", ".join(f"{k}={v}" for k, v in examples[0].items())
    return text if len(text) <= EXAMPLE_WIDTH else text[:EXAMPLE_WIDTH - 1] + "…"


def held(m: dict[str, Any]) -> bool | None:
    """True: every check and expectation held; False: one failed; None: nothing failed
    but something could not be judged. A run that reproduces a known failure is judged
    on its expectations (and on checks that could not judge): its checks are expected to
    fail, and its expectations say how."""
    checks = [c["ok"] for c in m["checks"].values()]
    if m.get("reproduces"):
        checks = [ok for ok in checks if ok is None]
    results = checks + [e["ok"] for e in m["expectations"]]
    if any(r is False for r in results):
        return False
    return None if any(r is None for r in results) else True


def verdict(m: dict[str, Any]) -> str:
    """The run's verdict word (``checks.verdicts``)."""
    return word(held(m), bool(m.get("reproduces")))


def good(m: dict[str, Any]) -> bool:
    return verdict(m) in GOOD


def story_value(m: dict[str, Any]) -> Any:
    story = m.get("story") or {}
    return story.get("value")


def story_line(results: list[dict[str, Any]]) -> str | None:
    """The story's metric across the runs: "payments p99 wait: 0.031 s (base) -> 431 s
    (single_fifo)" for a base and one variant, "jobs lost: 0 (base), 12 (celery), 0 (rq)"
    for more, and "jobs lost: 0 in every run" when no run differs (an arrow between
    equal values would promise a change). None when the scenario states no story."""
    story = (results[0].get("story") or {}) if results else {}
    if not story:
        return None
    show = seconds if story["metric"].endswith("_s") else fmt
    label = story.get("label") or story["metric"]
    values = [show(story_value(m)) for m in results]
    if len(results) > 1 and len(set(values)) == 1:
        return f"{label}: {values[0]} in every run ({', '.join(_run_names(results))})"
    parts = [f"{v} ({name})" for v, name in zip(values, _run_names(results), strict=True)]
    return f"{label}: {(' -> ' if len(parts) == 2 else ', ').join(parts)}"


def _run_names(results: list[dict[str, Any]]) -> list[str]:
    return [m.get("variant") or "base" for m in results]


def threads_text(m: dict[str, Any]) -> str:
    """"2 processes x 1 thread": the worker threads the run had (after ``--scale``);
    with Sidekiq 7 capsules, "2 processes x 6 threads (5 + 1 in capsules)"."""
    system = m.get("system") or {}
    processes, concurrency = system.get("processes"), system.get("concurrency")
    threads = system.get("threads", concurrency)
    text = (f"{processes} process{'es' if processes != 1 else ''} x {threads} "
            f"thread{'s' if threads != 1 else ''}")
    if threads != concurrency:
        text += f" ({concurrency} + {threads - concurrency} in capsules)"
    return text


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
    lines = [f"# {title}", ""]
    if m.get("description"):
        lines += [md_text(m["description"]), ""]
    story = m.get("story") or {}
    if story:
        lines += [f"**{md_text(story['question'])}** {md_text(story_line([m]))}", ""]
    lines += [f"Verdict: **{verdict(m)}**  ",
              f"seed {m['seed']}, broker {md_text(m['broker'])}, scale {m.get('scale', 1.0)}"
              f"{f' ({threads_text(m)})' if m.get('system') else ''}, "
              f"{fmt(m['sim_seconds'])} simulated s in {fmt(m['wall_seconds'])} wall s  ",
              f"history digest `{m['history_digest']}`", ""]
    for title_, header, rows in sections(m):
        if not rows:
            continue
        lines += [f"## {title_}", "", "| " + " | ".join(header) + " |",
                  "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(md_text(cell) for cell in r) + " |" for r in rows]
        lines.append("")
    return "\n".join(lines)
