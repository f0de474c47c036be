"""The proposal aggregate and its rules. Pure: no I/O; it returns the events it causes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from contracts.common import BilingualText, ProvinceRef
from contracts.envelope import AnyEnvelope, new_envelope
from contracts.proposals import FieldError, ProposalContent, ProposalDraft, ProposalSubmitted
from contracts.reference import UnknownProvince, province

SERVICE_PRODUCER = "svc-proposals"


class IntakeError(Exception):
    """A submission that cannot be accepted, with field-precise reasons in both languages."""

    def __init__(self, reason: BilingualText, errors: list[FieldError] | None = None,
                 *, status: int = 422) -> None:
        super().__init__(reason.en)
        self.reason = reason
        self.errors = errors or []
        self.status = status


def derive_proposal_id(applicant: str, idempotency_key: str) -> str:
    """The same applicant retrying with the same key always names the same proposal."""
    digest = hashlib.sha256(f"{applicant}\x00{idempotency_key}".encode()).digest()
    return "SC-" + base64.b32encode(digest).decode("ascii")[:10]


def resolve_province(value: str, *, field_name: str = "province") -> ProvinceRef:
    try:
        p = province(value)
    except UnknownProvince as exc:
        raise IntakeError(
            BilingualText(en="unknown province", th="ไม่พบจังหวัด"),
            [FieldError(field=field_name, message=BilingualText(
                en=f"{value!r} is not one of Thailand's 77 provinces",
                th=f"{value!r} ไม่ใช่หนึ่งใน 77 จังหวัดของประเทศไทย"))],
        ) from exc
    return ProvinceRef(code=p.code, name_th=p.name_th, name_en=p.name_en)


def content_from_draft(draft: ProposalDraft) -> ProposalContent:
    data = draft.model_dump(exclude={"province"})
    return ProposalContent(province=resolve_province(draft.province), **data)


def check_content(content: ProposalContent) -> ProposalContent:
    """Checks a claim's content against the reference data (the province must be one of the 77
    and its names must be that province's); returns it with canonical names."""
    ref = resolve_province(content.province.code, field_name="content.province.code")
    if content.province.name_en.casefold() != ref.name_en.casefold() and \
            content.province.name_th != ref.name_th:
        raise IntakeError(
            BilingualText(en="province names do not match the code",
                          th="ชื่อจังหวัดไม่ตรงกับรหัสจังหวัด"),
            [FieldError(field="content.province", message=BilingualText(
                en=f"code {ref.code} is {ref.name_en} ({ref.name_th}), not "
                   f"{content.province.name_en}",
                th=f"รหัส {ref.code} คือจังหวัด{ref.name_th} ไม่ใช่{content.province.name_th}"))],
        )
    return content.model_copy(update={"province": ref})


@dataclass
class Proposal:
    """A proposal as the proposals service knows it: the submitted versions and its status."""

    proposal_id: str
    applicant: str
    status: str
    revision: int
    content: ProposalContent
    submitted_at: dt.datetime
    idempotency_key: str
    revisions: list[dict[str, Any]] = field(default_factory=list)
    pending_events: list[AnyEnvelope] = field(default_factory=list)

    @classmethod
    def submit(
        cls,
        *,
        proposal_id: str,
        applicant: str,
        content: ProposalContent,
        idempotency_key: str,
        now: dt.datetime,
        cause: AnyEnvelope | None = None,
    ) -> Proposal:
        content = check_content(content)
        event = new_envelope(
            ProposalSubmitted(applicant=applicant, content=content),
            producer=SERVICE_PRODUCER, proposal_id=proposal_id, cause=cause, occurred_at=now,
        )
        return cls(
            proposal_id=proposal_id,
            applicant=applicant,
            status="submitted",
            revision=1,
            content=content,
            submitted_at=now,
            idempotency_key=idempotency_key,
            revisions=[{"revision": 1, "submitted_at": now, "event_id": str(event.event_id),
                        "content": content.model_dump(mode="json")}],
            pending_events=[event],
        )
