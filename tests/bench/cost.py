"""What one lifecycle costs, from counters, never estimated (issue 26 item 1): each service
process's Prometheus counters (`/metrics`) read before and after a run, and every process's CPU
time from /proc (tests/bench/idle.py: `sample`).

  - CPU milliseconds per lifecycle of each process (the services and the servers under them),
  - store round trips per lifecycle of each service (`smartcity_store_round_trips_total`: one per
    command its clients sent; grouped as inserts, updates, finds and other),
  - Kafka records per lifecycle (end offsets, counted by the caller) and events each service
    published (`smartcity_events_published_total`),
  - SMTP transactions per lifecycle (`smartcity_smtp_transactions_total`),
  - CPU time of rendering one letter's text, HTML and PDF (`smartcity_letter_render_cpu_seconds`,
    mean per letter over the run).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

Doc = dict[str, Any]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

ROUND_TRIPS = "smartcity_store_round_trips_total"
PUBLISHED = "smartcity_events_published_total"
SMTP = "smartcity_smtp_transactions_total"
RENDER = "smartcity_letter_render_cpu_seconds"
WANTED = (ROUND_TRIPS, PUBLISHED, SMTP, f"{RENDER}_sum", f"{RENDER}_count")
GROUPS = {  # store command -> what it is, as the issue counts them
    "insert": "inserts",
    "update": "updates",
    "findAndModify": "updates",
    "delete": "updates",
    "find": "finds",
    "getMore": "finds",
    "aggregate": "finds",
    "count": "finds",
}


async def scrape(http: httpx.AsyncClient, urls: dict[str, str]) -> dict[str, Samples]:
    """The wanted samples of each process's /metrics (label -> samples)."""
    out: dict[str, Samples] = {}
    for label, url in urls.items():
        r = await http.get(f"{url}/metrics")
        r.raise_for_status()
        samples: Samples = {}
        for family in text_string_to_metric_families(r.text):
            for s in family.samples:
                if s.name in WANTED:
                    samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        out[label] = samples
    return out


def _delta(before: dict[str, Samples], after: dict[str, Samples]) -> dict[str, Samples]:
    return {
        label: {k: v - before.get(label, {}).get(k, 0.0) for k, v in samples.items()}
        for label, samples in after.items()
    }


def _per(value: float, n: int) -> float:
    return round(value / n, 2) if n else 0.0


def per_lifecycle(
    n: int,
    cpu_s: dict[str, float],
    before: dict[str, Samples],
    after: dict[str, Samples],
    *,
    kafka_records: int | None = None,
    commits: int | None = None,
    emails: int | None = None,
) -> Doc:
    """The cost of one lifecycle over a run of `n`: CPU, store round trips, Kafka records,
    SMTP transactions, and the rendering CPU of one letter."""
    delta = _delta(before, after)
    trips: dict[str, Doc] = {}
    total: defaultdict[str, float] = defaultdict(float)
    published: dict[str, float] = {}
    smtp = 0.0
    render_sum: defaultdict[str, float] = defaultdict(float)
    render_count: defaultdict[str, float] = defaultdict(float)
    for label, samples in delta.items():
        groups: defaultdict[str, float] = defaultdict(float)
        by_command: defaultdict[str, float] = defaultdict(float)
        events = 0.0
        for (name, labels), value in samples.items():
            tags = dict(labels)
            if name == ROUND_TRIPS:
                groups[GROUPS.get(tags["operation"], "other")] += value
                by_command[tags["operation"]] += value
            elif name == PUBLISHED:
                events += value
            elif name == SMTP:
                smtp += value
            elif name == f"{RENDER}_sum":
                render_sum[tags["part"]] += value
            elif name == f"{RENDER}_count":
                render_count[tags["part"]] += value
        all_trips = sum(groups.values())
        trips[label] = {
            **{g: _per(groups[g], n) for g in ("inserts", "updates", "finds", "other")},
            "total": _per(all_trips, n),
            "by_command": {c: _per(v, n) for c, v in sorted(by_command.items()) if v},
        }
        for g, v in groups.items():
            total[g] += v
        published[label] = _per(events, n)
    trips["all"] = {
        **{g: _per(total[g], n) for g in ("inserts", "updates", "finds", "other")},
        "total": _per(sum(total.values()), n),
    }
    out: Doc = {
        "lifecycles": n,
        "cpu_ms": {k: round(1000 * v / n, 1) for k, v in cpu_s.items()} if n else {},
        "cpu_ms_total": round(1000 * sum(cpu_s.values()) / n, 1) if n else 0.0,
        "store_round_trips": trips,
        "events_published": published,
        "smtp_transactions": _per(smtp, n),
    }
    if kafka_records is not None:
        out["kafka_records"] = _per(kafka_records, n)
    if commits is not None:
        out["store_commits"] = _per(commits, n)
    if emails is not None:
        out["emails"] = _per(emails, n)
    if render_count:
        out["render_cpu_ms_per_letter"] = {
            part: round(1000 * render_sum[part] / c, 2) for part, c in render_count.items() if c
        } | {"letters": int(render_count.get("html", 0))}
    return out
