"""Claims produced straight to the intake topic by agency systems: the same handler and checks
as HTTP; refusals become IntakeRejected (addressed to the producer) plus a dead-letter record."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from smartcity_th.contracts.common import ProvinceRef
from smartcity_th.contracts.envelope import AnyEnvelope
from smartcity_th.contracts.proposals import (
    ProposalResubmitted,
    ProposalSubmitted,
    ProposalWithdrawn,
)
from smartcity_th.contracts.topics import Topics
from tests.builders import PHUKET, claim, content, new_proposal_id, submission
from tests.e2e.conftest import SendClaim
from tests.e2e.test_proposals_api import revision_request
from tests.support import (
    Namespace,
    ServiceProcess,
    dead_letters,
    envelope_of,
    facts,
    poll,
    produce,
    read_topic,
    send_signed_value,
)

pytestmark = pytest.mark.e2e


def new_id() -> str:
    return new_proposal_id("KF")


async def refused(topics: Topics, bad: AnyEnvelope) -> tuple[dict[str, Any], dict[str, Any]]:
    """The IntakeRejected for a claim and the proposals consumer's dead letter of it."""

    def is_rejection(record: Any) -> bool:
        if record.key != bad.proposal_id.encode():
            return False  # other tests' records share the topic (some are not even JSON)
        event = envelope_of(record)
        return bool(
            event["event_type"] == "IntakeRejected"
            and event["payload"]["refused_event_id"] == str(bad.event_id)
        )

    found = await read_topic(topics.proposals, min_records=1, timeout=30, where=is_rejection)
    rejections = [envelope_of(r) for r in found]
    letters = await dead_letters(topics, bad.event_id, "proposals")
    assert len(rejections) == 1, rejections
    assert len(letters) == 1
    return rejections[0], letters[0]


async def test_a_submission_claim_becomes_one_fact_even_when_delivered_twice(
    send_claim: SendClaim,
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    pid = new_id()
    submitted = submission(proposal_id=pid)
    stored = await send_claim(submitted, times=2)
    assert stored["applicant"] == "lg-phuket-city"
    assert stored["processed"] == [str(submitted.event_id)]
    published = await facts(topics.proposals, {pid}, min_records=1, wait=30)
    assert [f["event_type"] for f in published] == ["ProposalSubmitted"]
    assert published[0]["producer"] == "svc-proposals"
    assert published[0]["causation_id"] == str(submitted.event_id)
    assert published[0]["correlation_id"] == str(submitted.correlation_id)

    # A second consumer pass over the same record changes nothing (the retry is the
    # redelivery above); the proposal still has one revision and one outgoing fact (after
    # its contacts, which go to the topic only the services read).
    again = await mongo[ns.db("proposals")]["proposals"].find_one({"_id": pid})
    assert again is not None
    assert [e["event_type"] for e in again["events"]] == [
        "ProposalContactsRecorded",
        "ProposalSubmitted",
    ]


async def test_resubmission_and_withdrawal_claims(
    send_claim: SendClaim,
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    pid = new_id()
    proposals = mongo[ns.db("proposals")]["proposals"]
    await send_claim(submission(proposal_id=pid))

    early = claim(
        ProposalResubmitted(
            applicant="lg-phuket-city",
            revision=2,
            content=content(),
            contact_emails=["city@example.go.th"],
        ),
        "lg-phuket-city",
        pid,
    )
    await produce(topics.intake, [early])
    rejection, letter = await refused(topics, early)
    assert rejection["payload"]["producer"] == "lg-phuket-city"
    assert "at the stage \u201cSubmitted\u201d" in rejection["payload"]["reason"]["en"]
    assert letter["error_kind"] == "conflict"

    await produce(topics.decisions, [revision_request(pid)])
    await poll(
        lambda: proposals.find_one({"_id": pid, "status": "revision_requested"}),
        what="revision requested",
    )
    resubmission = claim(
        ProposalResubmitted(
            applicant="lg-phuket-city",
            revision=2,
            content=content(budget_baht=2),
            contact_emails=["city@example.go.th"],
            changes="smaller budget",
        ),
        "lg-phuket-city",
        pid,
    )
    await produce(topics.intake, [resubmission, resubmission])
    withdrawal = claim(
        ProposalWithdrawn(applicant="lg-phuket-city", reason="merged"), "lg-phuket-city", pid
    )
    stored = await send_claim(withdrawal, times=2, status="withdrawn")
    assert stored["revision"] == 2
    assert stored["content"]["budget_baht"] in ("2", "2.00")
    again = claim(ProposalWithdrawn(applicant="lg-phuket-city"), "lg-phuket-city", pid)
    await produce(topics.intake, [again])
    rejection, _ = await refused(topics, again)
    assert "Withdrawn by the applicant" in rejection["payload"]["reason"]["en"]

    types = [
        f["event_type"]
        for f in await facts(topics.proposals, {pid}, min_records=5, wait=30)
        if f["producer"] == "svc-proposals"
    ]
    assert types == [
        "ProposalSubmitted",
        "IntakeRejected",
        "ProposalResubmitted",
        "ProposalWithdrawn",
        "IntakeRejected",
    ]


@pytest.mark.parametrize(
    ("producer", "payload_applicant", "province", "kind", "says"),
    [
        (
            "lg-khon-kaen-city",
            "lg-khon-kaen-city",
            PHUKET,
            "unauthorised",
            "may not act for province 83",
        ),
        ("depa", "depa", PHUKET, "unauthorised", "may not emit ProposalSubmitted"),
        ("lg-phuket-city", "lg-khon-kaen-city", PHUKET, "unauthorised", "on behalf of"),
        (
            "lg-phuket-city",
            "lg-phuket-city",
            ProvinceRef(code="99", name_th="ไม่มี", name_en="Nowhere"),
            "validation",
            "not one of Thailand's 77 provinces",
        ),
    ],
)
async def test_refused_submission_claims_are_answered_and_dead_lettered(
    services: dict[str, ServiceProcess],
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
    producer: str,
    payload_applicant: str,
    province: ProvinceRef,
    kind: str,
    says: str,
) -> None:
    pid = new_id()
    bad = claim(
        ProposalSubmitted(
            applicant=payload_applicant,
            content=content(province),
            contact_emails=["city@example.go.th"],
        ),
        producer,
        pid,
    )
    await produce(topics.intake, [bad])
    rejection, letter = await refused(topics, bad)
    assert rejection["payload"]["producer"] == producer
    assert rejection["payload"]["refused_event_type"] == "ProposalSubmitted"
    assert says in rejection["payload"]["reason"]["en"] or any(
        says in e["message"]["en"] for e in rejection["payload"]["errors"]
    )
    assert rejection["payload"]["reason"]["th"]
    assert letter["error_kind"] == kind
    assert await mongo[ns.db("proposals")]["proposals"].find_one({"_id": pid}) is None
    stored = await mongo[ns.db("proposals")]["intake_rejections"].find_one(
        {"_id": str(bad.event_id)}
    )
    assert stored is not None
    assert stored["producer"] == producer


async def test_a_claim_naming_a_contact_outside_the_applicants_domains_is_refused(
    services: dict[str, ServiceProcess],
    send_claim: SendClaim,
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    """Issue 24 item 9, by claim through the real broker: a contact address outside the
    applicant's registered email domains (example.go.th for the CSV's agencies) is refused as a
    dead letter of kind `contact_outside_domains` naming it and the domains, counted in
    /metrics; the answer every agency may read (IntakeRejected) names it by position only. A
    claim whose addresses are at the domain or a subdomain of it becomes a proposal."""
    pid = new_id()
    bad = submission(proposal_id=pid, contact_emails=["city@example.go.th", "mayor@gmail.com"])
    await produce(topics.intake, [bad])
    rejection, letter = await refused(topics, bad)
    assert letter["error_kind"] == "contact_outside_domains"
    assert "mayor@gmail.com" in letter["error"]
    assert "example.go.th" in letter["error"]
    reason = rejection["payload"]["reason"]
    for text in (reason["en"], reason["th"]):
        assert "contact_emails[1]" in text
        assert "example.go.th" in text
    assert "@" not in json.dumps(rejection["payload"])
    assert [e["field"] for e in rejection["payload"]["errors"]] == ["contact_emails.1"]
    assert await mongo[ns.db("proposals")]["proposals"].find_one({"_id": pid}) is None
    async with httpx.AsyncClient(timeout=10) as http:
        metrics = (await http.get(services["proposals"].url + "/metrics")).text
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("smartcity_dead_lettered_total{")
        and 'kind="contact_outside_domains"' in line
    ]
    assert counted
    assert float(counted[0].rsplit(" ", 1)[1]) >= 1

    good = submission(contact_emails=["city@example.go.th", "it@mail.example.go.th"])
    stored = await send_claim(good)
    assert stored["content"]["contact_emails"] == ["city@example.go.th", "it@mail.example.go.th"]


async def test_an_applicant_may_not_withdraw_anothers_proposal_by_claim(
    send_claim: SendClaim,
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    pid = new_id()
    proposals = mongo[ns.db("proposals")]["proposals"]
    await send_claim(submission(proposal_id=pid))
    hostile = claim(ProposalWithdrawn(applicant="pd-samyan"), "pd-samyan", pid)
    await produce(topics.intake, [hostile])
    rejection, letter = await refused(topics, hostile)
    assert "lg-phuket-city" not in json.dumps(rejection["payload"]["reason"])
    assert letter["error_kind"] == "unknown_proposal"
    stored = await proposals.find_one({"_id": pid})
    assert stored is not None
    assert stored["status"] == "submitted"


async def test_an_invalid_claim_is_answered_when_it_says_who_made_it(
    services: dict[str, ServiceProcess],
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    pid = new_id()
    valid = submission(proposal_id=pid)
    raw = json.loads(valid.to_bytes())
    raw["payload"]["content"]["dimensions"] = []
    value = json.dumps(raw).encode()
    await send_signed_value(
        topics.intake, value, valid.key, "ProposalSubmitted", "lg-phuket-city", valid.headers()
    )
    rejection, letter = await refused(topics, valid)
    assert rejection["payload"]["producer"] == "lg-phuket-city"
    assert rejection["payload"]["errors"][0]["field"] == "payload.content.dimensions"
    assert rejection["payload"]["reason"]["th"]
    assert letter["error_kind"] == "validation"
    assert await mongo[ns.db("proposals")]["proposals"].find_one({"_id": pid}) is None
