"""The notifications adapters' contract (`tests/notifications_contract.py`) on FerretDB; the
same tests run on the in-memory twins in `tests/unit/test_notifications_contract.py`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from smartcity_th.services.common.mongo import make_client
from smartcity_th.services.notifications.adapters.bodies import MessageBodies
from smartcity_th.services.notifications.adapters.directory import RecipientsDirectory
from smartcity_th.services.notifications.adapters.register import LetterRegister
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


@pytest.fixture
async def adapters(ns: Namespace) -> AsyncIterator[MongoAdapters]:
    this, other = make_client(MONGO, "this-process"), make_client(MONGO, "other-process")
    try:
        yield MongoAdapters(ns, this, other)
    finally:
        await this.close()
        await other.close()
