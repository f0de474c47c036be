"""Kafka plumbing: the broker every service uses, and topic provisioning."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

from contracts.topics import REGISTRY_CONFIG, Topics
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
    )


def make_consumer(bootstrap: str, client_id: str, **options: Any) -> AIOKafkaConsumer:
    """A plain aiokafka consumer (for readers outside FastStream, e.g. the registry
    projection). Authentication settings are added here, in one place."""
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, client_id=client_id, **options)


def make_producer(bootstrap: str, client_id: str, **options: Any) -> AIOKafkaProducer:
    """A plain idempotent aiokafka producer (the registry admin). Authentication settings are
    added here, in one place."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        **options,
    )


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
        new = [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in missing]
        if topics.registry not in existing:
            missing.append(topics.registry)
            new.append(
                NewTopic(
                    topics.registry,
                    num_partitions=1,
                    replication_factor=1,
                    topic_configs=dict(REGISTRY_CONFIG),
                )
            )
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile elsewhere
                await admin.create_topics(new)
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
