"""Kafka plumbing: the broker every service uses, and topic provisioning."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker

from contracts.topics import Topics
from services.common.settings import ServiceSettings


def make_broker(settings: ServiceSettings, client_id: str) -> KafkaBroker:
    """Idempotent producer with acks=all: a publish is confirmed once every in-sync replica has
    it, and retries never write a record twice."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        graceful_timeout=15.0,
        logger=None,
        parser=tolerant_parser,
        decoder=tolerant_decoder,
    )


async def tolerant_decoder(msg: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream decodes every body before the handler runs (as JSON when there is no
    content-type or a JSON one, as text for text/plain), and lets errors other than a
    JSONDecodeError escape: a 5,000-digit integer, a malformed body labelled JSON or non-UTF-8
    labelled text would be redelivered for ever, silently. The handlers read the raw record and
    parse it themselves (`parse_record`), so an undecodable body is handed over as bytes."""
    try:
        return await original(msg)
    except Exception:
        return getattr(msg, "body", b"")


async def tolerant_parser(msg: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream's parser decodes every header value as UTF-8 before any handler runs, so one
    record with a non-UTF-8 or null header value would fail before the failure policy could see
    it, and be redelivered for ever. Such a record is parsed from a copy with readable headers;
    the handler still gets the original record (`raw_message`) to dead-letter."""
    try:
        return await original(msg)
    except Exception:
        headers = [
            (str(name), (value or b"").decode("utf-8", errors="replace").encode("utf-8"))
            for name, value in (getattr(msg, "headers", None) or ())
        ]
        parsed = await original(dataclasses.replace(msg, headers=headers))
        parsed.raw_message = msg
        return parsed


async def ensure_topics(
    bootstrap: str, topics: Topics, partitions: int, *, timeout_s: float = 30.0
) -> list[str]:
    """Create the project's topics that do not exist yet; returns the ones it created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="smartcity-admin")
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            await admin.start()
            break
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in topics.all() if name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(name, num_partitions=partitions, replication_factor=1)
                    for name in missing
                ]
            )
        for _ in range(100):
            if set(missing) <= set(await admin.list_topics()):
                break
            await asyncio.sleep(0.1)
        return missing
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="smartcity-admin")
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


async def read_record(
    bootstrap: str, topic: str, partition: int, offset: int, *, timeout_s: float = 10.0
) -> tuple[bytes | None, bytes | None] | None:
    """The value and key of one record, read back from Kafka; None if there is no such record
    (a partition or offset that does not exist, or a record deleted by retention)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        client_id="smartcity-replay-check",
    )
    await consumer.start()
    try:
        if topic not in await consumer.topics():
            return None
        partitions = consumer.partitions_for_topic(topic) or set()
        if partition not in partitions:
            return None
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        start = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        if not start <= offset < end:
            return None
        consumer.seek(tp, offset)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=500, max_records=1)
            for record in batch.get(tp, []):
                return (record.value, record.key) if record.offset == offset else None
        return None
    finally:
        await consumer.stop()
