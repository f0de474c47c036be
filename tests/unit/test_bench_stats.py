"""The benchmark's pure helpers (tests/bench/stats.py): no targets are checked here."""

from __future__ import annotations

from pathlib import Path

from tests.bench.lifecycle import summarise
from tests.bench.stats import (
    baseline_ratios,
    completion_rate,
    next_rate,
    percentile,
    ratio,
    spread,
    sustained,
)


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 51.0  # rank round(0.5 * 99) = 50 -> the 51st value
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0], 95) == 3.0
    assert percentile([], 50) == 0.0
    assert completion_rate([0.0, 1.0, 2.0]) == 1.0
    assert completion_rate([5.0]) == 0.0
    assert spread([2.0, 1.0, 3.0]) == {"p50": 2.0, "p95": 3.0, "p99": 3.0, "max": 3.0, "n": 3}


def test_a_run_that_keeps_up_is_sustained() -> None:
    starts = [i / 2 for i in range(20)]  # 2 per second
    ends = [s + 3.0 for s in starts]
    ok, why = sustained(2.0, starts, ends)
    assert ok, why


def test_a_run_that_completes_too_slowly_is_not_sustained() -> None:
    starts = [i / 2 for i in range(20)]
    ends = [s + 3.0 + i for i, s in enumerate(starts)]  # each later one waits longer
    ok, why = sustained(2.0, starts, ends)
    assert not ok
    assert "completed" in why


def test_a_growing_backlog_is_not_sustained_even_at_the_rate() -> None:
    starts = [i / 2 for i in range(40)]
    ends = [s + (1.0 if i < 30 else 6.0) for i, s in enumerate(starts)]
    ok, why = sustained(2.0, starts, ends, min_share=0.5)
    assert not ok
    assert "backlog" in why
    assert sustained(1.0, [], []) == (False, "no lifecycles completed")


def test_the_rate_search_doubles_then_bisects_once_the_rate_is_not_kept() -> None:
    assert next_rate({}, 0.5) == 0.5
    assert next_rate({0.5: True}, 0.5) == 1.0
    assert next_rate({0.5: True, 1.0: True}, 0.5) == 2.0
    assert next_rate({0.5: True, 1.0: True, 2.0: False}, 0.5) == 1.4142
    assert next_rate({0.5: True, 1.0: True, 2.0: False, 1.4142: True}, 0.5) == 1.6818
    # within 25 %: done
    assert next_rate({1.0: True, 1.2: False}, 0.5) is None


def test_the_rate_search_goes_down_from_a_start_that_is_not_kept() -> None:
    assert next_rate({0.5: False}, 0.5) == 0.25
    assert next_rate({0.5: False, 0.25: False}, 0.5) == 0.125
    assert next_rate({0.5: False, 0.25: False, 0.125: False}, 0.5) == 0.0625
    assert next_rate({0.5: False, 0.25: False, 0.125: False, 0.0625: False}, 0.5) is None
    assert next_rate({0.5: False, 0.25: True}, 0.5) == 0.3536


def test_ratio_to_a_baseline() -> None:
    assert ratio(5.0, 20.0) == 0.25
    assert ratio(1.0, 0.0) is None


def test_a_py_spy_profile_is_summarised_by_frame(tmp_path: Path) -> None:
    raw = tmp_path / "p.txt"
    raw.write_text(
        "main (x.py:1);run (services/a.py:2);send (smtp.py:3) 6\n"
        "main (x.py:1);run (services/a.py:2);insert (pymongo.py:4) 3\n"
        "main (x.py:1);select (selectors.py:5) 1\n"
    )
    out = summarise(raw, 20)
    assert out["samples"] == 10
    assert out["busy_percent"] == 50.0
    assert out["top_own"][0] == ("send (smtp.py:3)", 60.0)
    assert out["top_project"] == [("run (services/a.py:2)", 90.0)]


def test_rates_are_set_against_the_baselines_they_depend_on() -> None:
    run = {"emails_per_s": 10.0, "events_per_s": 50.0, "commits_per_s": 40.0}
    baselines = {
        "smtp": {"one_connection_per_s": 100.0},
        "kafka": {"produce_sequential_per_s": 100.0, "produce_pipelined_per_s": 1000.0},
        "ferretdb": {"insert_per_s": 400.0},
    }
    out = baseline_ratios({"at_max": run, "decision_pipeline": {"events_per_s": 20.0}}, baselines)
    assert out["at_max"] == {
        "emails_per_s_to_smtp_one_connection": 0.1,
        "events_per_s_to_kafka_sequential": 0.5,
        "events_per_s_to_kafka_pipelined": 0.05,
        "commits_per_s_to_ferretdb_insert": 0.1,
    }
    assert out["decision_pipeline"] == {"events_per_s_to_kafka_sequential": 0.2}
    assert "half" not in out


def test_cost_per_lifecycle_is_the_counters_difference_over_the_lifecycles() -> None:
    from tests.bench.cost import ROUND_TRIPS, SMTP, per_lifecycle

    def trips(op: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        return (ROUND_TRIPS, (("operation", op),))

    before = {"notifications-1": {trips("insert"): 10.0, trips("find"): 5.0}}
    after = {
        "notifications-1": {
            trips("insert"): 30.0,
            trips("find"): 45.0,
            trips("update"): 20.0,
            trips("findAndModify"): 2.0,
            trips("createIndexes"): 4.0,
            (SMTP, (("outcome", "accepted"),)): 12.0,
            ("smartcity_letter_render_cpu_seconds_sum", (("part", "pdf"),)): 0.6,
            ("smartcity_letter_render_cpu_seconds_count", (("part", "pdf"),)): 12.0,
            ("smartcity_letter_render_cpu_seconds_count", (("part", "html"),)): 12.0,
        }
    }
    cost = per_lifecycle(2, {"notifications-1": 0.5, "ferretdb": 0.25}, before, after)
    trips_of = cost["store_round_trips"]["notifications-1"]
    assert (trips_of["inserts"], trips_of["updates"], trips_of["finds"]) == (10.0, 11.0, 20.0)
    assert trips_of["other"] == 2.0
    assert trips_of["total"] == 43.0
    assert cost["store_round_trips"]["all"]["total"] == 43.0
    assert cost["cpu_ms"] == {"notifications-1": 250.0, "ferretdb": 125.0}
    assert cost["cpu_ms_total"] == 375.0
    assert cost["smtp_transactions"] == 6.0
    assert cost["render_cpu_ms_per_letter"]["pdf"] == 50.0
    assert cost["render_cpu_ms_per_letter"]["letters"] == 12
