"""The aggregate store (services/common/store.py) on the real Kafka and FerretDB, beyond its
contract (tests/store_contract.py, which test_store_contract.py runs here): round trips, a crash
between commit and publish, Kafka away, the outbox gauges, a store outage."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from faststream.exceptions import FastStreamException
from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from smartcity_th.contracts.envelope import AnyEnvelope
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.consumer import EventConsumer
from smartcity_th.services.common.kafka_auth import bootstrap_servers
from smartcity_th.services.common.mongo import make_client
from smartcity_th.services.common.record import Record
from smartcity_th.services.common.store import (
    AggregateStore,
    Commit,
    CommitPublisher,
    Relay,
    commit_id,
    record_of,
)
from tests.store_contract import add, withdrawn
from tests.support import KAFKA, MONGO, Namespace, kafka_security, read_topic, record_headers

pytestmark = pytest.mark.integration

Doc = dict[str, Any]


@pytest.fixture
async def broker(topics: Topics) -> AsyncIterator[KafkaBroker]:
    kafka = KafkaBroker(
        bootstrap_servers(KAFKA), security=kafka_security(), enable_idempotence=True, acks="all"
    )
    await kafka.connect()
    yield kafka
    await kafka.stop()


@pytest.fixture
def db(ns: Namespace, mongo: AsyncMongoClient[Doc]) -> AsyncDatabase[Doc]:
    return mongo[ns.db("store_test")]


def store_in(db: AsyncDatabase[Doc], publisher: CommitPublisher) -> AggregateStore:
    return AggregateStore(db, f"agg_{uuid.uuid4().hex[:6]}", publisher)


@dataclass
class Raw:
    value: bytes
    topic: str
    key: bytes
    partition: int = 0
    offset: int = 1
    headers: tuple[tuple[str, bytes], ...] = ()


def round_trips(operation: str) -> float:
    return (
        REGISTRY.get_sample_value("smartcity_store_round_trips_total", {"operation": operation})
        or 0.0
    )


async def test_a_store_decides_on_its_own_last_commit_without_reading(
    broker: KafkaBroker, topics: Topics, db: AsyncDatabase[Doc]
) -> None:
    """A store remembers its last commit of an aggregate: its next change reads nothing before
    the insert (the insert is the check), and `create` reads nothing either, counted in round
    trips. (That a commit another process made in between is still seen is the contract's:
    tests/store_contract.py, run here by test_store_contract.py.)"""
    client = make_client(MONGO, "this-process")  # counted: smartcity_store_round_trips_total
    try:
        mine = store_in(client[db.name], CommitPublisher(broker, topics, "proposals"))
        aggregate_id = f"ST-{uuid.uuid4().hex[:8]}"
        finds = round_trips("find")
        assert await mine.create(aggregate_id, Commit(state={"total": 0}))
        assert not await mine.create(aggregate_id, Commit(state={"total": 100}))
        assert await mine.change(aggregate_id, add(aggregate_id, 1)) == 1
        # No load anywhere (each would be two finds): the projection's check for a later
        # commit after each commit, and the publisher's look at the commit before the one
        # with events.
        assert round_trips("find") - finds == 3
    finally:
        await client.close()


async def test_a_crash_between_commit_and_publish_loses_nothing(
    broker: KafkaBroker, topics: Topics, db: AsyncDatabase[Doc]
) -> None:
    """The writer dies after its insert: no projection, nothing published. The next load
    sees the commit, and the relay publishes it (once past the grace period)."""
    publisher = CommitPublisher(broker, topics, "proposals")
    store = store_in(db, publisher)
    aggregate_id = f"ST-{uuid.uuid4().hex[:8]}"
    event = withdrawn(aggregate_id, "committed, then the writer died")
    await store.create(aggregate_id, Commit(state={"total": 1}, events=[]))
    await store.commits.insert_one(  # what a writer that died right after its insert leaves
        {
            "_id": commit_id(aggregate_id, 2),
            "aggregate_id": aggregate_id,
            "version": 2,
            "at": event.occurred_at,
            "state": {"total": 2},
            "events": [record_of(event)],
            "processed": [],
            "published": False,
        }
    )
    relay = Relay(publisher, [store], "t", grace_seconds=3600)
    assert await relay.sweep_once() == 0  # younger than the grace period: the writer's turn
    assert await relay.sweep_once(grace_seconds=0) == 1
    projected = await store.current.find_one({"_id": aggregate_id})
    assert projected is not None
    assert projected["total"] == 2
    doc = await store.commits.find_one({"_id": commit_id(aggregate_id, 2)})
    assert doc is not None
    assert doc["published"] is True
    records = await read_topic(
        topics.proposals, min_records=1, where=lambda r: r.key == aggregate_id.encode()
    )
    assert [json.loads(r.value)["event_id"] for r in records] == [str(event.event_id)]


async def test_while_kafka_is_unreachable_the_commit_waits_for_the_relay(
    broker: KafkaBroker, topics: Topics, db: AsyncDatabase[Doc]
) -> None:
    unreachable = CommitPublisher(KafkaBroker("127.0.0.1:1"), topics, "proposals")
    store = store_in(db, unreachable)
    aggregate_id = f"ST-{uuid.uuid4().hex[:8]}"
    assert await store.change(aggregate_id, add(aggregate_id, 1)) == 1  # the commit stands
    assert unreachable.relay_wanted.is_set()  # and the relay was woken
    pending = await store.unpublished()
    assert [d["aggregate_id"] for d in pending] == [aggregate_id]
    relay = Relay(CommitPublisher(broker, topics, "proposals"), [store], "t")
    assert await relay.sweep_once(grace_seconds=0) == 1
    assert await store.unpublished() == []


def gauge(name: str, service: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"service": service})


async def test_the_outbox_gauges_show_how_old_the_backlog_is_while_kafka_is_away(
    broker: KafkaBroker, topics: Topics, db: AsyncDatabase[Doc]
) -> None:
    """`smartcity_outbox_oldest_age_seconds` and `smartcity_outbox_pending` (on the dashboard)
    show the relay's last pass: a pass that fails, Kafka being away, still reports the backlog."""
    unreachable = CommitPublisher(KafkaBroker("127.0.0.1:1"), topics, "proposals")
    store = store_in(db, unreachable)
    aggregate_id = f"ST-{uuid.uuid4().hex[:8]}"
    assert await store.change(aggregate_id, add(aggregate_id, 1)) == 1
    [pending] = await store.unpublished()
    later = pending["at"] + dt.timedelta(seconds=90)
    service = f"t-{uuid.uuid4().hex[:6]}"
    away = Relay(unreachable, [store], service, grace_seconds=0, clock=lambda: later)
    with pytest.raises(FastStreamException):  # the unconnected client
        await away.sweep_once()
    assert gauge("smartcity_outbox_pending", service) == 1
    assert gauge("smartcity_outbox_oldest_age_seconds", service) == pytest.approx(90, abs=1)

    back = Relay(
        CommitPublisher(broker, topics, "proposals"), [store], service, clock=lambda: later
    )
    assert await back.sweep_once(grace_seconds=0) == 1
    assert gauge("smartcity_outbox_pending", service) == 0
    assert gauge("smartcity_outbox_oldest_age_seconds", service) == 0


async def test_a_store_outage_holds_the_consumers_position(topics: Topics) -> None:
    """With the store unreachable the consumer retries the record and never dead-letters it
    or moves on; once the store answers, the record is processed."""
    down = make_client("mongodb://127.0.0.1:9", "down")
    down_store = AggregateStore(
        down["x"], "agg", CommitPublisher(KafkaBroker("127.0.0.1:1"), topics, "proposals")
    )
    letters: list[Doc] = []

    names = topics

    class Letters:
        topics = names

        async def send(self, record: Record, **kwargs: Any) -> None:
            letters.append(kwargs)

    consumer = EventConsumer("t", Letters(), max_attempts=2, base_delay=0.01, max_delay=0.05)  # type: ignore[arg-type]
    attempts = 0
    outage_over = asyncio.Event()

    async def handler(envelope: AnyEnvelope) -> None:
        nonlocal attempts
        attempts += 1
        if attempts >= 3:
            outage_over.set()
            return
        await down_store.load(envelope.proposal_id)  # the store is down: a transient error

    fact = withdrawn("ST-OUTAGE", "x")
    raw = Raw(
        fact.to_bytes(),
        topics.proposals,
        b"ST-OUTAGE",
        headers=tuple(record_headers(fact, topics.proposals)),
    )
    try:
        await asyncio.wait_for(consumer.process(raw, handler), timeout=60)
    finally:
        await down.close()
    assert outage_over.is_set()
    assert attempts == 3  # more than max_attempts: outages are retried for as long as they last
    assert letters == []
