"""The lifecycles on one Kafka node and on three, measured in one run (issue 27 item 4;
`make bench BENCH_ARGS="--kafka-nodes 1 3"`).

For each node count in turn, the local stack's Kafka is switched to that mode (`infra/stack.sh up
kafka` with `SMARTCITY_KAFKA_NODES`: it stops the other mode's nodes; PostgreSQL, FerretDB and
Mailpit stay up) and a process of its own measures, with the bootstrap list of that mode in its
environment (the test support and the services read it from there): the raw Kafka baseline
(tests/bench/baselines.py) and the full lifecycles (tests/bench/lifecycle.py `run_all`: rate
search, half rate, profiled maximum, decision pipeline, and the stored and instances runs if
asked). The stack is switched back to the mode it was in at the end, even after a failure.
Topics are created as the stack provisions them: on three nodes with replication factor 3 and
`min.insync.replicas` 2, so every acknowledged write is on two nodes.

`compare` returns every run and the ratios of each figure on N nodes to the first run's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench.stats import ratio
from tests.support import LOCAL, ROOT

Doc = dict[str, Any]
SERVICES = ("PROPOSALS", "APPROVALS", "NOTIFICATIONS", "CONSOLE")

COMPARED: dict[str, tuple[str, ...]] = {  # a figure -> its path in a run's result
    "max_sustained_per_s": ("lifecycles", "max_sustained_per_s"),
    "half_submit_to_ack_email_p50_ms": ("lifecycles", "half", "submit_to_ack_email_ms", "p50"),
    "half_submit_to_ack_email_p99_ms": ("lifecycles", "half", "submit_to_ack_email_ms", "p99"),
    "half_decision_to_emails_p50_ms": ("lifecycles", "half", "decision_to_emails_ms", "p50"),
    "half_decision_to_emails_p99_ms": ("lifecycles", "half", "decision_to_emails_ms", "p99"),
    "half_lifecycle_p50_s": ("lifecycles", "half", "lifecycle_s", "p50"),
    "half_cpu_ms_per_lifecycle": ("lifecycles", "cost_per_lifecycle", "cpu_ms_total"),
    "half_kafka_cpu_ms_per_lifecycle": ("lifecycles", "cost_per_lifecycle", "cpu_ms", "kafka"),
    "decision_pipeline_per_s": ("lifecycles", "decision_pipeline", "lifecycles_per_s"),
    "decision_pipeline_lifecycle_p50_s": ("lifecycles", "decision_pipeline", "lifecycle_s", "p50"),
    "decision_pipeline_cpu_ms_per_lifecycle": (
        "lifecycles",
        "decision_pipeline",
        "cost_per_lifecycle",
        "cpu_ms_total",
    ),
    "kafka_produce_sequential_per_s": ("kafka_baseline", "produce_sequential_per_s"),
    "kafka_produce_pipelined_per_s": ("kafka_baseline", "produce_pipelined_per_s"),
    "kafka_consume_per_s": ("kafka_baseline", "consume_per_s"),
}


def current_nodes() -> int:
    return int(os.environ.get("SMARTCITY_KAFKA_NODES") or "1")


def mode_env(nodes: int) -> dict[str, str]:
    """This process's environment for `nodes` Kafka nodes: the mode, and its bootstrap list
    for the test support (SMARTCITY_KAFKA_BOOTSTRAP) and every service (<SERVICE>_KAFKA_...,
    which the Makefile sets for the mode it started in)."""
    env = {**os.environ, "SMARTCITY_KAFKA_NODES": str(nodes)}
    env.pop("SMARTCITY_KAFKA_BOOTSTRAP", None)
    bootstrap = subprocess.run(
        ["bash", str(ROOT / "infra" / "stack.sh"), "bootstrap"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    env["SMARTCITY_KAFKA_BOOTSTRAP"] = bootstrap
    for service in SERVICES:
        env[f"{service}_KAFKA_BOOTSTRAP"] = bootstrap
    return env


def switch(nodes: int) -> float:
    """Run the local Kafka as `nodes` nodes (stopping the other mode's); seconds it took."""
    started = time.perf_counter()
    print(f"[bench] switching the local Kafka to {nodes} node(s)", flush=True)
    subprocess.run(
        ["bash", str(ROOT / "infra" / "stack.sh"), "up", "kafka"],
        env=mode_env(nodes),
        check=True,
        cwd=ROOT,
    )
    return round(time.perf_counter() - started, 1)


def measure_in_mode(nodes: int, lifecycle_args: Doc) -> Doc:
    """One mode's figures, measured by a process that reads that mode's environment."""
    with tempfile.NamedTemporaryFile(
        dir=LOCAL, prefix=f"bench-nodes-{nodes}-", suffix=".json", delete=False
    ) as f:
        out = Path(f.name)
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.bench.nodes",
                "--out",
                str(out),
                "--args",
                json.dumps(lifecycle_args),
            ],
            env=mode_env(nodes),
            check=True,
            cwd=ROOT,
        )
        measured: Doc = json.loads(out.read_text())
        return measured
    finally:
        out.unlink(missing_ok=True)


def figure(run: Doc, path: tuple[str, ...]) -> Any:
    value: Any = run
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def ratios(runs: dict[str, Doc], base: str) -> Doc:
    """Each compared figure of every run, and its ratio to the `base` run's."""
    out: Doc = {}
    for name, path in COMPARED.items():
        values = {nodes: figure(run, path) for nodes, run in runs.items()}
        entry: Doc = dict(values)
        for nodes, value in values.items():
            if nodes != base and isinstance(value, int | float) and values[base]:
                entry[f"ratio_{nodes}_to_{base}"] = ratio(value, values[base])
        out[name] = entry
    return out


def compare(node_counts: list[int], lifecycle_args: Doc) -> Doc:
    """The lifecycles on each node count in turn, then back to the mode the stack was in."""
    back_to = current_nodes()
    runs: dict[str, Doc] = {}
    switched: dict[str, float] = {}
    try:
        for nodes in node_counts:
            switched[str(nodes)] = switch(nodes)
            runs[str(nodes)] = measure_in_mode(nodes, lifecycle_args)
    finally:
        switched[f"back_to_{back_to}"] = switch(back_to)
    base = str(node_counts[0])
    return {
        "node_counts": node_counts,
        "switch_s": switched,
        "runs": runs,
        "compared": ratios(runs, base),
    }


async def _measure(lifecycle_args: Doc) -> Doc:
    from tests.bench import baselines, lifecycle
    from tests.support import KAFKA

    return {
        "bootstrap": KAFKA,
        "kafka_baseline": await baselines.kafka(),
        "lifecycles": await lifecycle.run_all(**lifecycle_args),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="measure in this mode only, into this file")
    parser.add_argument("--args", default="{}", help="run_all's keyword arguments (JSON)")
    parser.add_argument("--kafka-nodes", type=int, nargs="+", default=[1, 3], choices=(1, 3))
    args = parser.parse_args()
    lifecycle_args = json.loads(args.args)
    if args.out:
        args.out.write_text(json.dumps(asyncio.run(_measure(lifecycle_args)), ensure_ascii=False))
        return
    result = compare(args.kafka_nodes, lifecycle_args)
    out = LOCAL / "bench" / "nodes.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps(result["compared"], indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
