"""The published artefacts: docs/ matches what the contracts and the FastStream apps generate, the
AsyncAPI documents describe every event each service publishes, and the documented wire format
(value, key, headers) survives a round trip through the real Kafka broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faststream.kafka import KafkaBroker

from smartcity_th.contracts import topics
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.envelope import parse_record
from smartcity_th.contracts.examples import example_envelope
from smartcity_th.contracts.registry import REGISTRY_EVENTS
from smartcity_th.services.common.kafka_admin import KafkaAdmin
from smartcity_th.services.common.kafka_auth import bootstrap_servers
from tests.support import KAFKA, Namespace, kafka_auth, kafka_security, read_topic
from tools.docgen import artefacts
from tools.docgen.asyncapi import asyncapi, services
from tools.docgen.schemas import (
    DEAD_LETTER,
    dumps,
    event_schema,
    load_schemas,
    registry_event_schema,
)

pytestmark = pytest.mark.integration


def test_docs_are_up_to_date() -> None:
    out_of_date = artefacts.stale()
    assert not out_of_date, (
        "docs/ is stale; run `make docs` (python -m tools.docgen) and commit: "
        + ", ".join(out_of_date)
    )


def test_generation_is_deterministic() -> None:
    assert artefacts.artefacts() == artefacts.artefacts()


@pytest.mark.parametrize("service", services())
def test_asyncapi_lists_every_event_the_service_publishes(service: str) -> None:
    document = asyncapi(service)
    assert document["asyncapi"].startswith("3.")
    assert document["servers"]["development"]["host"] == "127.0.0.1:9092"
    channels: dict[str, Any] = document["channels"]
    operations: dict[str, Any] = document["operations"]
    schemas: dict[str, Any] = document["components"]["schemas"]
    owned = sorted(name for name, spec in EVENTS.items() if spec.owner == service)
    assert owned or service == "console"
    for event_type in [*owned, DEAD_LETTER]:
        topic = EVENTS[event_type].fact_topic if event_type in EVENTS else topics.DEADLETTER
        name = f"{topic}:{event_type}"
        assert channels[name]["address"] == topic
        assert channels[name]["description"]
        assert operations[name]["action"] == "send"
        [message_ref] = channels[name]["messages"].values()
        message = document["components"]["messages"][message_ref["$ref"].rsplit("/", 1)[-1]]
        schema_name = message["payload"]["$ref"].rsplit("/", 1)[-1]
        payload_schema = schemas[schema_name.replace("%5B", "[").replace("%5D", "]")]
        assert "payload" in payload_schema["properties"] or event_type == DEAD_LETTER
    receives = [op for op in operations.values() if op["action"] == "receive"]
    assert receives, f"{service} subscribes to nothing"


def test_every_event_has_a_schema_file_matching_the_model() -> None:
    schemas = load_schemas(artefacts.DOCS / artefacts.SCHEMAS_DIR)
    assert set(schemas) == {*EVENTS, *REGISTRY_EVENTS, DEAD_LETTER}
    for event_type in EVENTS:
        assert schemas[event_type] == json.loads(dumps(event_schema(event_type)))
    for event_type in REGISTRY_EVENTS:
        expected = registry_event_schema(event_type)
        assert schemas[event_type] == json.loads(dumps(expected))


def test_events_md_documents_every_event_with_an_example() -> None:
    text = (artefacts.DOCS / "events.md").read_text(encoding="utf-8")
    for event_type in EVENTS:
        assert f"### {event_type}" in text
        assert str(example_envelope(event_type).event_id) in text
    assert "## The dead-letter record" in text
    assert "## The agency directory" in text
    assert "1/2565" in text
    assert "Phuket" in text
    assert "ภูเก็ต" in text


@pytest.fixture
async def roundtrip_topic(ns: Namespace) -> AsyncIterator[str]:
    """A private topic for this test, so no service of the run consumes what it writes."""
    name = f"{ns.topics_prefix}contracts-roundtrip"
    # with the cluster's replication, as the stack provisions topics: on three nodes a topic of
    # one replica cannot take an acks=all write (min.insync.replicas 2)
    admin = KafkaAdmin(kafka_auth())
    await asyncio.to_thread(admin.create_topics, {name: 3}, {})
    yield name
    await asyncio.to_thread(admin.delete_topics, [name])


async def test_every_example_round_trips_through_kafka_with_key_and_headers(
    roundtrip_topic: str,
) -> None:
    sent = {event_type: example_envelope(event_type) for event_type in EVENTS}
    broker = KafkaBroker(
        bootstrap_servers(KAFKA),
        security=kafka_security(),
        enable_idempotence=True,
        acks="all",
        logger=None,
    )
    await broker.start()
    try:
        for envelope in sent.values():
            await broker.publish(
                envelope.to_bytes(),
                roundtrip_topic,
                key=envelope.key,
                headers=envelope.headers(),
            )
    finally:
        await broker.stop()

    records = await read_topic(roundtrip_topic, min_records=len(sent))
    assert len(records) == len(sent)
    partitions = set()
    for record in records:
        received = parse_record(record.value, record.headers)
        assert received == sent[received.event_type]
        assert record.key == topics.partition_key(received.proposal_id)
        headers = {name: value.decode() for name, value in record.headers}
        for name, value in received.headers().items():
            assert headers[name] == value
        partitions.add(record.partition)
    assert len(partitions) == 1, "one proposal's events must share one partition"
