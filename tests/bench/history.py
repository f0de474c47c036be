"""The console with a long history: `python -m tests.bench.history --audit 1000000`.

Loads N audit entries into a private namespace's console database as the console stores them
(each Kafka record described by `records.describe` and sealed into the hash chain by
`chain.seal`, bulk-inserted): whole certification lifecycles (the submission, five decisions,
28 emails: the console's delivery log) and one dead letter per 100 entries. Then starts the
console service on it and times every page of the web console and every view of the
`smartcity` CLI that reads history, the first page and a deep one, p50/p95 over several
requests each. `make bench BENCH_ARGS="--history 1000000"` runs it inside the benchmark, whose
`console_page_max_ms` target it checks.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import os
import re
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from pymongo.asynchronous.database import AsyncDatabase
from typer.testing import CliRunner

from smartcity_th.contracts import topics as topic_names
from smartcity_th.contracts.envelope import AnyEnvelope
from smartcity_th.contracts.examples import (
    CORRELATION_ID,
    PROPOSAL_ID,
    example_dead_letter,
    example_envelope,
)
from smartcity_th.contracts.signing import HEADER_SIGNATURE, HEADER_SIGNED_AT
from smartcity_th.contracts.topics import DEFAULT_PARTITIONS, Topics
from smartcity_th.services.common.kafka import ensure_topics
from smartcity_th.services.common.mongo import make_client
from smartcity_th.services.common.record import Record
from smartcity_th.services.console.audit import MongoAuditLog, numbers
from smartcity_th.services.console.chain import GENESIS, seal
from smartcity_th.services.console.cli import app as cli_app
from smartcity_th.services.console.paging import list_page
from smartcity_th.services.console.records import describe
from tests.support import (
    KAFKA,
    LOCAL,
    MONGO,
    Namespace,
    ServiceProcess,
    free_port,
    remove_namespace,
    seed_registry,
    service_env,
)

Doc = dict[str, Any]
BATCH = 500
LIFECYCLE = (
    (topic_names.PROPOSALS, "ProposalSubmitted"),
    (topic_names.DECISIONS, "ProposalScreened"),
    (topic_names.DECISIONS, "SubcommitteeApproved"),
    (topic_names.DECISIONS, "SteeringCommitteeAcknowledged"),
    (topic_names.DECISIONS, "CabinetEndorsed"),
    (topic_names.DECISIONS, "CertificationAwarded"),
)
EMAILS_PER_LIFECYCLE = 28  # issue 26's measured lifecycle
DEAD_LETTER_EVERY = 100
CERTIFICATE = "SCT-2565-0016"


def certificate_number(n: int) -> str:
    """The `n`th lifecycle's certificate number, as the contract spells one (SCT-25YY-NNNN:
    a million of them), so that its award is a valid event (the registry's)."""
    return f"SCT-25{(n // 10_000) % 100:02d}-{n % 10_000:04d}"


@dataclass(frozen=True)
class Template:
    value: bytes
    event_id: str
    headers: dict[str, str]


@dataclass
class HistoryWriter:
    """Audit entries as the console appends them: each record described, then sealed onto
    the global chain and its proposal's chain."""

    topics: Topics
    seq: int = 0
    prev_hash: str = GENESIS
    lifecycles: int = 0
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    heads: dict[str, Doc] = field(default_factory=dict)
    lists: dict[str, int] = field(default_factory=dict)
    seqs: dict[str, list[int]] = field(default_factory=dict)
    """Sequence numbers by kind (`event`, `deadletter`, `email`): the deep pages' cursors."""
    templates: dict[str, Template] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for event_type in {t for _, t in LIFECYCLE} | {"NotificationSent"}:
            env = example_envelope(event_type)
            self.templates[event_type] = Template(env.to_bytes(), str(env.event_id), env.headers())

    def _record(self, topic: str, key: str, value: bytes, headers: dict[str, str]) -> Record:
        partition = sum(key.encode()) % DEFAULT_PARTITIONS
        offset = self.offsets.get((topic, partition), 0)
        self.offsets[(topic, partition)] = offset + 1
        signature = base64.b64encode(os.urandom(64)).decode()
        signed = {
            **headers,
            HEADER_SIGNATURE: f"v=2;keyid=bench-{topic};ed25519={signature}",
            HEADER_SIGNED_AT: dt.datetime.now(dt.UTC).isoformat(),
            "traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
        }
        return Record(
            topic=self.topics.name(topic),
            partition=partition,
            offset=offset,
            key=key.encode(),
            value=value,
            headers=tuple((k, v.encode()) for k, v in signed.items()),
            timestamp_ms=int(time.time() * 1000),
            log_append_time=True,
        )

    def _entry(self, record: Record, proposal_id: str, now: dt.datetime) -> Doc:
        last = self.heads.get(proposal_id)
        content = describe(record, self.topics, last, now)
        entry = seal(
            seq=self.seq + 1,
            prev_hash=self.prev_hash,
            proposal_id=proposal_id,
            proposal_seq=(last["proposal_seq"] + 1) if last else 1,
            proposal_prev_hash=last["hash"] if last else GENESIS,
            content=content,
        )
        self.seq, self.prev_hash = entry["seq"], entry["hash"]
        self.heads[proposal_id] = entry
        kind = "email" if entry["event_type"] == "NotificationSent" else str(entry["kind"])
        self.seqs.setdefault(kind, []).append(entry["seq"])
        numbered = numbers(entry, self.lists)
        if "list" in numbered:
            self.lists[numbered["list"]] = numbered["list_n"]
        return {"_id": entry["seq"], **entry, **numbered}

    def _fact(self, event_type: str, proposal_id: str) -> tuple[bytes, dict[str, str]]:
        t = self.templates[event_type]
        event_id = str(uuid.uuid4())
        value = (
            t.value.replace(PROPOSAL_ID.encode(), proposal_id.encode())
            .replace(t.event_id.encode(), event_id.encode())
            .replace(
                str(CORRELATION_ID).encode(),
                str(uuid.uuid5(uuid.NAMESPACE_URL, proposal_id)).encode(),
            )
            .replace(CERTIFICATE.encode(), certificate_number(self.lifecycles).encode())
        )
        headers = {k: event_id if v == t.event_id else v for k, v in t.headers.items()}
        return value, headers

    def lifecycle(self, now: dt.datetime) -> Iterator[Doc]:
        """One proposal's whole certification, in the order the console logs it: its facts,
        then its emails, with a dead letter about it wherever one falls due."""
        self.lifecycles += 1
        yield from self.proposal(f"HIS-{self.lifecycles:08d}", LIFECYCLE, EMAILS_PER_LIFECYCLE, now)

    def proposal(
        self, pid: str, facts: tuple[tuple[str, str], ...], emails: int, now: dt.datetime
    ) -> Iterator[Doc]:
        """The entries about proposal `pid`: `facts` (topic, event type), then `emails` sent."""
        self.heads = {}
        records = list(facts) + [(topic_names.NOTIFICATIONS, "NotificationSent")] * emails
        for k, (topic, event_type) in enumerate(records):
            value, headers = self._fact(event_type, pid)
            if event_type == "NotificationSent":
                value = value.replace(b"@", f"+r{k}@".encode(), 1)
            yield self._entry(self._record(topic, pid, value, headers), pid, now)
            if self.seq % DEAD_LETTER_EVERY == 0:
                yield self._dead_letter(pid, now)

    def envelopes(
        self, pid: str, facts: list[tuple[str, AnyEnvelope]], now: dt.datetime
    ) -> Iterator[Doc]:
        """The entries of these published facts (topic, envelope) about proposal `pid`."""
        self.heads = {}
        for topic, env in facts:
            yield self._entry(self._record(topic, pid, env.to_bytes(), env.headers()), pid, now)

    async def head(self, db: AsyncDatabase[Doc]) -> None:
        """The chain head after what was written, as the console keeps it."""
        await db["audit_head"].replace_one(
            {"_id": "global"},
            {"seq": self.seq, "hash": self.prev_hash, "lists": self.lists},
            upsert=True,
        )

    def _dead_letter(self, pid: str, now: dt.datetime) -> Doc:
        letter = example_dead_letter().model_copy(
            update={
                "dead_letter_id": str(uuid.uuid4()),
                "offset": self.seq,
                "dead_lettered_at": now,
            }
        )
        value = letter.model_dump_json().encode()
        return self._entry(self._record(topic_names.DEADLETTER, pid, value, {}), pid, now)

    def entries(self, total: int) -> Iterator[Doc]:
        now = dt.datetime.now(dt.UTC)
        while self.seq < total:
            for entry in self.lifecycle(now):
                yield entry
                if self.seq >= total:
                    return


async def load(
    db: AsyncDatabase[Doc], topics: Topics, total: int, progress: Callable[[int], None]
) -> HistoryWriter:
    """`total` audit entries into the console's database `db`, with its indexes and head."""
    audit = MongoAuditLog(db)
    await audit.ensure_indexes()
    writer = HistoryWriter(topics)
    batch: list[Doc] = []
    for entry in writer.entries(total):
        batch.append(entry)
        if len(batch) >= BATCH:
            await audit.entries.insert_many(batch, ordered=False)
            batch = []
            progress(writer.seq)
    if batch:
        await audit.entries.insert_many(batch, ordered=False)
    await writer.head(db)
    return writer


async def analyzed(db: AsyncDatabase[Doc], writer: HistoryWriter, timeout: float = 600) -> float:
    """Seconds until PostgreSQL plans the pages' block queries on their indexes. A table
    loaded in minutes has no statistics until autovacuum's ANALYZE reaches it (about a minute
    later), and until then the planner takes it for a small table and scans it; a log that
    grew over months has them. -1 if it never did within `timeout`."""
    started = time.monotonic()
    probes: list[Doc] = [{"block": 1}]
    if writer.lists:
        probes += [{"list_page": list_page(name, 0)} for name in writer.lists]
    while time.monotonic() - started < timeout:
        plans = [
            (await db.command("explain", {"find": "audit", "filter": f}))["queryPlanner"]
            for f in probes
        ]
        if all(p.get("Plan", {}).get("Node Type") != "Seq Scan" for p in plans):
            return round(time.monotonic() - started, 1)
        await asyncio.sleep(5)
    return -1.0


def _ms(samples: list[float]) -> Doc:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(p95, 1),
        "runs": len(ordered),
    }


def timed(call: Callable[[], None], repeat: int, slow_s: float = 5.0) -> Doc:
    """p50/p95 of `repeat` calls after one warm-up (a call slower than `slow_s` is not
    repeated: one figure says enough; one that fails is recorded with its error)."""
    started = time.perf_counter()
    try:
        call()
    except AssertionError as exc:  # refused or timed out: the time it took, and why
        ms = round((time.perf_counter() - started) * 1000, 1)
        return {"p50_ms": ms, "p95_ms": ms, "runs": 1, "error": str(exc)[:300]}
    first = time.perf_counter() - started
    samples = [first * 1000]
    if first < slow_s:
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            call()
            samples.append((time.perf_counter() - started) * 1000)
    return _ms(samples)


def login(http: httpx.Client, key: str) -> None:
    """The web console's login, as a browser does it (the form's CSRF token and cookie)."""
    form = http.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, "no CSRF token on the login page"
    done = http.post("/login", data={"api_key": key, "csrf": token.group(1), "next": "/events"})
    assert done.status_code == 303, f"login refused: {done.status_code}"


def views(writer: HistoryWriter) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The web pages, JSON routes and CLI views that read history, each at its first page
    and at a deep page (a tenth of the way into the log)."""

    def deep(kind: str) -> int:
        found = writer.seqs.get(kind) or [writer.seq]
        return found[len(found) // 10]

    events, emails, letters = deep("event"), deep("email"), deep("deadletter")
    pid = f"HIS-{max(1, writer.lifecycles // 2):08d}"
    pages = {
        "web /events": "/events",
        "web /events deep": f"/events?before_seq={events}",
        "web /deliveries": "/deliveries",
        "web /deliveries deep": f"/deliveries?before_seq={emails}",
        "web /deadletters": "/deadletters",
        "web /deadletters deep": f"/deadletters?before_seq={letters}",
        "web /proposals/{id}": f"/proposals/{pid}",
        "api events": "/api/events?newest=true&limit=100",
        "api events deep": f"/api/events?newest=true&limit=100&before_seq={events}",
        "api deliveries": "/api/deliveries",
        "api deliveries deep": f"/api/deliveries?before_seq={emails}",
        "api deadletters": "/api/deadletters",
        "api deadletters deep": f"/api/deadletters?before_seq={letters}",
        "api timeline": f"/api/proposals/{pid}/timeline",
        "api stages": f"/api/proposals/{pid}/stages",
        "api audit entries deep": f"/api/audit/entries?after_seq={events}&limit=500",
        "web /registry": "/registry",
        "web /pipeline": "/pipeline",
        "api registry": "/api/registry",
        "api pipeline": "/api/pipeline",
    }
    cli = {
        "cli events tail": ["events", "tail", "-n", "50"],
        "cli events tail deep": ["events", "tail", "-n", "50", "--before", str(events)],
        "cli deliveries": ["deliveries"],
        "cli deliveries deep": ["deliveries", "--before", str(emails)],
        "cli deadletters list": ["deadletters", "list"],
        "cli deadletters list deep": ["deadletters", "list", "--before", str(letters)],
        "cli timeline": ["timeline", pid],
        "cli registry": ["registry"],
        "cli pipeline": ["pipeline"],
    }
    return pages, cli


async def measure(total: int, repeat: int = 5) -> Doc:
    ns = Namespace()
    topics = Topics(ns.topics_prefix)
    await ensure_topics(KAFKA, topics, DEFAULT_PARTITIONS)
    keys = await seed_registry(topics, ("depa",))
    client = make_client(MONGO, "bench-history")
    logs = LOCAL / "logs" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    console: ServiceProcess | None = None
    try:
        started = time.perf_counter()
        step = max(BATCH, total // 20)

        def progress(seq: int) -> None:
            if seq % step < BATCH:
                rate = seq / (time.perf_counter() - started)
                print(f"history: {seq}/{total} entries ({rate:.0f}/s)", flush=True)

        writer = await load(client[ns.db("console")], topics, total, progress)
        loaded_in = time.perf_counter() - started
        analyzed_in = await analyzed(client[ns.db("console")], writer)
        port = free_port()
        env = {"CONSOLE_LOG_LEVEL": "WARNING"}
        console = ServiceProcess(
            "console",
            service_env("console", ns, port, env),
            port,
            logs / f"{ns.run_id}-history.log",
        )
        console.start()
        starting = time.perf_counter()
        await asyncio.to_thread(console.wait_healthy, 900)
        started_in = time.perf_counter() - starting
        result = await asyncio.to_thread(_time_views, console.url, keys["depa"], writer, repeat)
        result["audit_entries_breakdown"] = await audit_entries_breakdown(
            MongoAuditLog(client[ns.db("console")]), writer, repeat
        )
        return {
            "audit_entries": writer.seq,
            "lifecycles": writer.lifecycles,
            "emails": len(writer.seqs.get("email", [])),
            "dead_letters": len(writer.seqs.get("deadletter", [])),
            "loaded_in_s": round(loaded_in, 1),
            "loaded_per_s": round(writer.seq / loaded_in),
            "analyzed_after_s": analyzed_in,
            "console_started_in_s": round(started_in, 1),
            **result,
        }
    finally:
        if console is not None:
            console.stop()
        await remove_namespace(ns, client)
        await client.close()


async def audit_entries_breakdown(audit: MongoAuditLog, writer: HistoryWriter, repeat: int) -> Doc:
    """Where the time of a deep `/api/audit/entries?limit=500` goes: reading its blocks from
    the store, and turning them into the JSON body (as Starlette's JSONResponse does)."""
    events = writer.seqs.get("event") or [writer.seq]
    after = events[len(events) // 10]
    reads: list[float] = []
    dumps: list[float] = []
    size = 0
    for _ in range(repeat + 1):
        started = time.perf_counter()
        docs = await audit.page({}, after_seq=after, limit=500)
        read = time.perf_counter()
        body = json.dumps(docs, ensure_ascii=False, separators=(",", ":"), default=str).encode()
        reads.append((read - started) * 1000)
        dumps.append((time.perf_counter() - read) * 1000)
        size = len(body)
    return {
        "read_blocks": _ms(reads[1:]),
        "serialise": _ms(dumps[1:]),
        "body_bytes": size,
        "entries": len(docs),
    }


def _time_views(url: str, key: str, writer: HistoryWriter, repeat: int) -> Doc:
    pages, cli = views(writer)
    out: dict[str, Doc] = {}
    with (
        httpx.Client(base_url=url, timeout=300) as api,
        httpx.Client(base_url=url, timeout=300) as web,
    ):
        deadline = time.monotonic() + 60
        while api.get("/api/audit/head", headers={"X-API-Key": key}).status_code == 401:
            assert time.monotonic() < deadline, "the console never accepted the bench's key"
            time.sleep(0.2)
        login(web, key)
        for name, path in pages.items():
            http, headers = (web, {}) if name.startswith("web") else (api, {"X-API-Key": key})

            def get(path: str = path, http: httpx.Client = http, headers: Doc = headers) -> None:
                resp = http.get(path, headers=headers)
                assert resp.status_code == 200, f"{path}: {resp.status_code} {resp.text[:200]}"

            out[name] = timed(get, repeat)
            print(f"history: {name}: {out[name]}", flush=True)
    runner = CliRunner()
    env = {"CONSOLE_URL": url, "CONSOLE_API_KEY": key, "COLUMNS": "200"}
    for name, args in cli.items():

        def run_cli(args: list[str] = args) -> None:
            result = runner.invoke(cli_app, args, env=env)
            assert result.exit_code == 0, f"smartcity {' '.join(args)}: {result.output[-300:]}"

        out[name] = timed(run_cli, repeat)
        print(f"history: {name}: {out[name]}", flush=True)
    slowest = max(out, key=lambda k: out[k]["p95_ms"])
    return {
        "views": out,
        "slowest_view": slowest,
        "slowest_p95_ms": out[slowest]["p95_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audit", type=int, default=1_000_000, help="audit entries to load")
    parser.add_argument("--repeat", type=int, default=5, help="requests per view")
    args = parser.parse_args()
    result = asyncio.run(measure(args.audit, args.repeat))
    result["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    out = LOCAL / "bench" / "history.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
