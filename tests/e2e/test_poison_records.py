"""Hostile records cannot stop a consumer (issue 13): the two records that stopped every intake
consumer, then a valid claim on every partition, processed end to end (fact, case, email, audit
entry), and the poison dead-lettered by every consumer of the topic. Real broker, real services.
"""

from __future__ import annotations

import functools
import json
import uuid
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from smartcity_th.contracts.topics import Topics
from tests.builders import submission
from tests.support import (
    Mailpit,
    Namespace,
    ServiceProcess,
    envelope_of,
    find_published,
    kafka_producer,
    poll,
    read_topic,
    record_headers,
    topic_partitions,
)

pytestmark = pytest.mark.e2e

LONE_SURROGATE = b'{"event_id":"\\ud800","event_type":"X"}'


def newline_claim() -> bytes:
    """A well-formed claim whose proposal id ends in a newline: `re.match(... $)` accepts it."""
    data = json.loads(submission(proposal_id="SC-ABCDEFGH").to_bytes())
    data["proposal_id"] = "SC-ABCDEFGH\n"
    return json.dumps(data).encode()


Headers = list[tuple[str, bytes | None]]

# name: (value, headers). After the two records of issue 13: FastStream parses header values as
# UTF-8 and decodes bodies (JSON without a content-type or with a JSON one, text for text/plain)
# before any handler runs, and let other errors escape; the fuzz campaign (`make fuzz`) found the
# 5,000-digit integer, which stopped the console's partition for good.
POISON: dict[str, tuple[bytes, Headers]] = {
    "lone surrogate": (LONE_SURROGATE, []),
    "newline in proposal id": (newline_claim(), []),
    "non-UTF-8 header value": (b"{}", [("smartcity-event-type", b"\xff\xfe")]),
    "null header value": (b"{}", [("content-type", None)]),
    "huge integer": (b'{"event_type":"X","schema_version":' + b"9" * 6000 + b"}", []),
    "malformed JSON labelled JSON": (b"{oops", [("content-type", b"application/json")]),
    "non-UTF-8 labelled text": (b"\xff\xfe", [("content-type", b"text/plain")]),
}


async def test_poison_on_every_partition_stops_no_consumer(
    services: dict[str, ServiceProcess],
    console: ServiceProcess,
    console_key: str,
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
    mailpit: Mailpit,
) -> None:
    partitions = await topic_partitions(topics.intake)
    marker = uuid.uuid4().hex[:8]
    valid = {p: submission(proposal_id=f"PZ-{marker}-{p}") for p in partitions}
    async with kafka_producer() as producer:
        for p in partitions:
            for name, (value, headers) in POISON.items():
                await producer.send_and_wait(
                    topics.intake,
                    value,
                    key=f"{marker}-{name}".encode(),
                    partition=p,
                    headers=headers,
                )
            claim = valid[p]
            await producer.send_and_wait(
                topics.intake,
                claim.to_bytes(),
                key=claim.key,
                partition=p,
                headers=record_headers(claim, topics.intake),
            )

    proposals = mongo[ns.db("proposals")]["proposals"]
    cases = mongo[ns.db("approvals")]["cases"]

    async def accepted(pid: str) -> bool:
        return await find_published(proposals, {"_id": pid}) is not None

    async def case_opened(pid: str) -> bool:
        return await cases.find_one({"_id": pid}) is not None

    async def emailed(pid: str) -> bool:
        return bool(await mailpit.by_header("X-Smartcity-Proposal-Id", pid))

    async def in_audit_log(pid: str) -> bool:
        async with httpx.AsyncClient(base_url=console.url, timeout=10) as http:
            resp = await http.get(
                f"/api/proposals/{pid}/timeline", headers={"X-API-Key": console_key}
            )
        kinds = {e["kind"] for e in resp.json()} if resp.status_code == 200 else set()
        return {"claim", "event"} <= kinds

    for p, claim in valid.items():
        pid = claim.proposal_id
        for check, what in (
            (accepted, "accepted by proposals"),
            (case_opened, "a case opened by approvals"),
            (emailed, "an email sent"),
            (in_audit_log, "in the console's audit log"),
        ):
            await poll(
                functools.partial(check, pid),
                timeout=90,
                what=f"the valid claim behind the poison on partition {p}: {what}",
            )

    keys = {f"{marker}-{name}".encode() for name in POISON}
    found = [
        (r.key, envelope_of(r))
        for r in await read_topic(
            topics.deadletter,
            min_records=2 * len(POISON) * len(partitions),
            timeout=60,
            where=lambda r: r.key in keys,
        )
    ]
    by_consumer: dict[str, int] = {}
    for key, letter in found:
        by_consumer[letter["consumer"]] = by_consumer.get(letter["consumer"], 0) + 1
        # Unsigned intake records meet the signature gate first (unauthenticated); the rest fail
        # parsing or validation. Either way: a dead letter, and the consumer moves on.
        assert letter["error_kind"] in {"parse", "validation", "unauthenticated"}
        if key == f"{marker}-lone surrogate".encode():
            assert letter["event_id"] is None
            assert "surrogate" in letter["error"]
    each = len(POISON) * len(partitions)
    assert by_consumer == {"proposals": each, "approvals": each}
