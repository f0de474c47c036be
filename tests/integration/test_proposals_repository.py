"""The proposals repository and handlers on the real FerretDB: commits, racing changes,
cursor pagination with ties, indexes."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from smartcity_th.contracts.agencies import agency
from smartcity_th.contracts.proposals import SubmittedContent
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.kafka_auth import bootstrap_servers
from smartcity_th.services.common.store import CommitPublisher
from smartcity_th.services.proposals.adapters.repository import ListFilter, MongoProposalRepository
from smartcity_th.services.proposals.handlers import (
    ProposalHandlers,
    SubmitProposal,
)
from tests import builders
from tests.support import KAFKA, Namespace

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 2, 1, 8, 0, tzinfo=dt.UTC)
PHUKET = agency("lg-phuket-city")


def content() -> SubmittedContent:
    return builders.submitted_content(has_city_data_platform=False, budget_baht=Decimal("10.50"))


@pytest.fixture
async def repo(
    ns: Namespace, mongo: AsyncMongoClient[dict[str, Any]]
) -> AsyncIterator[MongoProposalRepository]:
    db = mongo[ns.db(f"proposals_repo_{uuid.uuid4().hex[:6]}")]
    # The writer does not publish here: these tests are about the store; no broker is started.
    publisher = CommitPublisher(
        KafkaBroker(bootstrap_servers(KAFKA)), Topics("unused."), "proposals"
    )
    publisher.publish_on_commit = False
    repository = MongoProposalRepository(db, publisher)
    await repository.ensure_indexes()
    yield repository
    await mongo.drop_database(db.name)


def handlers_for(repo: MongoProposalRepository) -> ProposalHandlers:
    return ProposalHandlers(repo, clock=lambda: NOW)


async def test_indexes_for_the_list_filters(repo: MongoProposalRepository) -> None:
    keys = [list(ix["key"]) async for ix in await repo.collection.list_indexes()]
    for wanted in (
        ["applicant", "submitted_at"],
        ["province_code", "submitted_at"],
        ["status", "submitted_at"],
        ["submitted_at", "_id"],
    ):
        assert wanted in keys


async def test_pages_cover_ties_on_submitted_at_exactly_once(
    repo: MongoProposalRepository,
) -> None:
    handlers = handlers_for(repo)  # the clock is fixed: every proposal has the same timestamp
    ids = {
        (
            await handlers.submit(
                SubmitProposal(applicant=PHUKET, content=content(), idempotency_key=f"p{i}")
            )
        ).proposal.proposal_id
        for i in range(7)
    }
    seen: list[str] = []
    cursor = None
    while True:
        docs, cursor = await repo.list(
            ListFilter(applicant=PHUKET.agency_id), limit=3, cursor=cursor
        )
        seen += [d["_id"] for d in docs]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)
    assert seen == sorted(ids, reverse=True)
    window, _ = await repo.list(
        ListFilter(
            submitted_from=NOW,
            submitted_to=NOW + dt.timedelta(seconds=1),
            province_code="83",
            status="submitted",
        ),
        limit=100,
    )
    assert {d["_id"] for d in window} == ids
    empty, nxt = await repo.list(ListFilter(province_code="10"), limit=5)
    assert empty == []
    assert nxt is None
