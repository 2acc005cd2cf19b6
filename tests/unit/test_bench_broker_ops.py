"""The broker benchmark runs end to end and reports every figure it promises."""

from __future__ import annotations

from jobsim.bench import broker_ops


def test_run_reports_positive_rates_for_every_op_and_broker() -> None:
    result = broker_ops.run(n=200, fakeredis_n=50)
    assert result["n"] == {"memory": 200, "fakeredis": 50}
    assert result["simpy_timeouts_per_s"] > 0
    for name in ("memory", "fakeredis"):
        ops = result["brokers"][name]
        assert set(ops) == {"push", "fetch", "ack", "schedule", "pop_due"}
        for row in ops.values():
            assert row["ops_per_s"] > 0
            assert abs(row["vs_simpy"] - row["ops_per_s"] / result["simpy_timeouts_per_s"]) < 1e-9
        cost = result["job_cost_in_timeouts"][name]
        expected = sum(result["simpy_timeouts_per_s"] / ops[op]["ops_per_s"]
                       for op in ("push", "fetch", "ack"))
        assert cost > 0 and abs(cost - expected) < 1e-9 * expected


def test_render_names_every_op_and_the_job_cost() -> None:
    text = broker_ops.render(broker_ops.run(n=100, fakeredis_n=20))
    assert "simpy timeouts/s" in text
    for word in ("push", "fetch", "ack", "schedule", "pop_due", "memory", "fakeredis"):
        assert word in text
    assert "push+fetch+ack" in text
