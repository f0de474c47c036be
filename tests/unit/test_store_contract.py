"""The aggregate store's contract on the in-memory twin (`tests/unit/fakes/store.py`); the
same tests run on FerretDB and Kafka in `tests/integration/test_store_contract.py`."""

from __future__ import annotations

import itertools

import pytest

from smartcity_th.contracts.topics import PROPOSALS
from smartcity_th.services.common.documents import Doc
from tests.store_contract import *  # noqa: F403  (the contract's tests)
from tests.store_contract import ContractStore
from tests.unit.fakes.store import InMemoryAggregateStore, MemoryDatabase


class MemoryStores:
    def __init__(self) -> None:
        self.db = MemoryDatabase()
        self._names = itertools.count(1)

    def new(self, *, publishing: bool = True) -> ContractStore:
        store = InMemoryAggregateStore(f"agg_{next(self._names)}", self.db)
        store.publish_on_commit = publishing
        return store

    def twin(self, store: ContractStore) -> ContractStore:
        return InMemoryAggregateStore(store.name, self.db)

    async def commit(self, store: ContractStore, aggregate_id: str, version: int) -> Doc | None:
        assert isinstance(store, InMemoryAggregateStore)
        return await store.commit(aggregate_id, version)

    async def sent(self, store: ContractStore, aggregate_id: str, count: int) -> list[str]:
        assert isinstance(store, InMemoryAggregateStore)
        ids: list[str] = []
        for record in store.db.sent:
            if (
                record["key"] == aggregate_id
                and record["topic"] == PROPOSALS
                and record["event_id"] not in ids
            ):
                ids.append(record["event_id"])
        assert len(ids) >= count
        return ids


@pytest.fixture
def stores() -> MemoryStores:
    return MemoryStores()
