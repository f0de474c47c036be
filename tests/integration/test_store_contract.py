"""The aggregate store's contract (`tests/store_contract.py`) on the real FerretDB and Kafka;
the same tests run on the in-memory twin in `tests/unit/test_store_contract.py`."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.kafka_auth import bootstrap_servers
from smartcity_th.services.common.mongo import make_client
from smartcity_th.services.common.store import AggregateStore, CommitPublisher, commit_id
from tests.store_contract import *  # noqa: F403  (the contract's tests)
from tests.store_contract import ContractStore
from tests.support import KAFKA, MONGO, Namespace, kafka_security, read_topic

pytestmark = pytest.mark.integration

Doc = dict[str, Any]


class RealStores:
    def __init__(
        self,
        db: AsyncDatabase[Doc],
        other: AsyncMongoClient[Doc],
        broker: KafkaBroker,
        topics: Topics,
    ) -> None:
        self._db = db
        self._other = other
        self._broker = broker
        self._topics = topics

    def _publisher(self, publishing: bool = True) -> CommitPublisher:
        publisher = CommitPublisher(self._broker, self._topics, "proposals")
        publisher.publish_on_commit = publishing
        return publisher

    def new(self, *, publishing: bool = True) -> ContractStore:
        name = f"agg_{uuid.uuid4().hex[:6]}"
        return AggregateStore(self._db, name, self._publisher(publishing))

    def twin(self, store: ContractStore) -> ContractStore:
        return AggregateStore(self._other[self._db.name], store.name, self._publisher())

    async def commit(self, store: ContractStore, aggregate_id: str, version: int) -> Doc | None:
        assert isinstance(store, AggregateStore)
        return await store.commits.find_one({"_id": commit_id(aggregate_id, version)})

    async def sent(self, store: ContractStore, aggregate_id: str, count: int) -> list[str]:
        """From the topic: the records of this aggregate whose events this store committed
        (the namespace's topic has other tests' records under the same keys)."""
        assert isinstance(store, AggregateStore)
        ours = {
            e["event_id"]
            async for c in store.commits.find({"aggregate_id": aggregate_id})
            for e in c["events"]
        }
        records = await read_topic(
            self._topics.proposals,
            min_records=count,
            where=lambda r: (
                r.key == aggregate_id.encode() and json.loads(r.value)["event_id"] in ours
            ),
        )
        ids: list[str] = []
        for r in records:
            event_id = json.loads(r.value)["event_id"]
            if event_id not in ids:
                ids.append(event_id)
        return ids


@pytest.fixture
async def stores(
    ns: Namespace, mongo: AsyncMongoClient[Doc], topics: Topics
) -> AsyncIterator[RealStores]:
    broker = KafkaBroker(
        bootstrap_servers(KAFKA), security=kafka_security(), enable_idempotence=True, acks="all"
    )
    await broker.connect()
    other = make_client(MONGO, "other-process")
    this = make_client(MONGO, "this-process")
    try:
        yield RealStores(this[ns.db(f"contract_{uuid.uuid4().hex[:6]}")], other, broker, topics)
    finally:
        await other.close()
        await this.close()
        await broker.stop()
