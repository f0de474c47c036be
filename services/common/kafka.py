"""Kafka plumbing: the broker every service uses, and the admin path for topics.

Services never create topics: the admin does (`smartcity kafka provision`, `infra/services.sh`
at `make up`, the tests' fixtures), and applies the ACLs with them. A service only checks, at
start, that the topics it uses exist.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Union

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker
from faststream.kafka.subscriber.usecase import DefaultSubscriber
from faststream.middlewares import AckPolicy
from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler, SkipValidation
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from smartcity_th.contracts import access
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.deadletter import DeadLetter
from smartcity_th.contracts.envelope import Envelope
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.kafka_admin import deprovision, namespace_of, provision
from smartcity_th.services.common.kafka_auth import (
    KafkaAuth,
    admin_auth,
    authenticate,
    bootstrap_servers,
)
from smartcity_th.services.common.settings import ServiceSettings


class TopicsMissing(ConnectionError):
    """The topics a service needs do not exist (yet): the admin has not provisioned them."""


FETCHER_IDLE_MS = 10_000
"""The longest sleep of aiokafka's background fetch routine (`consumer_timeout_ms`; its default,
200 ms, woke every consumer five times a second). The routine is woken by a fetch answered, a
batch consumed or an assignment change, so this adds no delay to any record."""

LONG_POLL_MS = 10_000
"""How long the registry reader's fetch waits at the broker for a record (`fetch_max_wait_ms`):
a record that arrives answers the waiting fetch at once. Only for a reader of ONE partition:
with several partitions on one broker, a fetch in flight leaves out a partition whose records
were still being consumed, and that partition's next records wait for the fetch to come back
(with a 10 s wait four e2e tests timed out waiting for a decision to reach the proposals
service), so the services' FastStream consumers keep aiokafka's 500 ms."""


def subscribe(
    broker: KafkaBroker, *topics: str, group_id: str, description: str
) -> DefaultSubscriber:
    """A service's subscriber (every one is made here): in its consumer group, from the start
    of the topics when the group is new, and committing a record's offset only after its
    handler returned (FastStream's NACK_ON_ERROR: an exception leaves the record to be read
    again; `services/common/consumer.py` decides which failures end in a dead letter)."""
    return broker.subscriber(
        *topics,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        description=description,
    )


def make_broker(
    settings: ServiceSettings, client_id: str, *, middlewares: Sequence[Any] = ()
) -> KafkaBroker:
    """Idempotent producer with acks=all: a publish is confirmed once every in-sync replica has
    it, and retries never write a record twice. Authenticated as the service's principal.
    `middlewares`: broker-wide (tracing)."""
    return KafkaBroker(
        bootstrap_servers(settings.kafka_bootstrap),
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        metadata_max_age_ms=int(settings.kafka_metadata_max_age_seconds * 1000),
        graceful_timeout=15.0,
        logger=None,
        middlewares=tuple(middlewares),
        security=settings.kafka_auth(client_id).faststream(),
        parser=tolerant_parser,
        decoder=raw_record,
    )


async def raw_record(msg: Any) -> Any:
    """The decoder of every subscriber: the record as the client handed it over, never decoded.
    FastStream's own decoder reads every body before the handler runs (as JSON or text, by the
    content-type) and lets most errors escape: a 5,000-digit integer, a malformed body labelled
    JSON or non-UTF-8 labelled text would be redelivered for ever, silently. The subscribers
    hand the record to `EventConsumer`, which verifies, parses and dead-letters it itself."""
    return msg.raw_message


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


@dataclasses.dataclass(frozen=True)
class Carries:
    """The annotation of a subscriber's record: `Annotated[ConsumerRecord, Carries(...)]`.

    At run time nothing is validated: the record reaches the handler as `raw_record` decoded
    it. In the AsyncAPI documents the subscriber's payload is one of the envelopes of
    `event_types` (and the dead-letter record with `dead_letters`), so an integrator sees what
    the service consumes."""

    event_types: tuple[str, ...]
    dead_letters: bool = False

    def documented(self) -> Any:
        """The type the documents show: one of the envelopes (or the dead-letter record)."""
        envelope: Any = Envelope
        models: list[type[BaseModel]] = [envelope[EVENTS[t].payload] for t in self.event_types]
        if self.dead_letters:
            models.append(DeadLetter)
        return Union[tuple(models)]  # noqa: UP007

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        unvalidated: Any = SkipValidation
        return handler.generate_schema(unvalidated[self.documented()])

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        documented = handler(schema)
        if "anyOf" in documented:
            documented["oneOf"] = documented.pop("anyOf")
        return documented


def make_consumer(auth: KafkaAuth, client_id: str, **options: Any) -> AIOKafkaConsumer:
    """A plain aiokafka consumer (for readers outside FastStream: the registry projection),
    authenticated as `auth` says."""
    return AIOKafkaConsumer(**auth.aiokafka(), client_id=client_id, **options)


def make_producer(auth: KafkaAuth, client_id: str, **options: Any) -> AIOKafkaProducer:
    """A plain idempotent aiokafka producer (the registry admin), authenticated as `auth`
    says."""
    return AIOKafkaProducer(
        **auth.aiokafka(), client_id=client_id, enable_idempotence=True, acks="all", **options
    )


def needed_topics(service: str, topics: Topics) -> set[str]:
    """The topics a service reads or writes (its ACLs name exactly these)."""
    return {
        rule.name
        for rule in access.service_rules(service, topics.namespace)
        if rule.resource is access.Resource.TOPIC
    }


async def check_topics(auth: KafkaAuth, service: str, topics: Topics) -> None:
    """Authenticate (`KafkaAuthenticationError` when refused), then raise `TopicsMissing`
    unless every topic the service uses exists (and it may see it)."""
    await authenticate(auth)
    admin = AIOKafkaAdminClient(**auth.aiokafka(), client_id=f"{service}-startup")
    await admin.start()
    try:
        missing = sorted(needed_topics(service, topics) - set(await admin.list_topics()))
    finally:
        await admin.close()
    if missing:
        raise TopicsMissing(
            f"topics missing: {', '.join(missing)}; the admin creates them "
            f"(`smartcity kafka provision --namespace '{topics.namespace}'`)"
        )


def require_reachable(bootstrap: str, timeout: float = 3.0) -> None:
    """Raise ConnectionError at once when no bootstrap server accepts a connection (the Kafka
    clients would retry for about half a minute, logging each try, before saying so)."""
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout):
                return
        except (OSError, ValueError):
            continue
    raise ConnectionError(f"Kafka at {bootstrap} is unreachable: no bootstrap server answered")


async def ensure_topics(bootstrap: str, topics: Topics, partitions: int) -> list[str]:
    """As the admin: create the namespace's topics and apply its ACLs; returns those created."""
    return await provision(topics, partitions, admin_auth(bootstrap))


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    """As the admin: delete a test namespace's topics and every ACL of that namespace."""
    await deprovision(Topics(namespace_of(names)), admin_auth(bootstrap))


@dataclasses.dataclass(frozen=True)
class StoredRecord:
    """One record as Kafka holds it: the exact bytes of its value and key, and its headers in
    their order."""

    value: bytes | None
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]


class ReplayProducer:
    """Sends a record read back from Kafka as it is: a plain aiokafka producer, which adds no
    header of its own (FastStream's publish adds a correlation id), started at the first
    replay."""

    def __init__(self, auth: KafkaAuth) -> None:
        self._auth = auth
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()

    async def publish(self, record: StoredRecord, topic: str) -> None:
        async with self._starting:
            if self._producer is None:
                producer = make_producer(self._auth, "smartcity-replay")
                await producer.start()
                self._producer = producer
        await self._producer.send_and_wait(
            topic, record.value, key=record.key, headers=list(record.headers)
        )

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


async def read_record(
    auth: KafkaAuth, topic: str, partition: int, offset: int, *, timeout_s: float = 10.0
) -> StoredRecord | None:
    """One record, read back from Kafka; None if there is no such record (a partition or
    offset that does not exist, or a record deleted by retention)."""
    consumer = AIOKafkaConsumer(
        **auth.aiokafka(),
        enable_auto_commit=False,
        group_id=None,
        client_id="smartcity-replay-check",
    )
    await consumer.start()
    try:
        if topic not in await consumer.topics():
            return None
        tp = TopicPartition(topic, partition)
        # `topics()` does not fill the consumer's own metadata; assigning asks for the topic's.
        consumer.assign([tp])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        partitions = consumer.partitions_for_topic(topic)
        while partitions is None and loop.time() < deadline:
            await asyncio.sleep(0.05)
            partitions = consumer.partitions_for_topic(topic)
        if partition not in (partitions or set()):
            return None
        start = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        if not start <= offset < end:
            return None
        consumer.seek(tp, offset)
        while loop.time() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=500, max_records=1)
            for record in batch.get(tp, []):
                if record.offset != offset:
                    return None
                headers = tuple((name, bytes(value or b"")) for name, value in record.headers)
                return StoredRecord(record.value, record.key, headers)
        return None
    finally:
        await consumer.stop()


async def consumer_lag(auth: KafkaAuth, topics: Sequence[str]) -> list[dict[str, Any]]:
    """For every consumer group with committed offsets on `topics` (that `auth`'s principal may
    describe): per partition, the committed offset, the end offset and the lag (records not yet
    consumed by the group)."""
    wanted = set(topics)
    admin = AIOKafkaAdminClient(**auth.aiokafka(), client_id="smartcity-lag")
    reader = AIOKafkaConsumer(
        **auth.aiokafka(), client_id="smartcity-lag", group_id=None, enable_auto_commit=False
    )
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
