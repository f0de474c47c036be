"""The benchmark's chart: `python -m tests.bench.chart [latest.json] [out.png]`.

Left: the rate search (offered against completed lifecycles/s, each step marked kept or not).
Right: submit -> acknowledgement email and decision -> its emails (p50/p95/p99) at half of the
maximum sustained rate, empty store, with stored proposals and with two instances per service.
Below, the cost of one lifecycle at half rate (tests/bench/cost.py): CPU milliseconds of each
process, and store round trips of each service (inserts, updates, finds, other), with Kafka
records, SMTP transactions and the rendering CPU of one letter in the title.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tests.support import LOCAL


def draw(result: dict[str, Any], out: Path) -> Path:
    life = result["lifecycles"]
    cost = life.get("cost_per_lifecycle")
    rows = 2 if cost else 1
    fig, axes = plt.subplots(rows, 2, figsize=(12, 4.8 * rows), squeeze=False)
    left, right = axes[0]
    steps = life.get("search", [])
    xs = range(len(steps))
    left.bar(
        [x - 0.2 for x in xs],
        [s["offered_per_s"] for s in steps],
        0.4,
        label="offered",
        color="#bbb",
    )
    left.bar(
        [x + 0.2 for x in xs],
        [s["lifecycles_per_s"] for s in steps],
        0.4,
        label="completed",
        color=["#2a7" if s["sustained"] else "#c44" for s in steps],
    )
    left.set_xticks(list(xs), [f"{s['offered_per_s']:g}/s" for s in steps])
    left.set_ylabel("lifecycles per second")
    left.set_title(
        f"Rate search (green: kept); max sustained {life.get('max_sustained_per_s')}/s; "
        f"decisions alone {life.get('decision_pipeline', {}).get('lifecycles_per_s')}/s",
        fontsize=9,
    )
    left.legend(fontsize=8)
    runs = [("empty store", life.get("half"))]
    if "stored" in life:
        runs.append((f"{life['stored']['stored_proposals']:,} stored", life["stored"]["half"]))
    if "instances" in life:
        runs.append((f"{life['instances']['instances']} instances", life["instances"]["half"]))
    labels: list[str] = []
    values: dict[str, list[float]] = {}
    for name, run in runs:
        if not run:
            continue
        for kind, key in (("ack", "submit_to_ack_email_ms"), ("decision", "decision_to_emails_ms")):
            labels.append(f"{name}\n{kind}")
            for p in ("p50", "p95", "p99"):
                values.setdefault(p, []).append(run[key][p] / 1000)
    width = 0.27
    for k, (p, vs) in enumerate(values.items()):
        right.bar([i + (k - 1) * width for i in range(len(labels))], vs, width, label=p)
    right.set_xticks(list(range(len(labels))), labels, fontsize=7)
    right.set_ylabel("seconds")
    right.set_title("Latency at half the maximum sustained rate", fontsize=9)
    right.legend(fontsize=8)
    if cost:
        _cost(axes[1][0], axes[1][1], cost)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def _cost(cpu: Any, trips: Any, cost: dict[str, Any]) -> None:
    procs = sorted(cost["cpu_ms"], key=lambda k: -cost["cpu_ms"][k])
    cpu.barh(procs, [cost["cpu_ms"][p] for p in procs], color="#47a")
    cpu.invert_yaxis()
    cpu.tick_params(axis="y", labelsize=7)
    cpu.set_xlabel("CPU milliseconds per lifecycle")
    render = cost.get("render_cpu_ms_per_letter", {})
    cpu.set_title(
        f"CPU per lifecycle at half rate: {cost['cpu_ms_total']:g} ms in all; one letter's "
        f"text {render.get('text', '-')}, HTML {render.get('html', '-')}, "
        f"PDF {render.get('pdf', '-')} ms",
        fontsize=9,
    )
    services = [k for k in cost["store_round_trips"] if k != "all"]
    bottom = [0.0] * len(services)
    for group, color in (
        ("inserts", "#2a7"),
        ("updates", "#e92"),
        ("finds", "#47a"),
        ("other", "#bbb"),
    ):
        values = [cost["store_round_trips"][s][group] for s in services]
        trips.bar(services, values, bottom=bottom, label=group, color=color)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    trips.tick_params(axis="x", labelsize=7)
    trips.set_ylabel("store round trips per lifecycle")
    trips.set_title(
        f"Store round trips per lifecycle: {cost['store_round_trips']['all']['total']:g}; "
        f"Kafka records {cost.get('kafka_records', '-')}, "
        f"SMTP transactions {cost['smtp_transactions']:g}",
        fontsize=9,
    )
    trips.legend(fontsize=8)


def main() -> None:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else LOCAL / "bench" / "latest.json"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else src.with_suffix(".png")
    print(draw(json.loads(src.read_text()), out))


if __name__ == "__main__":
    main()
