"""Fixtures of the unit tier."""

from __future__ import annotations

import pytest

from tests.unit.notifications_stack import Notifications, notifications_with


@pytest.fixture
async def notifications() -> Notifications:
    """The notifications service in memory (`tests/unit/notifications_stack.py`)."""
    return await notifications_with()
