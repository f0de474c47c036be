"""The console audit log's contract on the in-memory twin (`tests/unit/fakes/audit.py`); the
same tests run on FerretDB in `tests/integration/test_audit_contract.py`."""

from __future__ import annotations

import pytest

from smartcity_th.services.console.paging import MAX_BLOCKS
from smartcity_th.services.console.ports import AuditLog
from tests.audit_contract import *  # noqa: F403  (the contract's tests)
from tests.unit.fakes.audit import InMemoryAuditLog


class MemoryLogs:
    async def new(self, *, max_blocks: int = MAX_BLOCKS) -> AuditLog:
        return InMemoryAuditLog(max_blocks=max_blocks)

    def twin(self, log: AuditLog) -> AuditLog:
        assert isinstance(log, InMemoryAuditLog)
        return InMemoryAuditLog(log.memory)


@pytest.fixture
def logs() -> MemoryLogs:
    return MemoryLogs()
