"""Claims produced straight to the intake topic by agency systems: the same handler and checks
as HTTP; refusals become IntakeRejected (addressed to the producer) plus a dead-letter record."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from contracts.common import BilingualText, ProvinceRef
from contracts.envelope import AnyEnvelope, new_envelope
from contracts.proposals import (
    PlanComponents,
    ProposalContent,
    ProposalResubmitted,
    ProposalSubmitted,
    ProposalWithdrawn,
)
from contracts.signing import HEADER_SIGNATURE, sign
from contracts.topics import Topics
from tests.e2e.test_proposals_api import publish, revision_request
from tests.support import (
    Namespace,
    ServiceProcess,
    envelope_of,
    find_published,
    kafka_client,
    poll,
    read_topic,
    signer_for,
)

pytestmark = pytest.mark.e2e

PHUKET = ProvinceRef(code="83", name_th="ภูเก็ต", name_en="Phuket")


def content(province: ProvinceRef = PHUKET, budget: int = 1_000_000) -> ProposalContent:
    return ProposalContent(
        province=province,
        area_name=BilingualText(th="ป่าตองอัจฉริยะ", en="Smart Patong"),
        dimensions=["environment", "mobility"],
        plan=PlanComponents(
            area_boundary_and_goals="Patong bay, 16.4 km2",
            infrastructure_plan="Sensors and fibre",
            city_data_platform="Phuket City Data Platform",
            smart_solutions="Beach safety and traffic",
            management_model="Municipal operator",
        ),
        has_city_data_platform=True,
        budget_baht=budget,
        expected_value_baht=3 * budget,
        contact_emails=["patong@example.go.th"],
    )


def new_id() -> str:
    return f"KF-{uuid.uuid4().hex[:12]}"


def claim(payload: Any, producer: str, proposal_id: str) -> AnyEnvelope:
    return new_envelope(payload, producer=producer, proposal_id=proposal_id)


async def records_about(topic: str, proposal_id: str, min_records: int = 0) -> list[dict[str, Any]]:
    found = await read_topic(
        topic, min_records=min_records, timeout=30, where=lambda r: r.key == proposal_id.encode()
    )
    return [envelope_of(r) for r in found]


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
    letters = await read_topic(
        topics.deadletter,
        min_records=1,
        timeout=30,
        where=lambda r: (
            envelope_of(r).get("event_id") == str(bad.event_id)
            and envelope_of(r)["consumer"] == "proposals"
        ),
    )
    assert len(rejections) == 1, rejections
    assert len(letters) == 1
    return rejections[0], envelope_of(letters[0])


async def test_a_submission_claim_becomes_one_fact_even_when_delivered_twice(
    services: dict[str, ServiceProcess],
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    pid = new_id()
    submission = claim(
        ProposalSubmitted(applicant="lg-phuket-city", content=content()), "lg-phuket-city", pid
    )
    await publish(topics.intake, submission)
    await publish(topics.intake, submission)
    proposals = mongo[ns.db("proposals")]["proposals"]
    stored = await poll(
        lambda: find_published(proposals, {"_id": pid}), what="claim stored and published"
    )
    assert stored["applicant"] == "lg-phuket-city"
    assert stored["processed"] == [str(submission.event_id)]
    facts = await records_about(topics.proposals, pid, min_records=1)
    assert [f["event_type"] for f in facts] == ["ProposalSubmitted"]
    assert facts[0]["producer"] == "svc-proposals"
    assert facts[0]["causation_id"] == str(submission.event_id)
    assert facts[0]["correlation_id"] == str(submission.correlation_id)

    # A second consumer pass over the same record changes nothing (the retry is the
    # redelivery above); the proposal still has one revision and one outgoing event.
    again = await proposals.find_one({"_id": pid})
    assert again is not None
    assert len(again["events"]) == 1


async def test_resubmission_and_withdrawal_claims(
    services: dict[str, ServiceProcess],
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    pid = new_id()
    proposals = mongo[ns.db("proposals")]["proposals"]
    await publish(
        topics.intake,
        claim(
            ProposalSubmitted(applicant="lg-phuket-city", content=content()), "lg-phuket-city", pid
        ),
    )
    await poll(lambda: proposals.find_one({"_id": pid}), what="submitted by claim")

    early = claim(
        ProposalResubmitted(applicant="lg-phuket-city", revision=2, content=content()),
        "lg-phuket-city",
        pid,
    )
    await publish(topics.intake, early)
    rejection, letter = await refused(topics, early)
    assert rejection["payload"]["producer"] == "lg-phuket-city"
    assert "at the stage \u201cSubmitted\u201d" in rejection["payload"]["reason"]["en"]
    assert letter["error_kind"] == "conflict"

    await publish(topics.decisions, revision_request(pid))
    await poll(
        lambda: proposals.find_one({"_id": pid, "status": "revision_requested"}),
        what="revision requested",
    )
    resubmission = claim(
        ProposalResubmitted(
            applicant="lg-phuket-city",
            revision=2,
            content=content(budget=2),
            changes="smaller budget",
        ),
        "lg-phuket-city",
        pid,
    )
    await publish(topics.intake, resubmission)
    await publish(topics.intake, resubmission)
    withdrawal = claim(
        ProposalWithdrawn(applicant="lg-phuket-city", reason="merged"), "lg-phuket-city", pid
    )
    await publish(topics.intake, withdrawal)
    await publish(topics.intake, withdrawal)
    stored = await poll(
        lambda: find_published(proposals, {"_id": pid, "status": "withdrawn"}),
        what="resubmitted then withdrawn",
    )
    assert stored["revision"] == 2
    assert stored["content"]["budget_baht"] in ("2", "2.00")
    again = claim(ProposalWithdrawn(applicant="lg-phuket-city"), "lg-phuket-city", pid)
    await publish(topics.intake, again)
    rejection, _ = await refused(topics, again)
    assert "Withdrawn by the applicant" in rejection["payload"]["reason"]["en"]

    facts = [
        f["event_type"]
        for f in await records_about(topics.proposals, pid, min_records=5)
        if f["producer"] == "svc-proposals"
    ]
    assert facts == [
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
        ProposalSubmitted(applicant=payload_applicant, content=content(province)), producer, pid
    )
    await publish(topics.intake, bad)
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


async def test_an_applicant_may_not_withdraw_anothers_proposal_by_claim(
    services: dict[str, ServiceProcess],
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    pid = new_id()
    proposals = mongo[ns.db("proposals")]["proposals"]
    await publish(
        topics.intake,
        claim(
            ProposalSubmitted(applicant="lg-phuket-city", content=content()), "lg-phuket-city", pid
        ),
    )
    await poll(lambda: proposals.find_one({"_id": pid}), what="submitted by claim")
    hostile = claim(ProposalWithdrawn(applicant="pd-samyan"), "pd-samyan", pid)
    await publish(topics.intake, hostile)
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
    valid = claim(
        ProposalSubmitted(applicant="lg-phuket-city", content=content()), "lg-phuket-city", pid
    )
    raw = json.loads(valid.to_bytes())
    raw["payload"]["content"]["dimensions"] = []
    producer = AIOKafkaProducer(**kafka_client())
    await producer.start()
    try:
        value = json.dumps(raw).encode()
        signature = sign(
            signer_for("lg-phuket-city").private_key,
            signer_for("lg-phuket-city").key_id,
            value,
            valid.key,
            "ProposalSubmitted",
        )
        headers = {**valid.headers(), HEADER_SIGNATURE: signature}
        await producer.send_and_wait(
            topics.intake,
            value,
            key=valid.key,
            headers=[(k, v.encode()) for k, v in headers.items()],
        )
    finally:
        await producer.stop()
    rejection, letter = await refused(topics, valid)
    assert rejection["payload"]["producer"] == "lg-phuket-city"
    assert rejection["payload"]["errors"][0]["field"] == "payload.content.dimensions"
    assert rejection["payload"]["reason"]["th"]
    assert letter["error_kind"] == "validation"
    assert await mongo[ns.db("proposals")]["proposals"].find_one({"_id": pid}) is None
