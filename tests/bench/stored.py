"""Flat as history grows: `python -m tests.bench.stored --stored 100000 --rate 0.84`.

The half-rate lifecycles (submission, screening, three committee decisions, the award, every
email in Mailpit) on a stack with N proposals already stored (their cases, letter records and
audit entries, as the services store them: `tests/bench/idle.py seed`), then the same offered
rate and window on an empty stack right after it, so both run under the same load; the ratios
of their latencies (issue 26: within 1.5x). `make bench BENCH_ARGS="--stored N"` does the same
after its rate search, against the search's own half rate; this runs the comparison alone, at
a rate you give (half the maximum a search found), when the search's minutes are not wanted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

import httpx

from tests.bench.lifecycle import FULL, Driver, runs_for, stack
from tests.bench.stats import ratio
from tests.support import LOCAL, MAILPIT

Doc = dict[str, Any]
LATENCIES = ("submit_to_ack_email_ms", "decision_to_emails_ms")


async def half(stored: int, rate: float, window: float, letter_pdf: bool) -> Doc:
    """One warmed-up window at `rate` on a stack with `stored` proposals."""
    async with (
        httpx.AsyncClient(timeout=120) as http,
        httpx.AsyncClient(base_url=MAILPIT, timeout=60) as mailpit,
        stack(FULL, 1, stored, True, letter_pdf) as s,
    ):
        drv = Driver(s, http, mailpit)
        warm = await drv.warm_up()
        load = [round(x, 2) for x in os.getloadavg()]
        out = await drv.offered(rate, runs_for(rate, window), f"stored-{stored}-half")
        return out | {
            "stored_proposals": stored,
            "seeded_in_s": round(s.seeded_in_s, 1),
            "loadavg_at_start": load,
            "warm_up": warm,
            "peak_rss_mb": s.rss(),
        }


def ratios(stored: Doc, empty: Doc) -> Doc:
    return {
        f"{name}_{q}": ratio(stored[name][q], empty[name][q])
        for name in LATENCIES
        for q in ("p50", "p95", "p99")
    }


async def measure(stored: int, rate: float, window: float, letter_pdf: bool) -> Doc:
    full = await half(stored, rate, window, letter_pdf)
    print(f"{stored} stored: " + ", ".join(f"{n} {full[n]}" for n in LATENCIES), flush=True)
    empty = await half(0, rate, window, letter_pdf)
    print("empty: " + ", ".join(f"{n} {empty[n]}" for n in LATENCIES), flush=True)
    return {"stored": full, "empty": empty, "ratios": ratios(full, empty)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=100_000, help="proposals stored first")
    parser.add_argument("--rate", type=float, required=True, help="offered lifecycles/s")
    parser.add_argument("--window", type=float, default=30.0, help="seconds of lifecycles")
    parser.add_argument(
        "--letter-pdf", action=argparse.BooleanOptionalAction, default=False, help="PDFs on"
    )
    args = parser.parse_args()
    result = asyncio.run(measure(args.stored, args.rate, args.window, args.letter_pdf))
    out = LOCAL / "bench" / "stored.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result["ratios"], indent=2))


if __name__ == "__main__":
    main()
