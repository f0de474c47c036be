"""Claims bound to where and when (issue 24, item 5), through the real broker and services: a
claim signed too long ago is dead-lettered as `expired`; a refused claim id stays refused when it
is sent again, even once it would be valid (the review's withdrawal signed before its proposal
existed); a claim's own `traceparent` does not make the services' work part of the producer's
trace (the claim starts a trace of its own, linked to it)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.proposals import ProposalWithdrawn
from smartcity_th.contracts.signing import DEFAULT_MAX_AGE
from smartcity_th.contracts.topics import Topics
from smartcity_th.kit import SignedRecord
from smartcity_th.services.common.telemetry import trace_id_of
from tests import builders
from tests.builders import PHUKET
from tests.e2e.approvals_support import screened, wait_stage
from tests.e2e.test_signed_claims import dead_letter_of, send
from tests.support import (
    JAEGER,
    Namespace,
    ServiceProcess,
    dead_letters,
    envelope_of,
    find_published,
    poll,
    read_topic,
    signed,
)

pytestmark = pytest.mark.e2e

APPLICANT = "lg-phuket-city"


def as_it_is(record: SignedRecord, **headers: str) -> SignedRecord:
    """The record exactly as signed (the kit's producer would sign it again at sending), with
    `headers` added."""
    return SignedRecord(
        record.envelope, record.value, record.key, {**record.headers, **headers}, record.topic
    )


async def metric_lines(service: ServiceProcess, name: str) -> list[str]:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(service.url + "/metrics")).text
    return [line for line in text.splitlines() if line.startswith(name)]


async def proposal(
    mongo: AsyncMongoClient[dict[str, Any]], ns: Namespace, proposal_id: str
) -> dict[str, Any] | None:
    return await mongo[ns.db("proposals")]["proposals"].find_one({"_id": proposal_id})


async def test_a_claim_signed_too_long_ago_is_expired_and_its_id_stays_refused(
    services: dict[str, ServiceProcess],
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    claim = builders.submission(APPLICANT, builders.new_proposal_id("EX"), where=PHUKET)
    long_ago = dt.datetime.now(dt.UTC) - DEFAULT_MAX_AGE - dt.timedelta(minutes=1)
    await send(topics, as_it_is(signed(claim, topics.intake, signed_at=long_ago)))
    letter = await dead_letter_of(topics, claim)
    assert letter["consumer"] == "proposals"
    assert letter["error_kind"] == "unauthenticated"
    assert letter["error"].startswith("expired: signed at "), letter["error"]
    assert await proposal(mongo, ns, claim.proposal_id) is None

    # The same claim again, signed afresh by the kit (valid now): its id was refused.
    await send(topics, signed(claim, topics.intake))
    letters = await dead_letters(topics, claim.event_id, min_records=2, timeout=60)
    assert [d["error"].split(":")[0] for d in letters] == ["expired", "refused_before"], letters
    assert await proposal(mongo, ns, claim.proposal_id) is None
    facts = await read_topic(topics.proposals, timeout=3, where=lambda r: r.key == claim.key)
    assert facts == []

    counted = await metric_lines(services["proposals"], "smartcity_claims_unauthenticated_total")
    for reason in ("expired", "refused_before"):
        assert any(f'reason="{reason}"' in line for line in counted), counted


def withdrawal(proposal_id: str) -> AnyEnvelope:
    return new_envelope(
        ProposalWithdrawn(applicant=APPLICANT, reason="signed before the proposal existed"),
        producer=APPLICANT,
        proposal_id=proposal_id,
    )


async def test_a_withdrawal_refused_before_its_proposal_existed_stays_refused(
    services: dict[str, ServiceProcess],
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    """The review's finding: the same withdrawal, refused while its proposal did not exist,
    withdrew it once re-sent after the proposal was submitted."""
    submission = builders.submission(APPLICANT, builders.new_proposal_id("WD"), where=PHUKET)
    early = withdrawal(submission.proposal_id)
    await send(topics, signed(early, topics.intake))
    first = await dead_letter_of(topics, early)
    assert first["error_kind"] == "unknown_proposal", first

    await send(topics, signed(submission, topics.intake))
    proposals = mongo[ns.db("proposals")]["proposals"]
    await poll(
        lambda: find_published(proposals, {"_id": submission.proposal_id}),
        timeout=60,
        what="the proposal submitted after the withdrawal",
    )

    await send(topics, signed(early, topics.intake))  # the same withdrawal, valid now
    letters = await dead_letters(topics, early.event_id, min_records=2, timeout=60)
    assert [d["error_kind"] for d in letters] == ["unknown_proposal", "unauthenticated"]
    assert letters[1]["error"].startswith("refused_before:"), letters[1]
    stored = await proposal(mongo, ns, submission.proposal_id)
    assert stored is not None
    assert stored["status"] != "withdrawn", stored

    # A new withdrawal (a new event id) is a new claim: it withdraws the proposal.
    fresh = withdrawal(submission.proposal_id)
    await send(topics, signed(fresh, topics.intake))

    async def withdrawn() -> dict[str, Any] | None:
        doc = await proposal(mongo, ns, submission.proposal_id)
        return doc if doc is not None and doc["status"] == "withdrawn" else None

    await poll(withdrawn, timeout=60, what="the new withdrawal applied")


async def test_a_claims_traceparent_is_linked_not_continued(
    services: dict[str, ServiceProcess],
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    chosen = secrets.token_hex(16)
    traceparent = f"00-{chosen}-{secrets.token_hex(8)}-01"
    claim = builders.submission(APPLICANT, builders.new_proposal_id("TP"), where=PHUKET)
    await send(topics, as_it_is(signed(claim, topics.intake), traceparent=traceparent))

    facts = await read_topic(
        topics.proposals, min_records=1, timeout=60, where=lambda r: r.key == claim.key
    )
    assert envelope_of(facts[0])["causation_id"] == str(claim.event_id)
    fact_trace = trace_id_of(dict(facts[0].headers)["traceparent"].decode())
    assert fact_trace is not None
    assert fact_trace != chosen

    async with httpx.AsyncClient(base_url=JAEGER, timeout=10) as http:

        async def claim_span() -> dict[str, Any] | None:
            resp = await http.get(f"/api/traces/{fact_trace}")
            if resp.status_code != 200:
                return None
            for trace in resp.json().get("data") or []:
                for span in trace["spans"]:
                    if span["operationName"] == "claim ProposalSubmitted":
                        return dict(span)
            return None

        span = await poll(claim_span, timeout=60, what="the claim's span in its own trace")
        linked = {r["traceID"] for r in span.get("references", []) if r["traceID"] != fact_trace}
        assert linked == {chosen}, span.get("references")
        # Nothing of the services' work was recorded in the producer's trace.
        resp = await http.get(f"/api/traces/{chosen}")
        assert resp.status_code == 404 or not (resp.json().get("data") or []), resp.text[:500]


async def test_a_decision_refused_before_its_case_existed_stays_refused(
    services: dict[str, ServiceProcess],
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    """The same hole at the approvals service: a screening claimed before the proposal existed
    is refused by a refusal event (no dead letter), and its id stays refused."""
    submission = builders.submission(APPLICANT, builders.new_proposal_id("SR"), where=PHUKET)
    early = screened(submission.proposal_id)
    await send(topics, signed(early, topics.intake))
    orphans = mongo[ns.db("approvals")]["orphan_refusals"]

    async def refused_without_case() -> bool:
        return await orphans.count_documents({}) > 0 and await refused_ids(mongo, ns, early)

    await poll(refused_without_case, timeout=60, what="the early screening refused, remembered")

    await send(topics, signed(submission, topics.intake))
    cases = mongo[ns.db("approvals")]["cases"]
    await wait_stage(cases, [submission.proposal_id], "submitted")

    await send(topics, signed(early, topics.intake))  # the same screening, valid now
    [letter] = await dead_letters(topics, early.event_id, "approvals", timeout=60)
    assert letter["error"].startswith("refused_before:"), letter
    case = await cases.find_one({"_id": submission.proposal_id})
    assert case is not None
    assert case["stage"] == "submitted", case

    await send(topics, signed(screened(submission.proposal_id), topics.intake))  # a new claim
    await wait_stage(cases, [submission.proposal_id], "screened")


async def refused_ids(
    mongo: AsyncMongoClient[dict[str, Any]], ns: Namespace, claim: AnyEnvelope
) -> bool:
    commits = mongo[ns.db("approvals")]["refused_claims_commits"]
    return await commits.find_one({"aggregate_id": str(claim.event_id)}) is not None
