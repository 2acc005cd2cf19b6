"""``jobsim report backoff-contention``: the AWS 2015 contention experiment (docs/semantics.md).

N clients race to update one optimistic-concurrency row. Each attempt is a read (the
server answers the row's version) then a conditional write of that version; the write
succeeds only if nobody wrote in between. On a conflict the client backs off per its
policy and tries again. Every hop (request or reply) takes |Normal(10 ms, 2 ms)|;
exponential policies use base 5 ms and cap 2 s. The published result: total calls order
no backoff > exponential without jitter > decorrelated > equal >= full jitter, full
jitter well under half the calls of exponential at N = 100; work grows about as N^2.

A plain event loop (a heap of server arrivals) is enough: the server is the only place
order matters, and it answers instantly. Policies come from ``jobsim.backoff`` so the
experiment exercises the same math as the job system. Seeded and deterministic.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobsim import backoff
from jobsim.report.figures import Chart

BASE_S, CAP_S = 0.005, 2.0
HOP_MEAN_S, HOP_SD_S = 0.010, 0.002
_EXPO = f"exponential:base={BASE_S},cap={CAP_S:g},jitter="
POLICIES: dict[str, str | None] = {
    "no backoff": None,
    "exponential": _EXPO + "none",
    "decorrelated jitter": _EXPO + "decorrelated",
    "equal jitter": _EXPO + "equal",
    "full jitter": _EXPO + "full",
}
PUBLISHED_ORDER = ("no backoff", "exponential", "decorrelated jitter", "equal jitter",
                   "full jitter")
EQUAL_FULL_TOLERANCE = 0.95   # "equal >= full": equal may dip 5 % under full (noise)
_READ, _WRITE = 0, 1


@dataclass
class Trial:
    calls: int          # reads + conditional writes that reached the server
    completion_s: float  # when the last client's write was acknowledged


def run_trial(clients: int, spec: str | None, rng: random.Random) -> Trial:
    """One race of ``clients`` clients under one policy (None: retry at once)."""
    policy = backoff.parse(spec) if spec else None
    gauss = rng.gauss

    def hop() -> float:
        return abs(gauss(HOP_MEAN_S, HOP_SD_S))

    version, calls, seq, done_at = 0, 0, 0, 0.0
    failures = [0] * clients
    prev: list[float | None] = [None] * clients
    heap: list[tuple[float, int, int, int, int]] = []
    for c in range(clients):
        heap.append((hop(), seq, _READ, c, 0))
        seq += 1
    heapq.heapify(heap)
    while heap:
        t, _, kind, c, seen = heapq.heappop(heap)
        calls += 1
        if kind == _READ:       # reply to the client, which sends its write at once
            heapq.heappush(heap, (t + hop() + hop(), seq, _WRITE, c, version))
        elif seen == version:   # the conditional write wins
            version += 1
            done_at = max(done_at, t + hop())
            continue
        else:                   # conflict: the reply arrives, the client backs off
            wait = 0.0
            if policy is not None:
                wait = prev[c] = policy.delay(failures[c], rng, prev[c])
            failures[c] += 1
            heapq.heappush(heap, (t + hop() + wait + hop(), seq, _READ, c, 0))
        seq += 1
    return Trial(calls, done_at)


def experiment(clients: list[int], reps: int = 10, seed: int = 2015) -> dict[str, Any]:
    """Mean calls and completion time per policy and N, over ``reps`` seeded trials."""
    results: dict[str, dict[str, list[float]]] = {}
    for label, spec in POLICIES.items():
        calls, times = [], []
        for n in clients:
            trials = [run_trial(n, spec, random.Random(f"{seed}/{label}/{n}/{r}"))
                      for r in range(reps)]
            calls.append(sum(t.calls for t in trials) / reps)
            times.append(sum(t.completion_s for t in trials) / reps)
        results[label] = {"calls": calls, "completion_s": times}
    return {"clients": clients, "reps": reps, "seed": seed,
            "policies": {k: v for k, v in POLICIES.items()}, "results": results}


def verdict(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The published claims, each with what was measured and whether it held."""
    res, n_max = doc["results"], doc["clients"][-1]

    def total(label: str) -> float:
        return sum(res[label]["calls"])

    rules = []
    for a, b in itertools.pairwise(PUBLISHED_ORDER):
        factor = EQUAL_FULL_TOLERANCE if (a, b) == ("equal jitter", "full jitter") else 1.0
        op = ">=" if factor < 1 else ">"
        ok = total(a) >= factor * total(b) if factor < 1 else total(a) > total(b)
        rules.append({"rule": f"calls: {a} {op} {b} (summed over N)",
                      "measured": f"{total(a):,.0f} vs {total(b):,.0f}", "ok": bool(ok)})
    full, expo = res["full jitter"]["calls"][-1], res["exponential"]["calls"][-1]
    rules.append({"rule": f"full jitter < half the calls of exponential at N={n_max}",
                  "measured": f"{full:,.0f} vs {expo:,.0f} ({full / expo:.0%})",
                  "ok": bool(full < 0.5 * expo)})
    return rules


# ---- figures and the report ------------------------------------------------------------
def charts(doc: dict[str, Any]) -> list[Chart]:
    from jobsim.report.figures import colour, new_figure, png

    out = []
    for key, ylabel, title, log in (
            ("calls", "calls to the row (count, log)", "Total calls vs clients", True),
            ("completion_s", "time until every client wrote (s, log)",
             "Completion time vs clients", True)):
        fig, axes = new_figure(size=(8.0, 4.2))
        ax = axes[0][0]
        for i, label in enumerate(PUBLISHED_ORDER):
            ax.plot(doc["clients"], doc["results"][label][key], color=colour(i), marker="o",
                    markersize=3.5, linewidth=1.6, label=label)
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("competing clients N (count)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=8)
        out.append(Chart(key.replace("_s", ""), title,
                         f"Mean of {doc['reps']} seeded trials per point.", png(fig)))
    return out


def write_report(out: Path, clients: list[int], reps: int = 10,
                 seed: int = 2015) -> dict[str, Any]:
    """Run the experiment; write report.html, summary.md, metrics.json and the PNGs."""
    from jobsim.report.html import write_page

    doc = experiment(clients, reps, seed)
    doc["verdict"] = verdict(doc)
    doc["reproduced"] = all(r["ok"] for r in doc["verdict"])
    figs = charts(doc)
    out.mkdir(parents=True, exist_ok=True)
    for chart in figs:
        (out / f"{chart.slug}.png").write_bytes(chart.png)
    (out / "metrics.json").write_text(json.dumps(doc, indent=2) + "\n")
    header, rows = table(doc)
    (out / "summary.md").write_text(_markdown(doc, header, rows) + "\n")
    write_page(out / "report.html", "contention.html", doc=doc, charts=figs, header=header,
               rows=rows, hop=f"|Normal({HOP_MEAN_S * 1000:g} ms, {HOP_SD_S * 1000:g} ms)|",
               base=f"{BASE_S * 1000:g} ms", cap=f"{CAP_S:g} s")
    return doc


def table(doc: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["N", *(f"calls: {p}" for p in PUBLISHED_ORDER),
              *(f"time (s): {p}" for p in PUBLISHED_ORDER)]
    rows = []
    for i, n in enumerate(doc["clients"]):
        res = doc["results"]
        rows.append([str(n), *(f"{res[p]['calls'][i]:,.0f}" for p in PUBLISHED_ORDER),
                     *(f"{res[p]['completion_s'][i]:.3f}" for p in PUBLISHED_ORDER)])
    return header, rows


def _markdown(doc: dict[str, Any], header: list[str], rows: list[list[str]]) -> str:
    lines = ["# Backoff under contention (AWS 2015)", "",
             f"Published ordering reproduced: **{'yes' if doc['reproduced'] else 'NO'}**", ""]
    lines += [f"- {'PASS' if r['ok'] else 'FAIL'}: {r['rule']}: {r['measured']}"
              for r in doc["verdict"]]
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
