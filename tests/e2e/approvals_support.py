"""Helpers of the approvals end-to-end tests: proposals as facts, claims and meetings, cases
at a stage, calls of the approvals API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from smartcity_th.contracts.approvals import MeetingDecision, MeetingRecorded, ProposalScreened
from smartcity_th.contracts.common import BilingualText, LongWords, Meeting
from smartcity_th.contracts.envelope import AnyEnvelope
from smartcity_th.contracts.proposals import ProposalSubmitted
from smartcity_th.contracts.workflow import event_name
from tests.builders import claim, content, new_proposal_id, province_ref
from tests.support import poll

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


def minuted(decision: str) -> LongWords:
    """A resolution as minuted, in words, in Thai and English, never the event's code: a
    letter quoting a code is held by proofreading."""
    name = event_name(decision)
    return LongWords(th=f"ที่ประชุมมีมติ: {name.th}", en=f"The meeting resolved: {name.en}")


def submitted(province_code: str, n: int, applicant: str = "pd-samyan") -> AnyEnvelope:
    """A proposal as the proposals service's fact (the n-th of its province in a test)."""
    p = province_ref(province_code)
    area = BilingualText(th=f"เมืองอัจฉริยะ{p.name_th} {n}", en=f"{p.name_en} Smart {n}")
    return claim(
        ProposalSubmitted(applicant=applicant, content=content(p, area_name=area)),
        "svc-proposals",
        new_proposal_id(),
    )


def screened(proposal_id: str, producer: str = "depa") -> AnyEnvelope:
    return claim(ProposalScreened(screened_by="depa"), producer, proposal_id)


async def wait_stage(
    cases: Any, proposal_ids: list[str], stage: str, timeout: float = 60.0
) -> None:
    """Poll until every one of these cases is at `stage`."""

    async def all_there() -> bool:
        found: int = await cases.count_documents({"_id": {"$in": proposal_ids}, "stage": stage})
        return found == len(proposal_ids)

    await poll(all_there, timeout=timeout, what=f"{len(proposal_ids)} cases at {stage}")


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
                resolution=minuted(d),
                reasons=reasons
                if d in {"SubcommitteeRejected", "RevisionRequested", "CabinetReturned"}
                else None,
            )
            for pid, d in decisions
        ],
    )


async def http_json(method: str, url: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    async with httpx.AsyncClient(timeout=60) as client:
        return await client.request(method, url, headers=headers, **kwargs)
