"""Terminal tables fit 80 columns and never cut a figure."""

from __future__ import annotations

from jobsim.report.text_table import render


def test_long_names_wrap_and_figures_stay_whole() -> None:
    header = ["policy", "total attempts", "peak attempts/s", "peak after recovery",
              "all succeeded after", "dead", "mean success", "retry 25 after (mean)"]
    rows = [["exponential:jitter=decorrelated,base=1,cap=600", "5,513", "167", "4",
             "never", "72", "12.7 min", "51.7 min"], ["sidekiq", "2,100", "34", "8",
                                                      "20.7 min", "0", "19.5 min", "20.43 d"]]
    text = render("Retry policies", header, rows)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    for row in rows:
        for figure in row[1:]:
            assert any(figure in line for line in lines), figure
    assert "".join(line.split()[0] for line in lines[lines.index(next(
        line for line in lines if line.startswith("exponential"))):][:4]).startswith(
        "exponential:jitter=decorrelated")
