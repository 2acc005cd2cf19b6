"""The round-two target table: its baseline, its pairing and its verdicts."""

from __future__ import annotations

import pytest

from jobsim.bench import DEFAULT, SUITES, simpy_mm4, targets


def test_the_simpy_baseline_serves_every_customer() -> None:
    assert simpy_mm4.run(500) == 500
    assert pytest.approx(0.8) == simpy_mm4.RATE * simpy_mm4.SERVICE_MEAN / simpy_mm4.SERVERS


def test_the_jobsim_mm4_model_is_the_same_queue_on_both_brokers() -> None:
    from jobsim.scenario.runner import run_scenario
    from jobsim.validate.runs import scenario

    model = scenario(targets.mm4_document(200))
    runs = [run_scenario(model, seed=1, broker=b) for b in ("memory", "fakeredis")]
    assert runs[0].metrics["history_digest"] == runs[1].metrics["history_digest"]
    assert runs[0].checks["no_loss"].ok
    assert 150 <= runs[0].metrics["jobs"]["enqueued"] <= 250      # Poisson, 2 s at 100/s


def test_pairs_alternate_and_the_ratio_is_the_median_of_pairs() -> None:
    order: list[str] = []
    a_walls = iter([1.0, 2.0, 1.0])
    b_walls = iter([3.0, 2.0, 10.0])

    def a() -> float:
        order.append("a")
        return next(a_walls)

    def b() -> float:
        order.append("b")
        return next(b_walls)

    walls_a, walls_b, ratio = targets._paired(a, b, 3)
    assert order == ["a", "b"] * 3
    assert (walls_a, walls_b, ratio) == ([1.0, 2.0, 1.0], [3.0, 2.0, 10.0], 3.0)


def test_verdicts_follow_the_table_and_render_names_each_rule() -> None:
    figures = {"mm4_vs_simpy": 1.6, "black_friday_wall_s": 5.0, "black_friday_speedup": 1442.0,
               "black_friday_x0.1_wall_s": 1.5, "fakeredis_mm4_ratio": 2.0,
               "fakeredis_black_friday_ratio": 9.0, "fakeredis_digests_equal": True,
               "hypothesis_examples_per_s": 199.0, "million_wall_s": 39.0,
               "million_peak_rss_mb": 701.0}
    verdicts = {k: targets._meets(k, v) for k, v in figures.items()}
    assert verdicts == {"mm4_vs_simpy": False, "black_friday_wall_s": True,
                        "black_friday_speedup": True, "black_friday_x0.1_wall_s": True,
                        "fakeredis_mm4_ratio": True, "fakeredis_black_friday_ratio": False,
                        "fakeredis_digests_equal": None, "hypothesis_examples_per_s": False,
                        "million_wall_s": True, "million_peak_rss_mb": False}
    text = targets.render({**figures, "mm4_jobs": 7,
                           "pass": {k: v for k, v in verdicts.items() if v is not None}})
    for label in ("<= 1.5", ">= 1200", "<= 6", ">= 200", "<= 700", "NOT MET", "mm4_jobs=7"):
        assert label in text, label
    assert len([line for line in text.splitlines() if line.endswith("NOT MET")]) == 4


def test_make_bench_runs_the_target_table_first() -> None:
    assert DEFAULT[0] == "targets" and set(DEFAULT) <= set(SUITES)
