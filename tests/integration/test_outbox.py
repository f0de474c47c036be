"""The single-write outbox on the real Kafka and FerretDB."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from contracts.envelope import new_envelope
from contracts.proposals import ProposalWithdrawn
from contracts.topics import Topics
from services.common.outbox import OutboxPublisher, OutboxRelay, outbox_entry
from tests.support import KAFKA, Namespace, kafka_security, read_topic

pytestmark = pytest.mark.integration

Doc = dict[str, Any]


@pytest.fixture
async def broker(topics: Topics) -> AsyncIterator[KafkaBroker]:
    kafka = KafkaBroker(KAFKA, security=kafka_security(), enable_idempotence=True, acks="all")
    await kafka.connect()
    yield kafka
    await kafka.stop()


@pytest.fixture
async def collection(ns: Namespace, mongo: AsyncMongoClient[Doc]) -> AsyncCollection[Doc]:
    return mongo[ns.db("outbox_test")][f"aggregates_{uuid.uuid4().hex[:6]}"]


async def store_with_events(
    collection: AsyncCollection[Doc], proposal_id: str, n: int
) -> list[str]:
    envelopes = [
        new_envelope(
            ProposalWithdrawn(applicant="lg-phuket-city", reason=f"step {i}"),
            producer="svc-proposals",
            proposal_id=proposal_id,
        )
        for i in range(n)
    ]
    await collection.insert_one(
        {"_id": proposal_id, "state": "x", "outbox": [outbox_entry(e) for e in envelopes]}
    )
    return [str(e.event_id) for e in envelopes]


async def test_flush_publishes_in_order_once_and_empties_the_outbox(
    broker: KafkaBroker, topics: Topics, collection: AsyncCollection[Doc]
) -> None:
    proposal_id = f"OB-{uuid.uuid4().hex[:8]}"
    ids = await store_with_events(collection, proposal_id, 5)
    publisher = OutboxPublisher(broker, topics, "test")

    assert await publisher.flush(collection, proposal_id) == 5
    assert await publisher.flush(collection, proposal_id) == 0

    doc = await collection.find_one({"_id": proposal_id})
    assert doc is not None
    assert doc["outbox"] == []
    assert doc["state"] == "x"
    records = await read_topic(
        topics.proposals, min_records=5, where=lambda r: r.key == proposal_id.encode()
    )
    assert [json.loads(r.value)["event_id"] for r in records] == ids
    assert len({r.partition for r in records}) == 1


async def test_while_kafka_is_unreachable_events_stay_until_the_relay_publishes_them(
    broker: KafkaBroker, topics: Topics, collection: AsyncCollection[Doc]
) -> None:
    proposal_id = f"OB-{uuid.uuid4().hex[:8]}"
    ids = await store_with_events(collection, proposal_id, 3)
    unreachable = KafkaBroker("127.0.0.1:1")  # never connected: every publish fails
    await OutboxPublisher(unreachable, topics, "test").try_flush(collection, proposal_id)
    doc = await collection.find_one({"_id": proposal_id})
    assert doc is not None
    assert [e["event_id"] for e in doc["outbox"]] == ids

    relay = OutboxRelay(
        OutboxPublisher(broker, topics, "test"), [collection], "test", grace_seconds=3600
    )
    assert await relay.sweep_once() == 0  # younger than the grace period: the writer's turn
    assert await relay.sweep_once(grace_seconds=0) == 3
    doc = await collection.find_one({"_id": proposal_id})
    assert doc is not None
    assert doc["outbox"] == []
    records = await read_topic(
        topics.proposals, min_records=3, where=lambda r: r.key == proposal_id.encode()
    )
    assert [json.loads(r.value)["event_id"] for r in records] == ids
