"""The notifications adapters' contract (`tests/notifications_contract.py`) on FerretDB; the
same tests run on the in-memory twins in `tests/unit/test_notifications_contract.py`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.mongo import make_client
from smartcity_th.services.common.store import AggregateStore, CommitPublisher
from smartcity_th.services.notifications.adapters.bodies import MessageBodies
from smartcity_th.services.notifications.adapters.delivery_log import MongoDeliveryLog
from smartcity_th.services.notifications.adapters.directory import RecipientsDirectory
from smartcity_th.services.notifications.adapters.register import LetterRegister
from smartcity_th.services.notifications.ports import DeliveryLog
from tests.notifications_contract import *  # noqa: F403  (the contract's tests)
from tests.notifications_contract import Directory, Register
from tests.notifications_contract import MessageBodies as Bodies
from tests.support import MONGO, Namespace

pytestmark = pytest.mark.integration

Doc = dict[str, Any]


class MongoAdapters:
    def __init__(self, ns: Namespace, this: AsyncMongoClient[Doc], other: AsyncMongoClient[Doc]):
        self._ns = ns
        self._this = this
        self._other = other

    def _db_name(self) -> str:
        return self._ns.db(f"notify_contract_{uuid.uuid4().hex[:6]}")

    async def directory(self) -> Directory:
        directory = RecipientsDirectory(self._this[self._db_name()])
        await directory.seed()
        return directory

    async def register(self) -> Register:
        register = LetterRegister(self._this[self._db_name()])
        await register.ensure_indexes()
        return register

    def register_twin(self, register: Register) -> Register:
        assert isinstance(register, LetterRegister)
        return LetterRegister(self._other[register.entries.database.name])

    def bodies(self) -> Bodies:
        return MessageBodies(self._this[self._db_name()], keep=0)

    def _store(self, client: AsyncMongoClient[Doc], db_name: str) -> AggregateStore:
        """The deliveries' store; what it commits is not published (nothing here reads it)."""
        publisher = CommitPublisher(KafkaBroker(), Topics(self._ns.topics_prefix), "notifications")
        publisher.publish_on_commit = False
        return AggregateStore(client[db_name], "deliveries", publisher)

    async def deliveries(self) -> DeliveryLog:
        log = MongoDeliveryLog(self._store(self._this, self._db_name()))
        await log.ensure_indexes()
        return log

    def deliveries_twin(self, log: DeliveryLog) -> DeliveryLog:
        assert isinstance(log, MongoDeliveryLog)
        return MongoDeliveryLog(self._store(self._other, log.collection.database.name))


@pytest.fixture
async def adapters(ns: Namespace) -> AsyncIterator[MongoAdapters]:
    this, other = make_client(MONGO, "this-process"), make_client(MONGO, "other-process")
    try:
        yield MongoAdapters(ns, this, other)
    finally:
        await this.close()
        await other.close()
