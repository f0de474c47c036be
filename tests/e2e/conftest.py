"""Fixtures of the end-to-end tier (the shared stack and services are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from smartcity_th.contracts.envelope import AnyEnvelope
from smartcity_th.contracts.topics import Topics
from tests.support import Namespace, ServiceProcess, find_published, poll, produce

SendClaim = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def send_claim(
    services: dict[str, ServiceProcess],
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> SendClaim:
    """Sends an agency's signed claim to the intake topic (`times` over, as redelivery would)
    and waits until the proposals service has stored its proposal with every commit published;
    returns the stored proposal."""
    proposals = mongo[ns.db("proposals")]["proposals"]

    async def send(claim: AnyEnvelope, *, times: int = 1, **query: Any) -> dict[str, Any]:
        await produce(topics.intake, [claim] * times)
        stored: dict[str, Any] = await poll(
            lambda: find_published(proposals, {"_id": claim.proposal_id, **query}),
            what=f"the {claim.event_type} claim stored and published",
        )
        return stored

    return send
