"""The notifications adapters' contract on their in-memory twins
(`tests/unit/fakes/notifications.py`); the same tests run on FerretDB in
`tests/integration/test_notifications_contract.py`."""

from __future__ import annotations

import pytest

from smartcity_th.services.notifications.ports import DeliveryLog
from tests.notifications_contract import *  # noqa: F403  (the contract's tests)
from tests.notifications_contract import Directory, MessageBodies, Register
from tests.unit.fakes.notifications import (
    InMemoryDeliveryLog,
    InMemoryLetterRegister,
    InMemoryMessageBodies,
    InMemoryRecipients,
)
from tests.unit.fakes.store import InMemoryAggregateStore, MemoryDatabase


class MemoryAdapters:
    async def directory(self) -> Directory:
        directory = InMemoryRecipients()
        await directory.seed()
        return directory

    async def register(self) -> Register:
        return InMemoryLetterRegister()

    def register_twin(self, register: Register) -> Register:
        assert isinstance(register, InMemoryLetterRegister)
        return InMemoryLetterRegister(register.shared)

    def bodies(self) -> MessageBodies:
        return InMemoryMessageBodies()

    async def deliveries(self) -> DeliveryLog:
        return InMemoryDeliveryLog(
            InMemoryAggregateStore("deliveries", MemoryDatabase(), service="notifications")
        )

    def deliveries_twin(self, log: DeliveryLog) -> DeliveryLog:
        assert isinstance(log, InMemoryDeliveryLog)
        return InMemoryDeliveryLog(
            InMemoryAggregateStore(log.memory.name, log.memory.db, service="notifications")
        )


@pytest.fixture
def adapters() -> MemoryAdapters:
    return MemoryAdapters()
