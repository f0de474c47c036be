"""One proposal through all three services, on the real Kafka, FerretDB and SMTP server."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from smartcity_th.contracts.topics import HEADER_EVENT_TYPE, Topics
from tests.support import (
    Mailpit,
    Namespace,
    ServiceProcess,
    count_published,
    envelope_of,
    find_published,
    kafka_producer,
    poll,
    read_topic,
)

pytestmark = pytest.mark.e2e

DRAFT: dict[str, Any] = {
    "province": "Phuket",
    "area_name": {"th": "ภูเก็ตเมืองอัจฉริยะ", "en": "Phuket Smart City"},
    "dimensions": ["economy", "environment", "living"],
    "plan": {
        "area_boundary_and_goals": "เขตเทศบาลนครภูเก็ต 12 ตร.กม. / 12 km2 of the city municipality",
        "infrastructure_plan": "Fibre backbone, CCTV and environmental sensors",
        "city_data_platform": "Open city data platform with an API gateway",
        "smart_solutions": "Smart tourism, flood warning, smart parking",
        "management_model": "Phuket City Development Company as operator",
    },
    "has_city_data_platform": True,
    "budget_baht": "125000000",
    "expected_value_baht": "480000000",
    "contact_emails": ["smartcity@phuketcity.example.go.th"],
}


async def submit(
    services: dict[str, ServiceProcess],
    key: str,
    body: dict[str, Any],
    idempotency_key: str | None = None,
) -> httpx.Response:
    headers = {"X-API-Key": key}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    async with httpx.AsyncClient(base_url=services["proposals"].url, timeout=10) as http:
        return await http.post("/proposals", json=body, headers=headers)


async def test_a_proposal_flows_to_a_case_and_one_letter_to_its_applicant(
    services: dict[str, ServiceProcess],
    api_keys: dict[tuple[str, str], str],
    ns: Namespace,
    topics: Topics,
    mongo: AsyncMongoClient[dict[str, Any]],
    mailpit: Mailpit,
) -> None:
    key = api_keys[("proposals", "lg-phuket-city")]
    idem = str(uuid.uuid4())
    resp = await submit(services, key, DRAFT, idem)
    assert resp.status_code == 201, resp.text
    proposal_id = resp.json()["proposal_id"]
    assert resp.json()["content"]["province"] == {
        "code": "83",
        "name_th": "ภูเก็ต",
        "name_en": "Phuket",
    }

    # Stored, and its commit marked published once Kafka acknowledged the event.
    proposals = mongo[ns.db("proposals")]["proposals"]
    stored = await poll(
        lambda: find_published(proposals, {"_id": proposal_id}),
        what="proposal stored and published",
    )
    assert stored["applicant"] == "lg-phuket-city"
    assert stored["status"] == "submitted"
    assert stored["revisions"][0]["revision"] == 1

    # Published once, in the common envelope, keyed by proposal id.
    records = await read_topic(
        topics.proposals, min_records=1, where=lambda r: r.key == proposal_id.encode()
    )
    assert len(records) == 1
    envelope = envelope_of(records[0])
    assert dict(records[0].headers)[HEADER_EVENT_TYPE] == b"ProposalSubmitted"
    assert envelope["event_type"] == "ProposalSubmitted"
    assert envelope["producer"] == "svc-proposals"
    assert envelope["proposal_id"] == proposal_id
    assert envelope["occurred_at"].endswith("Z") or envelope["occurred_at"].endswith("+00:00")
    assert envelope["payload"]["applicant"] == "lg-phuket-city"
    assert envelope["payload"]["content"]["area_name"]["th"] == "ภูเก็ตเมืองอัจฉริยะ"
    event_id = envelope["event_id"]

    # The approvals service opened a case in its own database.
    cases = mongo[ns.db("approvals")]["cases"]
    case = await poll(lambda: cases.find_one({"_id": proposal_id}), what="case opened")
    assert case["stage"] == "submitted"
    assert [h["event_id"] for h in case["history"]] == [event_id]

    # The applicant received the Thai + English acknowledgement, one letter, its contact
    # address in Cc (depa is the sending office: it gets no letter from itself).
    async def received() -> list[dict[str, Any]] | None:
        found = await mailpit.search(proposal_id)
        return found or None

    [message] = await poll(received, timeout=30, what="the acknowledgement at the SMTP sink")
    assert [to["Address"] for to in message["To"]] == ["lg-phuket-city@smartcity.example.go.th"]
    assert [cc["Address"] for cc in message["Cc"]] == ["smartcity@phuketcity.example.go.th"]
    email = await mailpit.raw(message["ID"])
    assert email["Subject"].startswith('[เมืองอัจฉริยะ] ได้รับข้อเสนอการพัฒนาเมืองอัจฉริยะ "ภูเก็ตเมืองอัจฉริยะ"')
    assert 'Smart-city proposal received: "Phuket Smart City"' in email["Subject"]
    raw_subject = str(email.get("Subject"))
    assert "ภูเก็ต" in raw_subject
    assert email["Message-ID"].startswith(f"<{event_id}.")
    assert email["X-Smartcity-Proposal-Id"] == proposal_id
    parts = {
        part.get_content_type(): part.get_content()
        for part in email.walk()
        if not part.is_multipart()
    }
    assert set(parts) == {"text/plain", "text/html"}
    assert "ได้รับข้อเสนอการพัฒนาเมืองอัจฉริยะ" in parts["text/plain"]
    assert "The Smart City Thailand Office received" in parts["text/plain"]
    assert parts["text/plain"].index("ได้รับข้อเสนอ") < parts["text/plain"].index("(English)")
    assert "ภูเก็ตเมืองอัจฉริยะ" in parts["text/html"]

    # The delivery log recorded each email as sent, and NotificationSent was published.
    deliveries = mongo[ns.db("notifications")]["deliveries"]
    await poll(
        lambda: count_published(deliveries, {"event_id": event_id, "status": "sent"}),
        what="deliveries marked sent",
    )
    sent = await read_topic(
        topics.notifications, min_records=1, where=lambda r: r.key == proposal_id.encode()
    )
    assert {envelope_of(r)["event_type"] for r in sent} == {"NotificationSent"}

    # A retry with the same Idempotency-Key returns the original, and publishes nothing new.
    again = await submit(services, key, DRAFT, idem)
    assert again.status_code == 200
    assert again.json()["proposal_id"] == proposal_id
    assert (
        await proposals.count_documents({"applicant": "lg-phuket-city", "idempotency_key": idem})
        == 1
    )
    records = await read_topic(topics.proposals, where=lambda r: r.key == proposal_id.encode())
    assert len(records) == 1


async def test_invalid_submissions_get_422_with_the_field_and_store_nothing(
    services: dict[str, ServiceProcess],
    api_keys: dict[tuple[str, str], str],
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    key = api_keys[("proposals", "lg-khon-kaen-city")]
    proposals = mongo[ns.db("proposals")]["proposals"]
    before = await proposals.count_documents({"applicant": "lg-khon-kaen-city"})

    no_dimensions = {**DRAFT, "province": "Khon Kaen", "dimensions": []}
    resp = await submit(services, key, no_dimensions)
    assert resp.status_code == 422
    assert any(
        err["field"] == "dimensions" and err["message"]["th"] for err in resp.json()["errors"]
    )

    unknown_province = {**DRAFT, "province": "Atlantis"}
    resp = await submit(services, key, unknown_province)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "province"
    assert "77 provinces" in resp.json()["errors"][0]["message"]["en"]

    not_json = await httpx.AsyncClient(base_url=services["proposals"].url).post(
        "/proposals",
        content=b"{not json",
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )
    assert not_json.status_code == 422

    assert await proposals.count_documents({"applicant": "lg-khon-kaen-city"}) == before


async def test_a_poison_message_is_dead_lettered_and_the_consumers_keep_going(
    services: dict[str, ServiceProcess],
    api_keys: dict[tuple[str, str], str],
    ns: Namespace,
    topics: Topics,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    poison_key = f"poison-{uuid.uuid4().hex[:8]}".encode()
    async with kafka_producer() as producer:
        await producer.send_and_wait(topics.proposals, b"\xff not an event", key=poison_key)
        await producer.send_and_wait(
            topics.proposals,
            json.dumps({"event_type": "ProposalSubmitted"}).encode(),
            key=poison_key,
        )

    letters = await read_topic(
        topics.deadletter, min_records=4, timeout=30, where=lambda r: r.key == poison_key
    )
    by_consumer: dict[str, list[dict[str, Any]]] = {}
    for record in letters:
        letter = json.loads(record.value)
        by_consumer.setdefault(letter["consumer"], []).append(letter)
    assert set(by_consumer) == {"approvals", "notifications"}
    for consumer_letters in by_consumer.values():
        errors = sorted(letter["error"] for letter in consumer_letters)
        assert any("not UTF-8" in e for e in errors)
        assert any(e.startswith("event_id:") for e in errors)  # the field that was wrong

    # Both consumers are still alive: a real proposal after the poison still flows.
    resp = await submit(
        services,
        api_keys[("proposals", "pd-samyan")],
        {
            **DRAFT,
            "province": "Bangkok",
            "area_name": {"th": "สามย่านสมาร์ทซิตี้", "en": "Samyan Smart City"},
        },
    )
    assert resp.status_code == 201, resp.text
    proposal_id = resp.json()["proposal_id"]
    cases = mongo[ns.db("approvals")]["cases"]
    await poll(lambda: cases.find_one({"_id": proposal_id}), what="case after poison")
    deliveries = mongo[ns.db("notifications")]["deliveries"]
    await poll(
        lambda: deliveries.find_one({"proposal_id": proposal_id, "status": "sent"}),
        what="email after poison",
    )
