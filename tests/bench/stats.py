"""Pure helpers of the benchmark: percentiles, whether a rate was sustained, ratios."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile `p` (0-100) of `values`; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def spread(values: Sequence[float]) -> dict[str, float]:
    """p50, p95, p99 and max of `values`, rounded to 0.1."""
    return {
        "p50": round(percentile(values, 50), 1),
        "p95": round(percentile(values, 95), 1),
        "p99": round(percentile(values, 99), 1),
        "max": round(max(values, default=0.0), 1),
        "n": len(values),
    }


def sustained(
    offered_per_s: float,
    starts: Sequence[float],
    ends: Sequence[float],
    *,
    min_share: float = 0.9,
    growth: float = 1.5,
    slack_s: float = 2.0,
) -> tuple[bool, str]:
    """Whether a run offered at `offered_per_s` (lifecycle i started at starts[i] and finished
    at ends[i], in seconds) kept up: lifecycles completed at `min_share` of the offered rate or
    more (the completions spread over no more than the starts' span / `min_share` plus
    `slack_s`), and the time a lifecycle took did not grow over the run (the median of the last
    quarter within `growth` times the first quarter's plus `slack_s`: a growing backlog)."""
    n = len(starts)
    if n == 0 or len(ends) != n:
        return False, "no lifecycles completed"
    completed = completion_rate(ends)
    started_over = max(starts) - min(starts)
    durations = [e - s for s, e in sorted(zip(starts, ends, strict=True))]
    q = max(1, n // 4)
    first, last = percentile(durations[:q], 50), percentile(durations[-q:], 50)
    if max(ends) - min(ends) > started_over / min_share + slack_s:
        return False, f"completed {completed:.3f}/s < {min_share:.0%} of {offered_per_s:.3f}/s"
    if last > growth * first + slack_s:
        return False, f"backlog grew: median lifecycle {first:.1f} s first, {last:.1f} s last"
    return True, f"completed {completed:.3f}/s; median lifecycle {first:.1f} s -> {last:.1f} s"


def completion_rate(ends: Sequence[float]) -> float:
    """Completions per second between the first and the last (n - 1 intervals)."""
    span = max(ends, default=0.0) - min(ends, default=0.0)
    return (len(ends) - 1) / span if span > 0 else 0.0


def next_rate(tried: dict[float, bool], start: float, factor: float = 2.0) -> float | None:
    """The next offered rate of the search: doubling from `start` while every rate tried was
    sustained, then one step halfway (geometrically) between the best sustained rate and the
    lowest that was not; None when done."""
    if not tried:
        return start
    good = [r for r, ok in tried.items() if ok]
    bad = [r for r, ok in tried.items() if not ok]
    if not bad:
        return max(tried) * factor
    if not good:
        low = min(bad) / factor
        return round(low, 4) if low >= start / factor**3 and low not in tried else None
    best, worst = max(good), min(bad)
    mid = round(math.sqrt(best * worst), 4)
    if mid in tried or worst / best <= 1.25:
        return None
    return mid


def ratio(value: float, baseline: float) -> float | None:
    """value / baseline, rounded to 3 places; None without a baseline."""
    return round(float(value) / baseline, 3) if baseline else None


def baseline_ratios(lifecycles: dict[str, Any], baselines: dict[str, Any]) -> dict[str, Any]:
    """Each rate of the lifecycle runs as a share of the raw baseline it depends on: emails/s
    of SMTP on one connection (the notifications service's), events/s of Kafka produce one at a
    time (the outbox relay's) and pipelined, commits/s of FerretDB inserts (every change is an
    inserted commit)."""
    out: dict[str, Any] = {}
    for label in ("at_max", "half"):
        run = lifecycles.get(label)
        if not run:
            continue
        out[label] = {
            "emails_per_s_to_smtp_one_connection": ratio(
                run["emails_per_s"], baselines["smtp"]["one_connection_per_s"]
            ),
            "events_per_s_to_kafka_sequential": ratio(
                run["events_per_s"], baselines["kafka"]["produce_sequential_per_s"]
            ),
            "events_per_s_to_kafka_pipelined": ratio(
                run["events_per_s"], baselines["kafka"]["produce_pipelined_per_s"]
            ),
            "commits_per_s_to_ferretdb_insert": ratio(
                run["commits_per_s"], baselines["ferretdb"]["insert_per_s"]
            ),
        }
    pipeline = lifecycles.get("decision_pipeline")
    if pipeline:
        out["decision_pipeline"] = {
            "events_per_s_to_kafka_sequential": ratio(
                pipeline["events_per_s"], baselines["kafka"]["produce_sequential_per_s"]
            ),
        }
    return out
