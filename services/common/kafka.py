"""Kafka plumbing: the broker every service uses, and topic provisioning."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker

from contracts.topics import Topics
from services.common.settings import ServiceSettings


def make_broker(
    settings: ServiceSettings, client_id: str, *, middlewares: Sequence[Any] = ()
) -> KafkaBroker:
    """Idempotent producer with acks=all: a publish is confirmed once every in-sync replica has
    it, and retries never write a record twice. `middlewares`: broker-wide (tracing)."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        graceful_timeout=15.0,
        logger=None,
        middlewares=tuple(middlewares),
    )


async def ensure_topics(
    bootstrap: str, topics: Topics, partitions: int, *, timeout_s: float = 30.0
) -> list[str]:
    """Create the project's topics that do not exist yet; returns the ones it created."""
    admin = make_admin(bootstrap)
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
    admin = make_admin(bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


def make_admin(bootstrap: str, client_id: str = "smartcity-admin") -> AIOKafkaAdminClient:
    """An admin client (topics, consumer groups)."""
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id)


def make_offsets_reader(bootstrap: str, client_id: str = "smartcity-offsets") -> AIOKafkaConsumer:
    """A consumer that joins no group and reads no records: it asks for partitions' end offsets."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap, client_id=client_id, group_id=None, enable_auto_commit=False
    )


async def consumer_lag(bootstrap: str, topics: Sequence[str]) -> list[dict[str, Any]]:
    """For every consumer group with committed offsets on `topics`: per partition, the
    committed offset, the end offset and the lag (records not yet consumed by the group)."""
    wanted = set(topics)
    admin = make_admin(bootstrap, "smartcity-lag")
    reader = make_offsets_reader(bootstrap, "smartcity-lag")
    await admin.start()
    try:
        await reader.start()
        try:
            groups = sorted({g[0] for g in await admin.list_consumer_groups()})
            committed: dict[str, dict[TopicPartition, int]] = {}
            for group in groups:
                offsets = await admin.list_consumer_group_offsets(group)
                mine = {tp: om.offset for tp, om in offsets.items() if tp.topic in wanted}
                if mine:
                    committed[group] = mine
            partitions = sorted({tp for c in committed.values() for tp in c})
            ends = await reader.end_offsets(partitions) if partitions else {}
        finally:
            await reader.stop()
    finally:
        await admin.close()
    rows = []
    for group, offsets in sorted(committed.items()):
        for tp, offset in sorted(offsets.items()):
            end = int(ends.get(tp, 0))
            rows.append(
                {
                    "group": group,
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "committed": offset,
                    "end": end,
                    "lag": max(end - offset, 0) if offset >= 0 else end,
                }
            )
    return rows
