"""Helpers of the approvals end-to-end tests: proposals as facts, claims on the intake topic."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from contracts.approvals import MeetingDecision, MeetingRecorded, ProposalScreened
from contracts.common import BilingualText, Contract, Meeting, ProvinceRef
from contracts.envelope import AnyEnvelope, new_envelope
from contracts.proposals import PlanComponents, ProposalContent, ProposalSubmitted
from contracts.reference import provinces
from tests.support import envelope_of, kafka_client, read_topic, record_headers

CHAIR = BilingualText(th="ปลัดกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม", en="Permanent Secretary, DES")


# Fifteen provinces for a 15-proposal meeting (as at meeting 1/2565).
PROVINCES_15 = [
    "83",
    "40",
    "21",
    "50",
    "20",
    "90",
    "30",
    "34",
    "10",
    "24",
    "73",
    "65",
    "84",
    "57",
    "80",
]


def content(province_code: str, n: int) -> ProposalContent:
    p = next(p for p in provinces() if p.code == province_code)
    text = "แผนพัฒนาเมืองอัจฉริยะ / smart city plan"
    return ProposalContent(
        province=ProvinceRef(code=p.code, name_th=p.name_th, name_en=p.name_en),
        area_name=BilingualText(th=f"เมืองอัจฉริยะ{p.name_th} {n}", en=f"{p.name_en} Smart {n}"),
        dimensions=["economy"],
        plan=PlanComponents(
            area_boundary_and_goals=text,
            infrastructure_plan=text,
            city_data_platform=text,
            smart_solutions=text,
            management_model=text,
        ),
        has_city_data_platform=True,
        budget_baht=Decimal("1000000"),
        expected_value_baht=Decimal("5000000"),
        contact_emails=["city@example.go.th"],
    )


def submitted(province_code: str, n: int, applicant: str = "pd-samyan") -> AnyEnvelope:
    proposal_id = f"T-{uuid.uuid4().hex[:12]}"
    return new_envelope(
        ProposalSubmitted(applicant=applicant, content=content(province_code, n)),
        producer="svc-proposals",
        proposal_id=proposal_id,
    )


def claim(
    payload: Contract, producer: str, proposal_id: str, event_id: uuid.UUID | None = None
) -> AnyEnvelope:
    return new_envelope(payload, producer=producer, proposal_id=proposal_id, event_id=event_id)


def screened(proposal_id: str, producer: str = "depa") -> AnyEnvelope:
    return claim(ProposalScreened(screened_by="depa"), producer, proposal_id)


def meeting(
    body: str,
    meeting_id: str,
    decisions: list[tuple[str, str]],
    resolution_number: str | None = None,
) -> MeetingRecorded:
    reasons = BilingualText(th="แผนยังไม่ครบถ้วน", en="The plan is incomplete")
    return MeetingRecorded(
        body=body,
        meeting=Meeting(meeting_id=meeting_id, held_on=dt.date(2022, 3, 15), chair=CHAIR),
        resolution_number=resolution_number,
        decisions=[
            MeetingDecision(
                proposal_id=pid,
                decision=d,
                resolution=f"{d} for {pid}",
                reasons=reasons
                if d in {"SubcommitteeRejected", "RevisionRequested", "CabinetReturned"}
                else None,
            )
            for pid, d in decisions
        ],
    )


async def produce(topic: str, envelopes: list[AnyEnvelope]) -> None:
    producer = AIOKafkaProducer(**kafka_client(), enable_idempotence=True)
    await producer.start()
    try:
        for e in envelopes:
            await producer.send_and_wait(
                topic,
                e.to_bytes(),
                key=e.key,
                headers=record_headers(e, topic),
            )
    finally:
        await producer.stop()


async def facts(
    topic: str,
    proposal_ids: set[str],
    *,
    event_type: str | None = None,
    min_records: int = 0,
    wait: float = 20.0,
) -> list[dict[str, Any]]:
    keys = {p.encode() for p in proposal_ids}

    def wanted(r: Any) -> bool:
        if r.key not in keys:
            return False
        return (
            event_type is None or dict(r.headers).get("smartcity-event-type") == event_type.encode()
        )

    records = await read_topic(topic, min_records=min_records, timeout=wait, where=wanted)
    return [envelope_of(r) for r in records]


async def http_json(method: str, url: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    async with httpx.AsyncClient(timeout=60) as client:
        return await client.request(method, url, headers=headers, **kwargs)
