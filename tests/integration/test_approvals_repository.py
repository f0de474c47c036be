"""The approvals repository on the real FerretDB: certificate numbers, racing case commits."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from smartcity_th.contracts.topics import Topics
from smartcity_th.services.approvals.adapters.repository import MongoCaseRepository
from smartcity_th.services.approvals.domain import Case, Outcome, apply, decide
from smartcity_th.services.common.store import CommitPublisher
from tests.e2e.approvals_support import screened, submitted
from tests.support import Namespace

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def repo(ns: Namespace, mongo: AsyncMongoClient[dict[str, Any]]) -> MongoCaseRepository:
    publisher = CommitPublisher(KafkaBroker("127.0.0.1:1"), Topics(ns.topics_prefix), "test")
    publisher.publish_on_commit = False
    return MongoCaseRepository(mongo[ns.db(f"approvals_it_{uuid.uuid4().hex[:6]}")], publisher)


async def test_concurrent_awards_get_unique_numbers_and_a_retry_gets_the_same_one(
    repo: MongoCaseRepository,
) -> None:
    await repo.ensure_indexes()
    awards = [f"award-{i}" for i in range(20)]
    numbers = await asyncio.gather(*(repo.certificate_number_for(a, 2571, NOW) for a in awards))
    assert sorted(numbers) == [f"SCT-2571-{i:04d}" for i in range(1, 21)]
    again = await repo.certificate_number_for("award-7", 2571, NOW)
    assert again == numbers[7]


async def test_two_racing_decisions_one_applies_and_the_other_is_decided_again_and_refused(
    repo: MongoCaseRepository,
) -> None:
    await repo.ensure_indexes()
    opening = submitted("83", 1)

    async def open_case(before: Case | None) -> tuple[Outcome, None]:
        return apply(before, opening), None

    await repo.change(opening.proposal_id, open_case, lambda: NOW)
    seen: list[str] = []

    def screen() -> Any:
        fact = screened(opening.proposal_id)

        async def decide_screening(before: Case | None) -> tuple[Outcome, str]:
            assert before is not None
            seen.append(before.stage.value)
            outcome = decide(before, fact, None)
            return outcome, "refused" if outcome.refusal else "applied"

        return decide_screening

    results = await asyncio.gather(
        *(repo.change(opening.proposal_id, screen(), lambda: NOW) for _ in range(2))
    )
    assert sorted(results) == ["applied", "refused"]
    assert "screened" in seen  # the loser decided again, against the new state
    stored = await repo.get(opening.proposal_id)
    assert stored is not None
    assert stored.stage.value == "screened"
    assert stored.version == 3
    types = [(h["event_type"], h["refused"] is None) for h in stored.history]
    assert types == [
        ("ProposalSubmitted", True),
        ("ProposalScreened", True),
        ("ProposalScreened", False),
    ]
    pending = await repo.store.unpublished()
    commits = [await repo.store.commits.find_one({"_id": d["_id"]}) for d in pending]
    events = [e["event_type"] for c in commits if c for e in c["events"]]
    assert events == ["ProposalScreened", "TransitionRefused"]  # nobody published: no Kafka


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

        async def open_case(before: Case | None, e: Any = opening) -> tuple[Outcome, None]:
            return apply(before, e), None

        await repo.change(opening.proposal_id, open_case, lambda: NOW)
    page = await repo.by_stage(None, 2, applicant="lg-rayong-city")
    assert len(page) == 2
    assert {d["applicant"] for d in page} == {"lg-rayong-city"}
    everything = await repo.by_stage(None, 10, applicant="lg-rayong-city")
    assert sorted(d["_id"] for d in everything) == sorted(e.proposal_id for e in mine)
    assert len(await repo.by_stage(None, 10)) == 7
