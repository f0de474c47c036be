"""`make bench`: latency, throughput and memory of the real services on the real stack.

Submits N proposals over HTTP (C at a time) to a private set of service processes and measures,
from the timestamps the services themselves store:
  - HTTP submit latency (client side),
  - submit -> workflow case opened (approvals),
  - submit -> acknowledgement email accepted by the SMTP server (notifications),
  - throughput (proposals fully processed per second),
  - peak resident memory of each service process,
  - the cost of signing and of verifying one claim (tests/bench/claims.py),
  - the CPU time of rendering one letter's PDF (tests/bench/letter_pdf.py),
  - letter numbers allocated per second by 1, 4 and 16 concurrent senders from one register
    in the store (tests/bench/letter_register.py),
  - the time from revoking a key until every service refuses it (tests/bench/revocation.py),
  - with the lifecycles, what one costs (tests/bench/cost.py, `lifecycles.cost_per_lifecycle`
    and each run's own): CPU ms per process (/proc), store round trips per service, Kafka
    records, SMTP transactions and the rendering CPU of one letter (the services' counters).
  - with `--kafka-nodes 1 3`, the lifecycles on one Kafka node and on the local three-node
    cluster in turn, and the ratios (tests/bench/nodes.py, `kafka_nodes`).
It runs twice, with tracing on (the local stack's default: OTLP to Jaeger) and off, and reports
what tracing costs (the difference of each figure). The targets are checked on the traced run.
Fails (exit 1) when a target is missed. Results go to .local/bench/latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from smartcity_th.contracts.topics import DEFAULT_PARTITIONS, Topics
from smartcity_th.services.common.kafka import ensure_topics
from tests.bench import (
    baselines,
    claims,
    history,
    idle,
    letter_pdf,
    letter_register,
    lifecycle,
    nodes,
    revocation,
    store_probe,
)
from tests.bench.stats import baseline_ratios
from tests.support import (
    KAFKA,
    LOCAL,
    MONGO,
    Namespace,
    ServiceProcess,
    ensure_stack,
    free_port,
    remove_namespace,
    seed_registry,
    service_env,
)

TARGETS = {
    "submit_http_p99_ms": 500.0,
    "submit_to_case_p99_ms": 2000.0,
    "submit_to_email_p99_ms": 5000.0,
    "throughput_min_per_s": 10.0,
    "peak_rss_max_mb": 250.0,
    "claim_sign_median_us": 2000.0,
    "claim_verify_median_us": 3000.0,
    "revocation_max_s": 5.0,
    # full lifecycles (tests/bench/lifecycle.py), issue 14 item 5
    "lifecycles_min_per_s": 5.0,
    "decision_pipeline_min_per_s": 30.0,
    "stored_latency_max_ratio": 1.5,
    # the cost of a lifecycle, issue 26 (its table: the targets of a quiet run)
    "half_load_submit_to_ack_p99_ms": 500.0,
    "half_load_decision_to_emails_p99_ms": 1000.0,
    "cpu_ms_per_lifecycle_max": 300.0,
    "store_commits_per_lifecycle_max": 30.0,
    "lifecycle_peak_rss_max_mb": 120.0,
    "letter_pdf_cpu_p95_ms": 80.0,
    "idle_cpu_max_percent": 4.0,
    # issue 26 item 4: every console page and CLI view with a long history (--history N)
    "console_page_max_ms": 300.0,
    # a run is void, and says so, when the machine was busy as it started
    "quiet_loadavg_max": 1.0,
}

DRAFT: dict[str, Any] = {
    "province": "83",
    "area_name": {"th": "ภูเก็ตเมืองอัจฉริยะ", "en": "Phuket Smart City"},
    "dimensions": ["economy"],
    "plan": {
        k: "x" * 200
        for k in (
            "area_boundary_and_goals",
            "infrastructure_plan",
            "city_data_platform",
            "smart_solutions",
            "management_model",
        )
    },
    "has_city_data_platform": True,
    "budget_baht": "1000000",
    "expected_value_baht": "2000000",
    "contact_emails": ["bench@phuketcity.example.go.th"],
}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def run(n: int, concurrency: int, *, tracing: bool = True) -> dict[str, Any]:
    ns = Namespace()
    topics = Topics(ns.topics_prefix)
    await ensure_topics(KAFKA, topics, DEFAULT_PARTITIONS)
    bench_keys = await seed_registry(topics, ("lg-phuket-city",))
    logs = LOCAL / "logs" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    procs = {
        name: ServiceProcess(
            name,
            service_env(
                name,
                ns,
                port := free_port(),
                {
                    f"{name.upper()}_LOG_LEVEL": "WARNING",
                    # production defaults, not the tests'
                    f"{name.upper()}_OUTBOX_SWEEP_SECONDS": "5",
                    f"{name.upper()}_OUTBOX_GRACE_SECONDS": "2",
                    f"{name.upper()}_TRACING_ENABLED": str(tracing).lower(),
                },
            ),
            port,
            logs / f"{ns.run_id}-{name}.log",
        )
        for name in ("proposals", "approvals", "notifications")
    }
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO, tz_aware=True)
    try:
        for p in procs.values():
            p.start()
        for p in procs.values():
            p.wait_healthy(180)
        key = bench_keys["lg-phuket-city"]
        http_ms: list[float] = []
        ids: list[str] = []
        sem = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(base_url=procs["proposals"].url, timeout=30) as http:

            async def one() -> None:
                async with sem:
                    t0 = time.perf_counter()
                    r = await http.post(
                        "/proposals",
                        json=DRAFT,
                        headers={"X-API-Key": key, "Idempotency-Key": str(uuid.uuid4())},
                    )
                    http_ms.append((time.perf_counter() - t0) * 1000)
                    r.raise_for_status()
                    ids.append(r.json()["proposal_id"])

            started = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(n)))
        cases = mongo[ns.db("approvals")]["cases"]
        deliveries = mongo[ns.db("notifications")]["deliveries"]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            # One letter per submission now (its copies in Cc): done when each proposal has
            # one sent and nothing waits in the queue.
            sent = await deliveries.count_documents({"status": "sent"})
            queued = await deliveries.count_documents({"status": "queued"})
            if await cases.count_documents({}) >= n and sent >= n and queued == 0:
                break
            await asyncio.sleep(0.5)
        elapsed = time.perf_counter() - started
        submitted = {
            d["_id"]: d["submitted_at"]
            async for d in mongo[ns.db("proposals")]["proposals"].find({}, {"submitted_at": 1})
        }
        to_case = [
            (d["opened_at"] - submitted[d["_id"]]).total_seconds() * 1000
            async for d in cases.find({}, {"opened_at": 1})
        ]
        last_email: dict[str, Any] = {}
        to_queued: list[float] = []
        queued_to_sent: list[float] = []
        async for d in deliveries.find(
            {"status": "sent"}, {"proposal_id": 1, "sent_at": 1, "created_at": 1}
        ):
            pid = d["proposal_id"]
            last_email[pid] = max(last_email.get(pid, d["sent_at"]), d["sent_at"])
            to_queued.append((d["created_at"] - submitted[pid]).total_seconds() * 1000)
            queued_to_sent.append((d["sent_at"] - d["created_at"]).total_seconds() * 1000)
        to_email = [(t - submitted[p]).total_seconds() * 1000 for p, t in last_email.items()]
        rss = {name: round(peak_rss_mb(p.proc.pid), 1) for name, p in procs.items() if p.proc}
        result = {
            "tracing": tracing,
            "proposals": n,
            "concurrency": concurrency,
            "cases_opened": len(to_case),
            "proposals_fully_emailed": len(to_email),
            "submit_http_p50_ms": round(percentile(http_ms, 50), 1),
            "submit_http_p99_ms": round(percentile(http_ms, 99), 1),
            "submit_to_case_p50_ms": round(percentile(to_case, 50), 1),
            "submit_to_case_p99_ms": round(percentile(to_case, 99), 1),
            "submit_to_email_queued_p50_ms": round(percentile(to_queued, 50), 1),
            "email_queued_to_sent_p50_ms": round(percentile(queued_to_sent, 50), 1),
            "submit_to_email_p50_ms": round(percentile(to_email, 50), 1),
            "submit_to_email_p99_ms": round(percentile(to_email, 99), 1),
            "throughput_per_s": round(len(to_email) / elapsed, 1),
            "elapsed_s": round(elapsed, 1),
            "peak_rss_mb": rss,
        }
        result |= await revocation.measure(procs, topics)
        return result
    finally:
        for p in procs.values():
            p.stop()
        await remove_namespace(ns, mongo)
        await mongo.close()


def check(result: dict[str, Any]) -> list[str]:
    missed = check_lifecycles(result.get("lifecycles"))
    load = result.get("loadavg_at_start")
    if load and load[0] >= TARGETS["quiet_loadavg_max"]:
        missed.insert(
            0,
            f"VOID: load average {load[0]} when the run started >= "
            f"{TARGETS['quiet_loadavg_max']} (a busy machine; the figures are not target measures)",
        )
    pdf = result.get("letter_pdf_cpu_ms")
    if pdf and pdf["p95"] > TARGETS["letter_pdf_cpu_p95_ms"]:
        missed.append(f"letter PDF CPU p95 {pdf['p95']} ms > {TARGETS['letter_pdf_cpu_p95_ms']} ms")
    history_run = result.get("history")
    if history_run:
        for name, figures in history_run["views"].items():
            if figures["p95_ms"] > TARGETS["console_page_max_ms"]:
                missed.append(
                    f"{name} with {history_run['audit_entries']} audit entries: p95 "
                    f"{figures['p95_ms']} ms > {TARGETS['console_page_max_ms']} ms"
                )
    idle_run = result.get("idle")
    if idle_run and idle_run["total_percent_of_one_core"] > TARGETS["idle_cpu_max_percent"]:
        missed.append(
            f"idle stack with {idle_run['stored_proposals']} stored: "
            f"{idle_run['total_percent_of_one_core']}% of a core > "
            f"{TARGETS['idle_cpu_max_percent']}%"
        )
    if "submit_http_p99_ms" not in result:
        return missed
    for metric in ("submit_http_p99_ms", "submit_to_case_p99_ms", "submit_to_email_p99_ms"):
        if result[metric] > TARGETS[metric]:
            missed.append(f"{metric} = {result[metric]} > {TARGETS[metric]}")
    if result["throughput_per_s"] < TARGETS["throughput_min_per_s"]:
        missed.append(
            f"throughput {result['throughput_per_s']}/s < {TARGETS['throughput_min_per_s']}/s"
        )
    for name, mb in result["peak_rss_mb"].items():
        if mb > TARGETS["peak_rss_max_mb"]:
            missed.append(f"{name} peak RSS {mb} MB > {TARGETS['peak_rss_max_mb']} MB")
    for metric, name in (
        ("claim_sign_median_us", "claim_sign_us"),
        ("claim_verify_median_us", "claim_verify_us"),
    ):
        if result[name]["median"] > TARGETS[metric]:
            missed.append(f"{name} median {result[name]['median']} us > {TARGETS[metric]} us")
    if result["revocation_s"]["max"] > TARGETS["revocation_max_s"]:
        missed.append(
            f"revocation took {result['revocation_s']['max']} s > {TARGETS['revocation_max_s']} s"
        )
    if result["proposals_fully_emailed"] < result["proposals"]:
        missed.append(
            f"only {result['proposals_fully_emailed']} of {result['proposals']} "
            "proposals were fully emailed"
        )
    return missed


def check_lifecycles(life: dict[str, Any] | None) -> list[str]:
    if not life:
        return []
    missed = []
    best = life.get("max_sustained_per_s") or 0.0
    if best < TARGETS["lifecycles_min_per_s"]:
        missed.append(f"full lifecycles sustained {best}/s < {TARGETS['lifecycles_min_per_s']}/s")
    pipeline = life.get("decision_pipeline")
    if pipeline and pipeline["lifecycles_per_s"] < TARGETS["decision_pipeline_min_per_s"]:
        missed.append(
            f"decision pipeline {pipeline['lifecycles_per_s']}/s < "
            f"{TARGETS['decision_pipeline_min_per_s']}/s"
        )
    p99 = life["half"]["submit_to_ack_email_ms"]["p99"]
    if p99 > TARGETS["half_load_submit_to_ack_p99_ms"]:
        missed.append(
            f"submit -> acknowledgement email p99 at half load {p99} ms > "
            f"{TARGETS['half_load_submit_to_ack_p99_ms']} ms"
        )
    p99 = life["half"]["decision_to_emails_ms"]["p99"]
    if p99 > TARGETS["half_load_decision_to_emails_p99_ms"]:
        missed.append(
            f"decision -> its emails p99 at half load {p99} ms > "
            f"{TARGETS['half_load_decision_to_emails_p99_ms']} ms"
        )
    cost = life.get("cost_per_lifecycle") or {}
    if cost.get("cpu_ms_total", 0) > TARGETS["cpu_ms_per_lifecycle_max"]:
        missed.append(
            f"CPU per lifecycle {cost['cpu_ms_total']} ms (all processes) > "
            f"{TARGETS['cpu_ms_per_lifecycle_max']} ms"
        )
    if cost.get("store_commits", 0) > TARGETS["store_commits_per_lifecycle_max"]:
        missed.append(
            f"store commits per lifecycle {cost['store_commits']} > "
            f"{TARGETS['store_commits_per_lifecycle_max']}"
        )
    for name, mb in (life.get("peak_rss_mb") or {}).items():
        if mb > TARGETS["lifecycle_peak_rss_max_mb"]:
            missed.append(
                f"{name} peak RSS in the lifecycles {mb} MB > "
                f"{TARGETS['lifecycle_peak_rss_max_mb']} MB"
            )
    stored = life.get("stored")
    if stored and (stored["p95_ratio"] or 0) > TARGETS["stored_latency_max_ratio"]:
        missed.append(
            f"submit -> acknowledgement p95 with {stored['stored_proposals']} stored is "
            f"{stored['p95_ratio']}x the empty store's > {TARGETS['stored_latency_max_ratio']}x"
        )
    for run in (life["half"], *(s for s in life.get("search", []))):
        if run["emails_not_in_mailpit"] or run["completed"] < run["lifecycles"]:
            missed.append(f"{run['label']}: not every email delivered")
    return missed


COMPARED = (
    "submit_http_p50_ms",
    "submit_http_p99_ms",
    "submit_to_case_p50_ms",
    "submit_to_case_p99_ms",
    "submit_to_email_p50_ms",
    "submit_to_email_p99_ms",
    "throughput_per_s",
)


def overhead(on: dict[str, Any], off: dict[str, Any]) -> dict[str, Any]:
    """What tracing costs: each figure with tracing on minus off (and in per cent of off), and
    the peak memory of each service."""
    out: dict[str, Any] = {}
    for metric in COMPARED:
        delta = on[metric] - off[metric]
        pct = round(100 * delta / off[metric], 1) if off[metric] else None
        out[metric] = {"on": on[metric], "off": off[metric], "delta": round(delta, 1), "pct": pct}
    out["peak_rss_mb"] = {
        name: {"on": mb, "off": off["peak_rss_mb"].get(name)}
        for name, mb in on["peak_rss_mb"].items()
    }
    return out


def peer(args: argparse.Namespace, ours: dict[str, Any] | None) -> dict[str, Any]:
    """The same lifecycle on the peer engine, after the backbone's runs, and the ratios."""
    from tests.bench.peers import temporal

    try:
        measured = asyncio.run(
            temporal.measure(
                window=args.window,
                start_rate=args.start_rate,
                pdfs=args.peer_pdfs,
                expected_emails=(ours or {}).get("emails_per_lifecycle"),
            )
        )
    except Exception as exc:  # reported, and the run fails: a peer that cannot run says why
        return {"engine": args.peer, "error": f"{type(exc).__name__}: {exc}"}
    return {"engine": args.peer, "run": measured, "ratios": temporal.ratios(ours, measured)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=300, help="proposals to submit")
    parser.add_argument("-c", type=int, default=10, help="concurrent submissions")
    parser.add_argument(
        "--tracing",
        choices=("both", "on", "off"),
        default="both",
        help="run with tracing on and off and compare (default), or only one of them",
    )
    parser.add_argument(
        "--probe-sizes",
        type=int,
        nargs="*",
        default=[100, 1000, 5000],
        help="collection sizes for the store probe (none: skip it)",
    )
    parser.add_argument(
        "--idle-stored", type=int, default=0, help="also measure idle CPU with N proposals stored"
    )
    parser.add_argument(
        "--lifecycles",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="raw baselines, then full lifecycles through every committee (tests/bench/"
        "lifecycle.py): rate search, half rate, profile, decision pipeline alone",
    )
    parser.add_argument(
        "--window", type=float, default=20.0, help="seconds each offered rate is held"
    )
    parser.add_argument(
        "--start-rate", type=float, default=0.5, help="first offered lifecycles/s of the search"
    )
    parser.add_argument(
        "--decision-lifecycles", type=int, default=100, help="lifecycles of the decision pipeline"
    )
    parser.add_argument(
        "--stored",
        type=int,
        default=0,
        help="also the half-rate lifecycles with N proposals already stored (e.g. 10000)",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        help="also the console's pages and CLI views with N audit entries stored "
        "(tests/bench/history.py; e.g. 1000000)",
    )
    parser.add_argument(
        "--instances", type=int, default=2, help="also the lifecycles with N instances per service"
    )
    parser.add_argument(
        "--letter-pdf",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the lifecycles' letters with their PDFs (NOTIFICATIONS_LETTER_PDF); "
        "--no-letter-pdf measures the sending without them",
    )
    parser.add_argument(
        "--submit-bench",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the submission benchmark (-n, -c, --tracing), claims, letter PDFs and revocation",
    )
    parser.add_argument(
        "--peer",
        choices=("temporal",),
        help="also the same lifecycle on a peer engine, and the ratios (tests/bench/peers/)",
    )
    parser.add_argument(
        "--peer-pdfs", action="store_true", help="the peer attaches the letters' PDFs too"
    )
    parser.add_argument(
        "--kafka-nodes",
        type=int,
        nargs="+",
        choices=(1, 3),
        help="the lifecycles (and the raw Kafka baseline) on each of these local Kafka modes in "
        "turn, e.g. 1 3, compared under `kafka_nodes` (tests/bench/nodes.py); the stack is "
        "switched back to the mode it was in; `lifecycles` and the checks are the first mode's",
    )
    args = parser.parse_args()
    loadavg_at_start = [round(x, 2) for x in os.getloadavg()]  # before the stack's own start
    ensure_stack()
    runs = (
        {"on": True, "off": False}
        if args.tracing == "both"
        else {args.tracing: args.tracing == "on"}
    )
    result: dict[str, Any] = {}
    if args.submit_bench:
        results = {
            label: asyncio.run(run(args.n, args.c, tracing=on)) for label, on in runs.items()
        }
        result = dict(results["on"] if "on" in results else results["off"])
        if len(results) == 2:
            result["tracing_off"] = results["off"]
            result["tracing_overhead"] = overhead(results["on"], results["off"])
        result |= claims.measure()
        result |= letter_pdf.measure()
        result |= asyncio.run(letter_register.measure(400, (1, 4, 16)))
    if args.lifecycles:
        result["baselines"] = asyncio.run(baselines.measure())
        print(json.dumps(result["baselines"], indent=2))
        lifecycle_args = {
            "window": args.window,
            "start_rate": args.start_rate,
            "decision_lifecycles": args.decision_lifecycles,
            "stored": args.stored,
            "instances": args.instances,
            "tracing": args.tracing != "off",
            "letter_pdf": args.letter_pdf,
        }
        if args.kafka_nodes:
            result["kafka_nodes"] = nodes.compare(args.kafka_nodes, lifecycle_args)
            first = result["kafka_nodes"]["runs"][str(args.kafka_nodes[0])]
            result["lifecycles"] = first["lifecycles"]
        else:
            result["lifecycles"] = asyncio.run(lifecycle.run_all(**lifecycle_args))
        result["baseline_ratios"] = baseline_ratios(result["lifecycles"], result["baselines"])
    if args.peer:  # right after the backbone's lifecycles: the same machine, the same minutes
        result["peer"] = peer(args, result.get("lifecycles"))
    if args.probe_sizes:
        result["store_probe"] = asyncio.run(store_probe.probe(MONGO, args.probe_sizes, 50))
    if args.history:
        result["history"] = asyncio.run(history.measure(args.history))
    if args.idle_stored:
        result["idle"] = asyncio.run(idle.measure(args.idle_stored, 60.0, 20.0))
    result["loadavg_at_start"] = loadavg_at_start
    result["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["letter_pdf_attachments"] = args.letter_pdf
    result["targets"] = TARGETS
    result["missed"] = check(result)
    if args.peer and "error" in result["peer"]:
        result["missed"].append(f"peer {args.peer}: {result['peer']['error']}")
    out = LOCAL / "bench" / "latest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if "lifecycles" in result:
        from tests.bench import chart

        print(f"chart: {chart.draw(result, out.with_suffix('.png'))}")
    if result["missed"]:
        print("TARGETS MISSED:\n  " + "\n  ".join(result["missed"]))
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
