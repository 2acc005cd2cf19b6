"""Per point and variant: rates with intervals, metric spreads, worst seeds."""

from __future__ import annotations

from pathlib import Path

from jobsim.sweep.summary import markdown, quantile, spread, summarize


def _row(seed: int, lost: int, variant: str = "") -> dict:
    ok = lost == 0
    return {"point": "system.concurrency=5", "settings": {"system.concurrency": 5},
            "variant": variant, "seed": seed, "digest": "", "ok": ok,
            "verdict": ("REPRODUCED" if ok else "NOT REPRODUCED") if variant else
            ("PASS" if ok else "FAIL"),
            "verdicts": {"check:no_loss": ok, "expect:jobs.lost<=0": ok},
            "metrics": {"jobs.lost": lost, "violations.no_loss": lost},
            "replay": f"jobsim simulate points/system.concurrency=5.yaml --seed {seed}"}


META = {"scenario": "s", "scale": 0.1, "seeds": list(range(10)),
        "points": ["system.concurrency=5"], "variants": ["", "v"], "metrics": []}


def test_rates_spreads_and_worst_seeds(tmp_path: Path) -> None:
    lost = [0, 0, 3, 0, 1, 0, 0, 7, 0, 0]
    rows = [_row(s, n) for s, n in enumerate(lost)] + [_row(s, 0, "v") for s in range(10)]
    summary = summarize(rows, META, tmp_path)
    base, variant = summary["groups"]
    assert base["verdict"]["passes"] == 7 and base["verdict"]["runs"] == 10
    assert 0.39 < base["verdict"]["low"] < 0.40 and 0.89 < base["verdict"]["high"] < 0.90
    assert base["outcome"] == "passed" and variant["outcome"] == "reproduced"
    assert variant["verdict"]["passes"] == 10
    assert base["verdicts"]["check:no_loss"]["passes"] == 7
    assert base["metrics"]["jobs.lost"] == {"runs": 10, "no_data": 0, "median": 0.0,
                                            "p95": quantile(sorted(map(float, lost)), 0.95),
                                            "max": 7.0}
    assert [w["seed"] for w in base["worst"]] == [7, 2, 4]          # most violations first
    assert base["worst"][0]["replay"].startswith(
        f"jobsim simulate {tmp_path}/points/system.concurrency=5.yaml --seed 7")
    text = markdown(summary)
    assert "| system.concurrency=5 | base | passed 7/10 | 70.0 % | 39.7 %-89.2 % | 0 |" in text
    assert "reproduced 10/10" in text


def test_spread_counts_missing_values() -> None:
    assert spread([None, 2, 4]) == {"runs": 2, "no_data": 1, "median": 3.0, "p95": 3.9,
                                    "max": 4.0}
    assert spread([None])["median"] is None


def test_the_page_says_when_no_seed_failed(tmp_path: Path) -> None:
    """A group without failing seeds is named, not left out of an empty list."""
    from jobsim.sweep import page

    lost = [0, 0, 3, 0, 0, 0, 0, 0, 0, 0]
    rows = [_row(s, n) for s, n in enumerate(lost)] + [_row(s, 0, "v") for s in range(10)]
    html = page.write(tmp_path, summarize(rows, META, tmp_path), rows).read_text()
    worst = html.split("<h2>Worst seeds</h2>", 1)[1]
    assert "system.concurrency=5 / v: every seed reproduced." in worst
    assert "system.concurrency=5 / base, seed 2: FAIL" in worst
    assert "every seed passed" not in worst
