"""Claims produced straight to the intake topic by agency systems: the same handler and checks
as HTTP; refusals become IntakeRejected (addressed to the producer) plus a dead-letter record."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from smartcity_th.contracts.envelope import AnyEnvelope
from smartcity_th.contracts.topics import Topics
from tests.builders import new_proposal_id, submission
from tests.e2e.conftest import SendClaim
from tests.support import (
    Namespace,
    ServiceProcess,
    dead_letters,
    envelope_of,
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
