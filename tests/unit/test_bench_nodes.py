"""The one-node/three-node comparison of the benchmark (tests/bench/nodes.py): its pure part."""

from __future__ import annotations

from typing import Any

from tests.bench.nodes import COMPARED, figure, ratios


def run(rate: float, p99: float, kafka_cpu: float | None) -> dict[str, Any]:
    cpu = {"kafka": kafka_cpu} if kafka_cpu is not None else {}
    return {
        "kafka_baseline": {"produce_sequential_per_s": 100.0 * rate},
        "lifecycles": {
            "max_sustained_per_s": rate,
            "half": {"submit_to_ack_email_ms": {"p50": 100.0, "p99": p99}},
            "cost_per_lifecycle": {"cpu_ms_total": 200.0, "cpu_ms": cpu},
        },
    }


def test_each_figure_is_read_by_its_path_and_a_missing_one_is_none() -> None:
    one = run(4.0, 300.0, 20.0)
    assert figure(one, COMPARED["max_sustained_per_s"]) == 4.0
    assert figure(one, COMPARED["half_submit_to_ack_email_p99_ms"]) == 300.0
    assert figure(one, COMPARED["decision_pipeline_per_s"]) is None
    assert figure({"lifecycles": {"half": 3}}, COMPARED["half_lifecycle_p50_s"]) is None


def test_every_run_is_compared_to_the_first() -> None:
    compared = ratios({"1": run(4.0, 300.0, 20.0), "3": run(2.0, 450.0, 60.0)}, "1")
    assert compared["max_sustained_per_s"] == {"1": 4.0, "3": 2.0, "ratio_3_to_1": 0.5}
    assert compared["half_submit_to_ack_email_p99_ms"]["ratio_3_to_1"] == 1.5
    assert compared["half_kafka_cpu_ms_per_lifecycle"]["ratio_3_to_1"] == 3.0
    assert compared["kafka_produce_sequential_per_s"]["ratio_3_to_1"] == 0.5
    assert compared["decision_pipeline_per_s"] == {"1": None, "3": None}


def test_no_ratio_without_a_base_figure() -> None:
    compared = ratios({"1": run(4.0, 300.0, None), "3": run(2.0, 450.0, 60.0)}, "1")
    assert compared["half_kafka_cpu_ms_per_lifecycle"] == {"1": None, "3": 60.0}
