"""The benchmark's chart: `python -m tests.bench.chart [latest.json] [out.png]`.

Left: the rate search (offered against completed lifecycles/s, each step marked kept or not).
Right: submit -> acknowledgement email and decision -> its emails (p50/p95/p99) at half of the
maximum sustained rate, empty store, with stored proposals and with two instances per service.
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
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
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
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def main() -> None:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else LOCAL / "bench" / "latest.json"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else src.with_suffix(".png")
    print(draw(json.loads(src.read_text()), out))


if __name__ == "__main__":
    main()
