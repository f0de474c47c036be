"""`make fuzz`: a fuzz campaign through the real broker to every consumer.

Hostile records (tests/fuzz/strategies.py: Hypothesis over value bytes, headers and keys) go to
every topic the services consume: the intake (proposals, approvals and the console), the facts
topics (approvals, notifications, proposals, the console), notifications and dead letters (the
console). After each batch it waits until every consumer group has caught up (a group that
stops making progress while records are left is a stuck partition), then sends a valid claim to
every intake partition (with a key that lands on the same partition of every topic) and checks
it end to end: the fact (proposals), the case (approvals), an email (notifications, at Mailpit)
and the audit entries (console).

Figures printed at the end (and written to .local/fuzz/latest.json): records sent, dead-lettered
per consumer with reasons, partitions stuck (must be 0), consumer restarts (must be 0), valid
claims lost (must be 0). Exit status 1 if any of those is not 0.

    python -m tests.fuzz.run --records 10000 --batch 500      # the long run
    python -m tests.fuzz.run --records 300 --batch 150        # CI
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import murmur2
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import HypothesisDeprecationWarning
from pymongo import AsyncMongoClient

from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.proposals import ProposalSubmitted
from smartcity_th.contracts.signing import (
    HEADER_SIGNATURE,
    HEADER_SIGNED_AT,
    format_signed_at,
    signature_header,
    signing_input,
)
from smartcity_th.contracts.topics import DEFAULT_PARTITIONS, HEADER_EVENT_TYPE, Topics
from tests.builders import content
from tests.fuzz.strategies import HostileRecord, hostile_records, record_size
from tests.support import (
    LOCAL,
    MONGO,
    Mailpit,
    Namespace,
    ServiceProcess,
    ensure_stack,
    find_published,
    free_port,
    kafka_client,
    kafka_producer,
    read_topic,
    remove_namespace,
    seed_registry,
    service_env,
    signed,
    signer_for,
)

SERVICES = ("proposals", "approvals", "notifications", "console")
# Records larger than this are refused by the broker itself (message.max.bytes, about 1 MiB).
BROKER_LIMIT = 1_040_000


@dataclass
class Figures:
    generated: int = 0
    sent: int = 0
    too_large_for_broker: int = 0
    sent_by_topic: Counter[str] = field(default_factory=Counter)
    sent_by_family: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    canaries: int = 0
    canaries_lost: int = 0
    stuck: list[str] = field(default_factory=list)
    restarts: int = 0
    notes: list[str] = field(default_factory=list)


def signed_headers(record: HostileRecord, n: int, topic: str) -> list[tuple[str, bytes | None]]:
    """Every other hostile intake record carries a valid signature of lg-phuket-city over its
    exact bytes, so that it passes the signature gate and reaches parsing and validation; the
    rest (and any record that brings its own signature header) meet the gate as they are."""
    headers = list(record.headers)
    if record.topic != "intake" or n % 2 or any(k == HEADER_SIGNATURE for k, _ in headers):
        return headers
    event_type = next((v for k, v in headers if k == HEADER_EVENT_TYPE), None) or b""
    signer = signer_for("lg-phuket-city")
    signed_at = format_signed_at(dt.datetime.now(dt.UTC)).encode()
    data = signing_input(
        record.value or b"", record.key, event_type, topic=topic.encode(), signed_at=signed_at
    )
    signature = signature_header(signer.key_id, signer.private_key.sign(data)).encode()
    return [*headers, (HEADER_SIGNED_AT, signed_at), (HEADER_SIGNATURE, signature)]


def generate(n: int) -> list[HostileRecord]:
    """`n` hostile records, drawn by Hypothesis (generation phase only, no shrinking)."""
    out: list[HostileRecord] = []
    while len(out) < n:

        @settings(
            max_examples=n - len(out),
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(hostile_records())
        def collect(record: HostileRecord) -> None:
            out.append(record)

        collect()
    return out[:n]


def key_for_partition(partition: int, partitions: int, tag: str) -> str:
    """A proposal id whose key lands on `partition` (Kafka's default partitioner)."""
    for i in range(100_000):
        candidate = f"FC-{tag}-{i}"
        if (murmur2(candidate.encode()) & 0x7FFFFFFF) % partitions == partition:
            return candidate
    raise AssertionError("no key found")


class Campaign:
    def __init__(self, figures: Figures, *, stall_seconds: float) -> None:
        self.figures = figures
        self.ns = Namespace()
        self.topics = Topics(self.ns.topics_prefix)
        self.stall_seconds = stall_seconds
        logs = LOCAL / "logs" / "fuzz"
        logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, ServiceProcess] = {}
        for name in SERVICES:
            port = free_port()
            env = service_env(name, self.ns, port, {f"{name.upper()}_LOG_LEVEL": "WARNING"})
            self.procs[name] = ServiceProcess(
                name, env, port, logs / f"{self.ns.run_id}-{name}.log"
            )
        prefix = self.ns.topics_prefix
        self.groups = {
            f"{prefix}proposals": (self.topics.intake, self.topics.decisions),
            f"{prefix}approvals": (self.topics.proposals,),
            f"{prefix}approvals-intake": (self.topics.intake,),
            f"{prefix}notifications": (self.topics.proposals, self.topics.decisions),
            f"{prefix}console": self.topics.all(),
        }
        self.pids: dict[str, int] = {}
        self.mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO, tz_aware=True)
        self.mailpit = Mailpit()
        self.console_key = ""

    async def start(self) -> None:
        keys = await seed_registry(self.topics)
        for p in self.procs.values():
            p.start()
        for p in self.procs.values():
            await asyncio.to_thread(p.wait_healthy, 600)
            assert p.proc is not None
            self.pids[p.name] = p.proc.pid
        self.console_key = keys["depa"]

    async def stop(self) -> None:
        for p in self.procs.values():
            await asyncio.to_thread(p.stop)
        await self.mailpit.close()
        await remove_namespace(self.ns, self.mongo)
        await self.mongo.close()

    def check_processes(self) -> None:
        """A service that exited (or was replaced) is a consumer restart; it is started again
        so the campaign can go on, and counted."""
        for p in self.procs.values():
            assert p.proc is not None
            if p.proc.poll() is not None:
                self.figures.restarts += 1
                self.figures.notes.append(f"{p.name} exited with {p.proc.returncode}")
                p.start()
                p.wait_healthy(600)
                self.pids[p.name] = p.proc.pid

    async def send(self, batch: list[HostileRecord]) -> None:
        async with kafka_producer(max_request_size=2 * BROKER_LIMIT) as producer:
            pending = []
            for record in batch:
                if record_size(record) > BROKER_LIMIT:
                    self.figures.too_large_for_broker += 1
                    continue
                pending.append(
                    await producer.send(
                        self.topics.name(f"smartcity.{record.topic}"),
                        record.value,
                        key=record.key,
                        headers=signed_headers(
                            record, self.figures.sent, self.topics.name(f"smartcity.{record.topic}")
                        ),
                    )
                )
                self.figures.sent += 1
                self.figures.sent_by_topic[record.topic] += 1
                self.figures.sent_by_family[record.family.split(":")[0]] += 1
            for fut in pending:
                await fut

    async def lag(self) -> dict[str, int]:
        """Records not yet committed, per group:topic:partition."""
        admin = AIOKafkaAdminClient(**kafka_client())
        consumer = AIOKafkaConsumer(**kafka_client(), enable_auto_commit=False)
        await admin.start()
        await consumer.start()
        try:
            tps = [
                TopicPartition(topic, p)
                for topic in self.topics.all()
                for p in range(DEFAULT_PARTITIONS)
            ]
            ends = await consumer.end_offsets(tps)
            out: dict[str, int] = {}
            for group, group_topics in self.groups.items():
                committed = await admin.list_consumer_group_offsets(group)
                for tp in tps:
                    if tp.topic not in group_topics:
                        continue
                    done = committed.get(tp)
                    position = done.offset if done is not None and done.offset >= 0 else 0
                    left = ends[tp] - position
                    if left > 0:
                        out[
                            f"{group.removeprefix(self.ns.topics_prefix)}:{tp.topic}:{tp.partition}"
                        ] = left
            return out
        finally:
            await consumer.stop()
            await admin.close()

    async def drain(self) -> list[str]:
        """Wait until every group has committed everything, for as long as they make progress;
        returns the partitions that stopped moving with records left (stuck)."""
        last_total = -1
        last_progress = time.monotonic()
        last_report = time.monotonic()
        while True:
            left = await self.lag()
            total = sum(left.values())
            if total == 0:
                return []
            if time.monotonic() - last_report > 30:
                last_report = time.monotonic()
                by_group = Counter({k.split(":")[0]: 0 for k in left})
                for k, v in left.items():
                    by_group[k.split(":")[0]] += v
                print(f"fuzz:   waiting for consumers: {dict(by_group)}", flush=True)
            if last_total < 0 or total < last_total:
                last_progress = time.monotonic()
            last_total = total if last_total < 0 else min(total, last_total)
            if time.monotonic() - last_progress > self.stall_seconds:
                return sorted(left)
            await asyncio.sleep(2)

    async def canaries(self, batch_no: int) -> list[str]:
        """A valid claim on every intake partition, processed end to end; returns what was lost."""
        claims: list[AnyEnvelope] = []
        for p in range(DEFAULT_PARTITIONS):
            pid = key_for_partition(p, DEFAULT_PARTITIONS, f"{self.ns.run_id}-{batch_no}")
            claims.append(
                new_envelope(
                    ProposalSubmitted(
                        applicant="lg-phuket-city",
                        content=content(),
                        contact_emails=["city@example.go.th"],
                    ),
                    producer="lg-phuket-city",
                    proposal_id=pid,
                )
            )
        async with kafka_producer() as producer:
            for claim in claims:
                record = signed(claim, self.topics.intake)
                await producer.send_and_wait(
                    self.topics.intake,
                    record.value,
                    key=record.key,
                    headers=record.kafka_headers(),
                )
        self.figures.canaries += len(claims)
        proposals = self.mongo[self.ns.db("proposals")]["proposals"]
        cases = self.mongo[self.ns.db("approvals")]["cases"]

        async def fact(pid: str) -> bool:
            return await find_published(proposals, {"_id": pid}) is not None

        async def case(pid: str) -> bool:
            return await cases.find_one({"_id": pid}) is not None

        async def email(pid: str) -> bool:
            return bool(await self.mailpit.by_header("X-Smartcity-Proposal-Id", pid))

        async def audit(pid: str) -> bool:
            async with httpx.AsyncClient(base_url=self.procs["console"].url, timeout=10) as http:
                resp = await http.get(
                    f"/api/proposals/{pid}/timeline", headers={"X-API-Key": self.console_key}
                )
            if resp.status_code != 200:
                return False
            kinds = Counter(e["kind"] for e in resp.json())
            return kinds["claim"] >= 1 and kinds["event"] >= 1

        lost: list[str] = []
        checks = {"fact": fact, "case": case, "email": email, "audit entry": audit}
        for claim in claims:
            for what, check in checks.items():
                if not await self._eventually(check, claim.proposal_id):
                    lost.append(f"{claim.proposal_id}: no {what}")
        return lost

    async def _eventually(self, check: Any, pid: str) -> bool:
        """Poll until `check` passes, for as long as the consumers make progress."""
        last_progress = time.monotonic()
        last_total: int | None = None
        while True:
            if await check(pid):
                return True
            total = sum((await self.lag()).values())
            if last_total is None or total < last_total:
                last_progress = time.monotonic()
                last_total = total
            if time.monotonic() - last_progress > max(60.0, self.stall_seconds / 2):
                return False
            await asyncio.sleep(1)

    async def dead_letters(self) -> dict[str, Any]:
        records = await read_topic(self.topics.deadletter, timeout=60)
        by_consumer: Counter[str] = Counter()
        reasons: dict[str, Counter[str]] = {}
        truncated = 0
        for r in records:
            try:
                letter = json.loads(r.value)
                consumer = letter["consumer"]
                kind = letter["error_kind"]
                reason = str(letter["error"]).split(":", 1)[0][:60]
            except (ValueError, KeyError, TypeError, RecursionError):
                continue  # a forged record the fuzzer itself put on the dead-letter topic
            by_consumer[consumer] += 1
            reasons.setdefault(consumer, Counter())[f"{kind}: {reason}"] += 1
            truncated += bool(letter.get("value_truncated"))
        return {
            "by_consumer": dict(by_consumer),
            "truncated": truncated,
            "top_reasons": {c: dict(v.most_common(8)) for c, v in reasons.items()},
        }


async def run(n: int, batch_size: int, stall_seconds: float) -> dict[str, Any]:
    figures = Figures()
    campaign = Campaign(figures, stall_seconds=stall_seconds)
    await asyncio.to_thread(ensure_stack)
    started = time.monotonic()
    await campaign.start()
    try:
        sizes = [min(batch_size, n - i) for i in range(0, n, batch_size)]
        next_batch = asyncio.create_task(asyncio.to_thread(generate, sizes[0]))
        for number, _ in enumerate(sizes):
            batch = await next_batch
            figures.generated += len(batch)
            if number + 1 < len(sizes):
                next_batch = asyncio.create_task(asyncio.to_thread(generate, sizes[number + 1]))
            await campaign.send(batch)
            stuck = await campaign.drain()
            figures.stuck += [f"batch {number + 1}: {s}" for s in stuck]
            lost = await campaign.canaries(number + 1)
            figures.canaries_lost += len({line.split(":")[0] for line in lost})
            figures.notes += [f"batch {number + 1}: {line}" for line in lost]
            campaign.check_processes()
            figures.batches += 1
            print(
                f"fuzz: batch {number + 1}/{len(sizes)} sent={figures.sent} "
                f"stuck={len(figures.stuck)} lost={figures.canaries_lost} "
                f"restarts={figures.restarts} elapsed={time.monotonic() - started:.0f}s",
                flush=True,
            )
        letters = await campaign.dead_letters()
    finally:
        await campaign.stop()
    result = {
        "records_generated": figures.generated,
        "records_sent": figures.sent,
        "not_sent_too_large_for_broker": figures.too_large_for_broker,
        "sent_by_topic": dict(figures.sent_by_topic),
        "sent_by_family": dict(figures.sent_by_family),
        "batches": figures.batches,
        "dead_lettered": letters["by_consumer"],
        "dead_letters_truncated": letters["truncated"],
        "dead_letter_reasons": letters["top_reasons"],
        "partitions_stuck": len(figures.stuck),
        "stuck": figures.stuck,
        "consumer_restarts": figures.restarts,
        "valid_claims_sent": figures.canaries,
        "valid_claims_lost": figures.canaries_lost,
        "notes": figures.notes,
        "elapsed_seconds": round(time.monotonic() - started, 1),
    }
    return result


def main() -> int:
    # Generation runs in a thread while the driver's own clients use `random`: harmless here.
    warnings.filterwarnings("ignore", category=HypothesisDeprecationWarning)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--stall-seconds",
        type=float,
        default=180,
        help="a consumer group with records left and no progress for this long is stuck",
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.records, args.batch, args.stall_seconds))
    out = LOCAL / "fuzz"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    print(
        f"fuzz: sent={result['records_sent']} dead_lettered={result['dead_lettered']} "
        f"partitions_stuck={result['partitions_stuck']} "
        f"consumer_restarts={result['consumer_restarts']} "
        f"valid_claims_lost={result['valid_claims_lost']} elapsed={result['elapsed_seconds']}s"
    )
    failed = (
        result["partitions_stuck"] or result["consumer_restarts"] or result["valid_claims_lost"]
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
