"""Full lifecycles through the real services: submission, depa's screening, the subcommittee,
the steering committee, the Cabinet and the logo award, every email delivered
(`python -m tests.bench.lifecycle`, part of `make bench`).

Each lifecycle is driven as the agencies drive it over HTTP (tests/e2e/test_two_instances.py
does the same): the applicant submits, depa screens as soon as the case is open (retried on 404
until the approvals service has consumed the submission), each committee records a meeting
(`POST /meetings`), depa awards the certificate. Lifecycles are started open-loop at an offered
rate; each figure comes from timestamps the system stores: a proposal's `submitted_at`, each
decision's time in the case history, each email's arrival in Mailpit (by Message-ID), the
Kafka end offsets and the commit counts of the stores.

  1. Rate search (one instance per service, empty store): offer R lifecycles/s for a window,
     doubling R while the run keeps up (tests/bench/stats.py: `sustained`), then once between
     the best rate kept and the lowest not kept. The maximum sustained rate is the best kept.
  2. Half of it, for the latency percentiles (submit -> acknowledgement email, decision -> its
     emails).
  3. Profiled: the maximum rate again with py-spy sampling each service (`--profile`).
  4. The decision pipeline alone: proposals and approvals only (no notifications service),
     lifecycles closed-loop with C in flight, until every case is certified.
  5. The same half-rate run with N proposals already stored (`--stored`, loaded as
     tests/bench/idle.py does) and with two instances per service (`--instances`, also at the
     maximum rate).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from smartcity_th.contracts.topics import DEFAULT_PARTITIONS, Topics
from smartcity_th.services.common.kafka import ensure_topics
from tests.bench import cost, idle
from tests.bench.stats import completion_rate, next_rate, ratio, spread, sustained
from tests.e2e.approvals_support import meeting
from tests.support import (
    KAFKA,
    LOCAL,
    MAILPIT,
    MONGO,
    Namespace,
    ServiceProcess,
    free_port,
    kafka_client,
    poll,
    poll_progress,
    remove_namespace,
    seed_registry,
    service_env,
    topic_partitions,
    unpublished,
)

Doc = dict[str, Any]
FULL = ("proposals", "approvals", "notifications")
DECISIONS_ONLY = ("proposals", "approvals")
AGENCIES = (
    "lg-phuket-city",
    "depa",
    "des-subcommittee",
    "steering-committee",
    "cabinet-secretariat",
)
MEETINGS = (  # body, agency, meeting id, decision, resolution number
    ("subcommittee", "des-subcommittee", "1/2565", "SubcommitteeApproved", None),
    ("steering_committee", "steering-committee", "1/2565", "SteeringCommitteeAcknowledged", None),
    ("cabinet", "cabinet-secretariat", "50/2565", "CabinetEndorsed", "นร 0505/ว 610"),
)
EVENT_TYPES = (
    "ProposalSubmitted",
    "ProposalScreened",
    "SubcommitteeApproved",
    "SteeringCommitteeAcknowledged",
    "CabinetEndorsed",
    "CertificationAwarded",
)


def _epoch(value: dt.datetime | str) -> float:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


@dataclass
class Stack:
    """One namespace with its own service processes (`instances` of each)."""

    ns: Namespace
    topics: Topics
    keys: dict[str, str]
    procs: dict[str, list[ServiceProcess]]
    mongo: AsyncMongoClient[Doc]
    stored: int = 0
    seeded_in_s: float = 0.0

    def urls(self, name: str) -> list[str]:
        return [p.url for p in self.procs[name]]

    def pids(self) -> dict[str, int]:
        return {
            f"{p.name}-{i + 1}": p.proc.pid
            for ps in self.procs.values()
            for i, p in enumerate(ps)
            if p.proc is not None
        }

    def metric_urls(self) -> dict[str, str]:
        return {f"{p.name}-{i + 1}": p.url for ps in self.procs.values() for i, p in enumerate(ps)}

    def rss(self) -> dict[str, float]:
        return {label: peak_rss_mb(pid) for label, pid in self.pids().items()}


@contextlib.asynccontextmanager
async def stack(
    services: tuple[str, ...],
    instances: int = 1,
    stored: int = 0,
    tracing: bool = True,
    letter_pdf: bool = True,
) -> AsyncIterator[Stack]:
    ns = Namespace()
    topics = Topics(ns.topics_prefix)
    await ensure_topics(KAFKA, topics, DEFAULT_PARTITIONS)
    keys = await seed_registry(topics, AGENCIES)
    mongo: AsyncMongoClient[Doc] = AsyncMongoClient(MONGO, tz_aware=True)
    logs = LOCAL / "logs" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    procs: dict[str, list[ServiceProcess]] = {}
    seeded_in = 0.0
    try:
        if stored:
            started = time.perf_counter()
            await idle.seed(ns, stored)
            seeded_in = time.perf_counter() - started
        for name in services:
            procs[name] = []
            for i in range(instances):
                env = {
                    **idle._production(name),
                    f"{name.upper()}_TRACING_ENABLED": str(tracing).lower(),
                    "NOTIFICATIONS_LETTER_PDF": str(letter_pdf).lower(),
                }
                procs[name].append(
                    ServiceProcess(
                        name,
                        service_env(name, ns, port := free_port(), env),
                        port,
                        logs / f"{ns.run_id}-life-{name}-{i + 1}.log",
                    )
                )
        everything = [p for ps in procs.values() for p in ps]
        for p in everything:
            p.start()
        for p in everything:
            await asyncio.to_thread(p.wait_healthy, 300)
        yield Stack(ns, topics, keys, procs, mongo, stored, round(seeded_in, 1))
    finally:
        for ps in procs.values():
            for p in ps:
                p.stop()
        await remove_namespace(ns, mongo)
        await mongo.close()


class Refused(RuntimeError):
    pass


@dataclass
class Driver:
    """Drives lifecycles on one stack, as the agencies would (HTTP with their API keys)."""

    s: Stack
    http: httpx.AsyncClient
    mailpit: httpx.AsyncClient
    pids: list[str] = field(default_factory=list)
    emails_per_lifecycle: int = 0

    async def _post(self, service: str, i: int, path: str, agency: str, body: Doc) -> Any:
        urls = self.s.urls(service)
        headers = {"X-API-Key": self.s.keys[agency], "Idempotency-Key": str(uuid.uuid4())}
        return await self.http.post(urls[i % len(urls)] + path, json=body, headers=headers)

    async def lifecycle(self, i: int) -> str:
        from tests.bench.run import DRAFT  # (run.py imports this module)

        r = await self._post("proposals", i, "/proposals", "lg-phuket-city", DRAFT)
        if r.status_code != 201:
            raise Refused(f"submit: {r.status_code} {r.text[:300]}")
        pid: str = r.json()["proposal_id"]
        self.pids.append(pid)
        screen = {"event_type": "ProposalScreened", "screened_by": "depa"}

        async def screened() -> httpx.Response | None:
            # 404 until the approvals service has consumed the submission and opened the case
            r = await self._post("approvals", i, f"/cases/{pid}/decisions", "depa", screen)
            return None if r.status_code == 404 else r

        r = await poll(screened, timeout=300, interval=0.1, what=f"the case of {pid}")
        if r.status_code != 201:
            raise Refused(f"screen {pid}: {r.status_code} {r.text[:300]}")
        for body, agency, meeting_id, decision, number in MEETINGS:
            recorded = meeting(body, meeting_id, [(pid, decision)], number)
            r = await self._post(
                "approvals", i, "/meetings", agency, recorded.model_dump(mode="json")
            )
            if r.status_code != 200 or r.json()["counts"] != {"applied": 1}:
                raise Refused(f"{decision} {pid}: {r.status_code} {r.text[:300]}")
        award = {"event_type": "CertificationAwarded", "valid_from": dt.date.today().isoformat()}
        r = await self._post("approvals", i, f"/cases/{pid}/decisions", "depa", award)
        if r.status_code != 201:
            raise Refused(f"award {pid}: {r.status_code} {r.text[:300]}")
        return pid

    async def mail_total(self) -> int:
        r = await self.mailpit.get("/api/v1/messages", params={"limit": 1})
        r.raise_for_status()
        return int(r.json()["total"])

    async def mail_since(self, since: float) -> dict[str, float]:
        """Message-ID -> arrival time (epoch s) of every message Mailpit received since `since`
        (newest first, paged)."""
        found: dict[str, float] = {}
        start = 0
        while True:
            r = await self.mailpit.get("/api/v1/messages", params={"start": start, "limit": 1000})
            r.raise_for_status()
            page = r.json()["messages"]
            for m in page:
                created = _epoch(m["Created"])
                if created < since:
                    return found
                found[m["MessageID"]] = created
            if len(page) < 1000:
                return found
            start += len(page)

    async def by_proposal(
        self, service: str, collection: str, pids: list[str], key: str, fields: dict[str, int]
    ) -> list[Doc]:
        """The documents of these proposals, one equality query each: FerretDB reads every
        document of a collection for an `$in` (with 100,000 stored, about 20 s a query)."""
        coll = self.s.mongo[self.s.ns.db(service)][collection]
        out: list[Doc] = []
        for pid in pids:
            out += await coll.find({key: pid}, fields).to_list(None)
        return out

    async def delivered(self, pids: list[str], since: float) -> bool:
        """Every email of these lifecycles is in Mailpit, by its Message-ID: each lifecycle
        has reached its last event's emails and none of its deliveries is missing from
        Mailpit (not a count of Mailpit's messages, which a straggler of an earlier window or
        an extra email of one lifecycle would upset)."""
        docs = await self.by_proposal(
            "notifications",
            "deliveries",
            pids,
            "proposal_id",
            {"message_id": 1, "event_type": 1, "proposal_id": 1},
        )
        reached = {d["proposal_id"] for d in docs if d["event_type"] == EVENT_TYPES[-1]}
        if reached != set(pids):
            return False
        mail = await self.mail_since(since - 1)
        return all((d.get("message_id") or "").strip("<>") in mail for d in docs)

    async def warm_up(self) -> Doc:
        """One lifecycle, to warm the services and count the emails a lifecycle sends (every
        event type's emails queued, none left queued, the count steady)."""
        await self.mailpit.delete("/api/v1/messages")
        pid = await self.lifecycle(0)
        deliveries = self.s.mongo[self.s.ns.db("notifications")]["deliveries"]
        seen: list[int] = []

        async def settled() -> Doc | None:
            docs = await deliveries.find({"proposal_id": pid}).to_list(None)
            types = {d["event_type"] for d in docs}
            statuses = Counter(d["status"] for d in docs)
            seen.append(len(docs))
            steady = len(seen) > 4 and len(set(seen[-4:])) == 1
            if set(EVENT_TYPES) <= types and not statuses["queued"] and steady:
                return {"deliveries": len(docs), "statuses": dict(statuses)}
            return None

        out = await poll_progress(settled, lambda: self.mail_total(), stall=90, what="warm-up")
        self.emails_per_lifecycle = int(out["statuses"].get("sent", 0))
        return out

    async def kafka_records(self) -> int:
        """The sum of the end offsets of every topic of the namespace (records produced)."""
        consumer = AIOKafkaConsumer(**kafka_client(), group_id=None)
        await consumer.start()
        try:
            tps = [
                TopicPartition(t, p) for t in self.s.topics.all() for p in await topic_partitions(t)
            ]
            return sum((await consumer.end_offsets(tps)).values())
        finally:
            await consumer.stop()

    async def commits(self) -> int:
        total = 0
        for name in self.s.procs:
            db = self.s.mongo[self.s.ns.db(name)]
            for c in await db.list_collection_names():
                if c.endswith("_commits"):
                    total += await db[c].count_documents({})
        return total

    async def offered(self, rate: float, n: int, label: str, profile: float = 0.0) -> Doc:
        """Start `n` lifecycles at `rate` per second; wait until every email is in Mailpit."""
        before_records, before_commits = await self.kafka_records(), await self.commits()
        cpu_pids = {k: [v] for k, v in self.s.pids().items()} | idle.stack_pids()
        metrics0 = await cost.scrape(self.http, self.s.metric_urls())
        cpu0 = idle.sample(cpu_pids)
        since = time.time()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        profiler = _Profiler(self.s, profile, label) if profile else None
        tasks = []
        for k in range(n):
            await asyncio.sleep(max(0.0, t0 + k / rate - loop.time()))  # the offered schedule
            tasks.append(asyncio.create_task(self.lifecycle(k)))
        pids = await asyncio.gather(*tasks)
        driven = time.time()
        stalled = None
        try:
            await poll_progress(
                lambda: self.delivered(pids, since),
                self.mail_total,
                stall=90,
                interval=2.0,
                what=f"every email of {n} lifecycles in Mailpit by its Message-ID",
            )
        except AssertionError as exc:  # measured and reported (`emails_not_in_mailpit`), not fatal
            stalled = str(exc)
        cpu1 = idle.sample({k: [v] for k, v in self.s.pids().items()} | idle.stack_pids())
        metrics1 = await cost.scrape(self.http, self.s.metric_urls())
        profiled = await profiler.collect() if profiler else None
        result = await self.measure(pids, since, label, rate)
        if stalled:
            result["wait_stalled"] = stalled
        span = result["span_s"]
        records = await self.kafka_records() - before_records
        commits = await self.commits() - before_commits
        result |= {
            "driven_s": round(driven - since, 1),
            "events": records,
            "events_per_s": round(records / span, 1),
            "commits": commits,
            "commits_per_s": round(commits / span, 1),
            "cpu_s": {k: round(cpu1[k] - cpu0[k], 1) for k in cpu0},
            "cpu_percent_of_one_core": {
                k: round(100 * (cpu1[k] - cpu0[k]) / span, 1) for k in cpu0
            },
            "cost_per_lifecycle": cost.per_lifecycle(
                n,
                {k: cpu1[k] - cpu0[k] for k in cpu0},
                metrics0,
                metrics1,
                kafka_records=records,
                commits=commits,
                emails=result["emails"],
            ),
        }
        if profiled is not None:
            result["profile"] = profiled
        return result

    async def measure(self, pids: list[str], since: float, label: str, rate: float) -> Doc:
        submitted = {
            d["_id"]: _epoch(d["submitted_at"])
            for d in await self.by_proposal(
                "proposals", "proposals", pids, "_id", {"submitted_at": 1}
            )
        }
        decided: dict[str, tuple[str, float]] = {}  # event id -> (event type, time)
        refused = 0
        for case in await self.by_proposal("approvals", "cases", pids, "_id", {"history": 1}):
            for h in case["history"]:
                if h.get("refused"):
                    refused += 1
                decided[h["event_id"]] = (h["event_type"], _epoch(h["at"]))
        mail = await self.mail_since(since - 1)
        arrived: dict[str, float] = {}  # event id -> its last email's arrival
        ends: dict[str, float] = {}
        missing = 0
        missing_statuses: Counter[str] = Counter()  # what the delivery log says of those
        sent = 0
        arrivals: list[float] = []
        for d in await self.by_proposal(
            "notifications",
            "deliveries",
            pids,
            "proposal_id",
            {"event_id": 1, "message_id": 1, "proposal_id": 1, "status": 1},
        ):
            at = mail.get((d.get("message_id") or "").strip("<>"))
            if at is None:
                missing += 1
                missing_statuses[str(d.get("status"))] += 1
                continue
            sent += 1
            arrivals.append(at)
            arrived[d["event_id"]] = max(arrived.get(d["event_id"], at), at)
            ends[d["proposal_id"]] = max(ends.get(d["proposal_id"], at), at)
        ack: list[float] = []
        decision: list[float] = []
        other: Counter[str] = Counter()
        for event_id, at in arrived.items():
            if event_id not in decided:
                other[event_id] += 1  # an email about an event not in the case history
                continue
            kind, when = decided[event_id]
            (ack if kind == "ProposalSubmitted" else decision).append((at - when) * 1000)
        starts = [submitted[p] for p in pids]
        span = max(ends.values()) - min(starts)
        ok, why = sustained(rate, starts, [ends.get(p, max(ends.values())) for p in pids])
        return {
            "label": label,
            "offered_per_s": round(rate, 3),
            "lifecycles": len(pids),
            "completed": sum(1 for p in pids if p in ends),
            "sustained": ok,
            "why": why,
            "span_s": round(span, 2),
            "lifecycles_per_s": round(completion_rate(list(ends.values())), 3),
            "emails": sent,
            "emails_not_in_mailpit": missing,
            "not_in_mailpit_by_status": dict(missing_statuses),
            "refused_in_history": refused,
            "emails_about_other_events": sum(other.values()),
            "emails_per_s": round(completion_rate(arrivals), 1),
            "submit_to_ack_email_ms": spread(ack),
            "decision_to_emails_ms": spread(decision),
            "lifecycle_s": spread([ends[p] - submitted[p] for p in pids if p in ends]),
        }

    async def closed(self, n: int, concurrency: int) -> Doc:
        """The decision pipeline alone: `n` lifecycles, `concurrency` at a time, until every
        case is certified and every commit published (no notifications service runs)."""
        sem = asyncio.Semaphore(concurrency)

        async def one(k: int) -> str:
            async with sem:
                return await self.lifecycle(k)

        before_records, before_commits = await self.kafka_records(), await self.commits()
        cpu_pids = {k: [v] for k, v in self.s.pids().items()} | idle.stack_pids()
        metrics0 = await cost.scrape(self.http, self.s.metric_urls())
        cpu0 = idle.sample(cpu_pids)
        since = time.time()
        pids = await asyncio.gather(*(one(k) for k in range(n)))
        cases = self.s.mongo[self.s.ns.db("approvals")]["cases"]
        proposals = self.s.mongo[self.s.ns.db("proposals")]["proposals"]

        async def pending() -> int:
            return await unpublished(cases) + await unpublished(proposals)

        await poll_progress(
            lambda: _at_most(pending(), 0), pending, stall=60, what="every commit published"
        )
        published = time.time()
        cpu1 = idle.sample({k: [v] for k, v in self.s.pids().items()} | idle.stack_pids())
        metrics1 = await cost.scrape(self.http, self.s.metric_urls())
        starts: dict[str, float] = {}
        ends: dict[str, float] = {}
        async for d in proposals.find({"_id": {"$in": pids}}, {"submitted_at": 1}):
            starts[d["_id"]] = _epoch(d["submitted_at"])
        async for case in cases.find({"_id": {"$in": pids}}, {"history": 1, "stage": 1}):
            assert case["stage"] == "certified", case
            ends[case["_id"]] = max(_epoch(h["at"]) for h in case["history"])
        span = max(ends.values()) - min(starts.values())
        records = await self.kafka_records() - before_records
        return {
            "lifecycles": n,
            "concurrency": concurrency,
            "span_s": round(span, 2),
            "lifecycles_per_s": round(n / span, 2),
            "decisions_per_s": round(5 * n / span, 1),
            "events": records,
            "events_per_s": round(records / span, 1),
            "all_published_after_s": round(published - since, 2),
            "lifecycle_s": spread([ends[p] - starts[p] for p in pids]),
            "cost_per_lifecycle": cost.per_lifecycle(
                n,
                {k: cpu1[k] - cpu0[k] for k in cpu0},
                metrics0,
                metrics1,
                kafka_records=records,
                commits=await self.commits() - before_commits,
            ),
        }


async def _at_most(count: Any, want: int) -> bool:
    return bool(await count <= want)


class _Profiler:
    """py-spy sampling every service process of a stack for `seconds` (raw collapsed stacks)."""

    RATE = 25

    def __init__(self, s: Stack, seconds: float, label: str) -> None:
        out = LOCAL / "bench" / "profiles"
        out.mkdir(parents=True, exist_ok=True)
        self.seconds = seconds
        self.files: dict[str, Path] = {}
        self.procs: list[subprocess.Popen[bytes]] = []
        spy = Path(os.environ.get("VIRTUAL_ENV", LOCAL.parent / ".venv")) / "bin" / "py-spy"
        for name, pid in s.pids().items():
            path = out / f"{label}-{name}.txt"
            self.files[name] = path
            self.procs.append(
                subprocess.Popen(
                    [
                        str(spy),
                        "record",
                        "--pid",
                        str(pid),
                        "--rate",
                        str(self.RATE),
                        "--duration",
                        str(int(seconds)),
                        "--nonblocking",
                        "--format",
                        "raw",
                        "--output",
                        str(path),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    async def collect(self) -> Doc:
        for p in self.procs:
            await asyncio.to_thread(p.wait, self.seconds + 60)
        possible = self.seconds * self.RATE
        return {name: summarise(path, possible) for name, path in self.files.items()}


def summarise(path: Path, possible: float, top: int = 8) -> Doc:
    """Top frames of a py-spy raw profile: by own samples (the frame on top) and by samples
    under each frame of the project's own code (services/, contracts/), and the share of the
    samples possible in which the process was busy."""
    if not path.exists():
        return {"error": "no profile written"}
    own: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for f in dict.fromkeys(f for f in frames if "services/" in f or "contracts/" in f):
            inside[f] += n

    def shares(counts: Counter[str]) -> list[tuple[str, float]]:
        return [(f, round(100 * n / total, 1)) for f, n in counts.most_common(top)]

    return {
        "samples": total,
        "busy_percent": round(100 * total / possible, 1) if possible else None,
        "top_own": shares(own) if total else [],
        "top_project": shares(inside) if total else [],
    }


def runs_for(rate: float, window: float) -> int:
    """How many lifecycles an offered rate starts: `window` seconds of them, at least 5."""
    return max(5, round(rate * window))


async def rate_search(
    offered: Callable[[float, int, str], Awaitable[Doc]],
    *,
    start_rate: float,
    window: float,
    max_steps: int,
    label: str,
    say: Callable[[str], None],
) -> tuple[float, Doc]:
    """Offer rising rates (`stats.next_rate`) until the highest sustained one is bracketed or
    `max_steps` are spent: the rate to halve for the half-load run (the best sustained, else the
    lowest tried) and the figures (`search`, `max_sustained_per_s`, `at_max`). The backbone and
    the peer engine are searched alike (`offered(rate, n, label)` runs one step)."""
    steps: list[Doc] = []
    tried: dict[float, bool] = {}
    while len(steps) < max_steps and (rate := next_rate(tried, start_rate)) is not None:
        step = await offered(rate, runs_for(rate, window), f"{label}{rate:g}")
        say(f"rate {rate:g}/s: {step['why']}")
        tried[rate] = step["sustained"]
        steps.append(step)
    kept = [r for r, ok in tried.items() if ok]
    best = max(kept) if kept else min(tried)
    return best, {
        "search": steps,
        "max_sustained_per_s": best if kept else None,
        "at_max": next(s for s in steps if s["offered_per_s"] == round(best, 3)),
    }


async def run_all(
    *,
    window: float = 20.0,
    start_rate: float = 0.5,
    max_steps: int = 6,
    decision_lifecycles: int = 100,
    decision_concurrency: int = 16,
    stored: int = 0,
    instances: int = 2,
    profile: bool = True,
    tracing: bool = True,
    letter_pdf: bool = True,
) -> Doc:
    out: Doc = {"window_s": window, "tracing": tracing, "letter_pdf": letter_pdf}
    log = print
    async with (
        httpx.AsyncClient(timeout=120) as http,
        httpx.AsyncClient(base_url=MAILPIT, timeout=60) as mailpit,
    ):

        def n_for(rate: float) -> int:
            return runs_for(rate, window)

        async with stack(FULL, 1, 0, tracing, letter_pdf) as s:
            drv = Driver(s, http, mailpit)
            out["warm_up"] = await drv.warm_up()
            out["emails_per_lifecycle"] = drv.emails_per_lifecycle
            log(f"warm-up: {out['warm_up']}")
            best, found = await rate_search(
                drv.offered,
                start_rate=start_rate,
                window=window,
                max_steps=max_steps,
                label="search-",
                say=log,
            )
            out |= found
            out["half"] = await drv.offered(best / 2, n_for(best / 2), "half")
            out["cost_per_lifecycle"] = out["half"]["cost_per_lifecycle"]
            log(f"half {best / 2:g}/s: {out['half']['submit_to_ack_email_ms']}")
            if profile:
                out["profiled"] = await drv.offered(best, n_for(best), "profiled", profile=window)
            out["peak_rss_mb"] = s.rss()
        async with stack(DECISIONS_ONLY, 1, 0, tracing) as s:
            drv = Driver(s, http, mailpit)
            await drv.lifecycle(0)
            out["decision_pipeline"] = await drv.closed(decision_lifecycles, decision_concurrency)
            out["decision_pipeline"]["peak_rss_mb"] = s.rss()
            log(f"decision pipeline: {out['decision_pipeline']['lifecycles_per_s']}/s")
        if stored:
            async with stack(FULL, 1, stored, tracing, letter_pdf) as s:
                drv = Driver(s, http, mailpit)
                await drv.warm_up()
                half = await drv.offered(best / 2, n_for(best / 2), f"stored-{stored}-half")
                out["stored"] = {
                    "stored_proposals": stored,
                    "seeded_in_s": s.seeded_in_s,
                    "half": half,
                    "peak_rss_mb": s.rss(),
                    "p50_ratio": ratio(
                        half["submit_to_ack_email_ms"]["p50"],
                        out["half"]["submit_to_ack_email_ms"]["p50"],
                    ),
                    "p95_ratio": ratio(
                        half["submit_to_ack_email_ms"]["p95"],
                        out["half"]["submit_to_ack_email_ms"]["p95"],
                    ),
                    "decision_p95_ratio": ratio(
                        half["decision_to_emails_ms"]["p95"],
                        out["half"]["decision_to_emails_ms"]["p95"],
                    ),
                }
                log(f"stored {stored}: {out['stored']['p95_ratio']}x p95")
        if instances > 1:
            async with stack(FULL, instances, 0, tracing, letter_pdf) as s:
                drv = Driver(s, http, mailpit)
                await drv.warm_up()
                at_max = await drv.offered(best, n_for(best), f"x{instances}-max")
                half = await drv.offered(best / 2, n_for(best / 2), f"x{instances}-half")
                out["instances"] = {
                    "instances": instances,
                    "at_max": at_max,
                    "half": half,
                    "peak_rss_mb": s.rss(),
                }
                log(f"{instances} instances: {at_max['lifecycles_per_s']}/s at {best:g}/s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--start-rate", type=float, default=0.5)
    parser.add_argument("--stored", type=int, default=0)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--decision-lifecycles", type=int, default=100)
    args = parser.parse_args()
    result = asyncio.run(
        run_all(
            window=args.window,
            start_rate=args.start_rate,
            stored=args.stored,
            instances=args.instances,
            decision_lifecycles=args.decision_lifecycles,
        )
    )
    out = LOCAL / "bench" / "lifecycle.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
