"""The console audit log's contract (`tests/audit_contract.py`) on FerretDB (`MongoAuditLog`);
the same tests run on the in-memory twin in `tests/unit/test_audit_contract.py`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient

from smartcity_th.services.common.documents import Doc
from smartcity_th.services.common.mongo import make_client
from smartcity_th.services.console.audit import MongoAuditLog
from smartcity_th.services.console.paging import MAX_BLOCKS
from smartcity_th.services.console.ports import AuditLog
from tests.audit_contract import *  # noqa: F403  (the contract's tests)
from tests.support import MONGO, Namespace

pytestmark = pytest.mark.integration


class MongoLogs:
    def __init__(self, ns: Namespace, this: AsyncMongoClient[Doc], other: AsyncMongoClient[Doc]):
        self._ns = ns
        self._this = this
        self._other = other

    async def new(self, *, max_blocks: int = MAX_BLOCKS) -> AuditLog:
        db = self._this[self._ns.db(f"console_contract_{uuid.uuid4().hex[:6]}")]
        log = MongoAuditLog(db, max_blocks=max_blocks)
        await log.ensure_indexes()
        await log.repair()
        return log

    def twin(self, log: AuditLog) -> AuditLog:
        assert isinstance(log, MongoAuditLog)
        return MongoAuditLog(self._other[log.entries.database.name])


@pytest.fixture
async def logs(ns: Namespace) -> AsyncIterator[MongoLogs]:
    this, other = make_client(MONGO, "this-console"), make_client(MONGO, "other-console")
    try:
        yield MongoLogs(ns, this, other)
    finally:
        await this.close()
        await other.close()
