"""The approvals repository on the real FerretDB: certificate numbers, versioned case writes."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.approvals.adapters.repository import ConcurrentUpdate, MongoCaseRepository
from services.approvals.domain import apply, decide
from tests.e2e.approvals_support import screened, submitted
from tests.support import Namespace

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def repo(ns: Namespace, mongo: AsyncMongoClient[dict[str, Any]]) -> MongoCaseRepository:
    return MongoCaseRepository(mongo[ns.db("approvals_it")])


async def test_concurrent_awards_get_unique_numbers_and_a_retry_gets_the_same_one(
    repo: MongoCaseRepository,
) -> None:
    await repo.ensure_indexes()
    awards = [f"award-{i}" for i in range(20)]
    numbers = await asyncio.gather(*(repo.certificate_number_for(a, 2571, NOW) for a in awards))
    assert sorted(numbers) == [f"SCT-2571-{i:04d}" for i in range(1, 21)]
    again = await repo.certificate_number_for("award-7", 2571, NOW)
    assert again == numbers[7]


async def test_a_stale_case_write_is_refused_and_the_stored_case_keeps_everything(
    repo: MongoCaseRepository,
) -> None:
    await repo.ensure_indexes()
    opening = submitted("83", 1)
    outcome = apply(None, opening)
    await repo.save(None, outcome, NOW)
    case = await repo.get(opening.proposal_id)
    assert case is not None
    first = decide(case, screened(case.proposal_id), None)
    second = decide(case, screened(case.proposal_id), None)
    await repo.save(case, first, NOW)
    with pytest.raises(ConcurrentUpdate):
        await repo.save(case, second, NOW)
    stored = await repo.get(opening.proposal_id)
    assert stored is not None
    assert stored.stage.value == "screened"
    assert stored.version == 2
    assert [h["event_type"] for h in stored.history] == ["ProposalSubmitted", "ProposalScreened"]
    doc = await repo.collection.find_one({"_id": opening.proposal_id})
    assert doc is not None
    assert [e["event_type"] for e in doc["outbox"]] == ["ProposalScreened"]
