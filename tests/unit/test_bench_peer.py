"""The peer benchmark's pure helpers (tests/bench/peers/temporal.py): the ratios it reports
and how it reads CPU time. The peer itself is checked by the benchmark's smoke lifecycle."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from tests.bench.peers.temporal import cost_over_runs, cpu_seconds, ratios


def _run(label: str, lifecycles: int, cpu: dict[str, float]) -> dict[str, Any]:
    return {"label": label, "lifecycles": lifecycles, "cpu_s": cpu}


OURS: dict[str, Any] = {
    "max_sustained_per_s": 0.25,
    "search": [
        _run("search-0.5", 10, {"notifications-1": 20.0, "postgres": 5.0}),
        _run("search-0.25", 5, {"notifications-1": 9.0, "postgres": 1.0}),
    ],
    "half": _run("half", 5, {"notifications-1": 8.0, "postgres": 2.0}),
}
OURS["at_max"] = OURS["search"][1]
PEER: dict[str, Any] = {
    "max_sustained_per_s": 1.0,
    "search": [_run("peer-search-1", 20, {"temporal": 4.0, "worker": 6.0})],
    "half": _run("peer-half", 10, {"temporal": 2.0, "worker": 3.0}),
}
PEER["at_max"] = PEER["search"][0]


def test_ratios_compare_the_rate_and_the_cpu_per_lifecycle_at_each_maximum() -> None:
    r = ratios(OURS, PEER)
    assert r["ours_cpu_s_per_lifecycle"] == 2.0  # (9 + 1) / 5
    assert r["peer_cpu_s_per_lifecycle"] == 0.5  # (4 + 6) / 20
    assert r["peer_to_ours_lifecycles_per_s"] == 4.0
    assert r["peer_to_ours_cpu_s_per_lifecycle"] == 0.25
    assert r["ours_cpu_s_by_process"] == {"notifications-1": 9.0, "postgres": 1.0}


def test_cpu_per_lifecycle_over_every_run_weighs_each_by_its_lifecycles() -> None:
    assert cost_over_runs(OURS) == 2.25  # 45 s over 20 lifecycles
    assert cost_over_runs(PEER) == 0.5
    assert cost_over_runs({}) is None
    assert ratios(OURS, PEER)["peer_to_ours_cpu_s_per_lifecycle_all_runs"] == 0.222


def test_no_ratios_without_the_backbones_lifecycles() -> None:
    assert ratios(None, PEER) == {}


def test_cpu_seconds_keep_the_time_of_children_that_exited() -> None:
    """A child's CPU moves to its parent's cutime when it is reaped: the group's total grows
    by it instead of losing it (a PostgreSQL backend closed between two samples)."""
    me = {"bench": [os.getpid()]}
    before = cpu_seconds(me)["bench"]
    burn = "sum(i * i for i in range(3_000_000))"  # a fixed amount of work, not of time
    subprocess.run([sys.executable, "-c", burn], check=True)
    after = cpu_seconds(me)["bench"]
    assert after - before >= 0.05
    assert cpu_seconds({"gone": [2**22 + 12345]}) == {"gone": 0.0}  # no such process
