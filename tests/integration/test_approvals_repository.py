"""The approvals repository on the real FerretDB: certificate numbers, racing case commits."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from smartcity_th.contracts.topics import Topics
from smartcity_th.services.approvals.adapters.repository import MongoCaseRepository
from smartcity_th.services.approvals.domain import Case, Outcome, apply
from smartcity_th.services.common.store import CommitPublisher
from tests.e2e.approvals_support import submitted
from tests.support import Namespace

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def repo(ns: Namespace, mongo: AsyncMongoClient[dict[str, Any]]) -> MongoCaseRepository:
    publisher = CommitPublisher(KafkaBroker("127.0.0.1:1"), Topics(ns.topics_prefix), "test")
    publisher.publish_on_commit = False
    return MongoCaseRepository(mongo[ns.db(f"approvals_it_{uuid.uuid4().hex[:6]}")], publisher)


async def test_an_applicants_page_of_cases_is_full_whatever_the_others_have(
    repo: MongoCaseRepository,
) -> None:
    """`GET /cases` for an applicant: the store filters by applicant before the limit (it used
    to take the first `limit` cases of everyone and then drop the others', so a page could come
    back short or empty while the applicant had cases)."""
    await repo.ensure_indexes()
    others = [submitted("83", n, applicant="lg-phuket-city") for n in range(4)]
    mine = [submitted("21", n, applicant="lg-rayong-city") for n in range(3)]
    for opening in [*others, *mine]:

        def open_case(before: Case | None, e: Any = opening) -> tuple[Outcome, None]:
            return apply(before, e), None

        await repo.change(opening.proposal_id, open_case, lambda: NOW)
    page = await repo.by_stage(None, 2, applicant="lg-rayong-city")
    assert len(page) == 2
    assert {d["applicant"] for d in page} == {"lg-rayong-city"}
    everything = await repo.by_stage(None, 10, applicant="lg-rayong-city")
    assert sorted(d["_id"] for d in everything) == sorted(e.proposal_id for e in mine)
    assert len(await repo.by_stage(None, 10)) == 7
