"""Events of the proposals context: what applicants submit, and intake refusals."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, HttpUrl

from smartcity_th.contracts.common import (
    EFFECTIVE_ON_DESCRIPTION,
    AgencyId,
    Baht,
    BilingualText,
    Contract,
    Email,
    LongText,
    ProvinceRef,
    ShortText,
    Stage,
    UtcDateTime,
    Words,
)
from smartcity_th.contracts.reference import SmartDimension


class PlanComponents(Contract):
    """The five components every smart-city development plan must have."""

    area_boundary_and_goals: LongText = Field(
        description="(1) A clear area boundary and the goals of the development"
    )
    infrastructure_plan: LongText = Field(
        description="(2) The infrastructure investment and development plan"
    )
    city_data_platform: LongText = Field(
        description="(3) Design of an open and secure city data platform"
    )
    smart_solutions: LongText = Field(
        description="(4) Smart solutions in the chosen smart dimensions"
    )
    management_model: LongText = Field(description="(5) A sustainable management model")


class Attachment(Contract):
    """A document attached to a proposal, by link."""

    title: ShortText = Field(description="What the document is")
    url: HttpUrl = Field(description="Where the document can be read")


class ProposalContent(Contract):
    """What an applicant submits (and resubmits after a revision request)."""

    province: ProvinceRef = Field(description="The province the area lies in")
    area_name: BilingualText = Field(description="Name of the smart-city area")
    dimensions: Annotated[list[SmartDimension], Field(min_length=1, max_length=7)] = Field(
        description="The smart dimensions the plan covers (at least one of the seven)"
    )
    plan: PlanComponents = Field(description="The five required plan components")
    has_city_data_platform: bool = Field(
        description="Whether the area operates (or will operate) a city data platform"
    )
    budget_baht: Baht = Field(description="Planned investment, in baht")
    expected_value_baht: Baht = Field(description="Expected economic value, in baht")
    attachments: Annotated[list[Attachment], Field(max_length=50)] = Field(
        default_factory=list, description="Supporting documents, as links"
    )


ContactEmails = Annotated[
    list[Email],
    Field(
        min_length=1,
        max_length=10,
        description="Where the applicant wants to be told about the proposal",
    ),
]

CLAIM_ONLY_CONTACTS = (
    "Where the applicant wants to be told about the proposal: on a claim only (the intake, "
    "which only the proposals service reads). The fact never carries it (schema version 2): "
    "contact addresses are personal data and stay off the topics agencies read; the proposals "
    "service records them in ProposalContactsRecorded on smartcity.contacts, which only the "
    "services read."
)


class SubmittedContent(ProposalContent):
    """The plan with the applicant's contact addresses, as the applicant sent it and as the
    proposals service's HTTP API shows it to its owner (never on a public topic)."""

    contact_emails: ContactEmails


class ProposalSubmitted(Contract):
    """An applicant submitted a smart-city development plan."""

    event_type: Literal["ProposalSubmitted"] = Field(
        "ProposalSubmitted", description="The event type; always 'ProposalSubmitted'"
    )
    applicant: AgencyId = Field(description="The agency that submitted, and owns, the proposal")
    content: ProposalContent = Field(description="The submitted plan")
    contact_emails: ContactEmails | None = Field(default=None, description=CLAIM_ONLY_CONTACTS)
    effective_on: dt.date | None = Field(default=None, description=EFFECTIVE_ON_DESCRIPTION)


class ProposalResubmitted(Contract):
    """An applicant resubmitted its plan after depa requested a revision."""

    event_type: Literal["ProposalResubmitted"] = Field(
        "ProposalResubmitted", description="The event type; always 'ProposalResubmitted'"
    )
    applicant: AgencyId = Field(description="The agency that owns the proposal")
    revision: int = Field(ge=2, description="Revision number of this version (first is 1)")
    content: ProposalContent = Field(description="The revised plan")
    contact_emails: ContactEmails | None = Field(default=None, description=CLAIM_ONLY_CONTACTS)
    changes: Words | None = Field(
        default=None, description="What the applicant changed, in its own words"
    )
    effective_on: dt.date | None = Field(default=None, description=EFFECTIVE_ON_DESCRIPTION)


class ProposalWithdrawn(Contract):
    """An applicant withdrew its proposal (any time before certification)."""

    event_type: Literal["ProposalWithdrawn"] = Field(
        "ProposalWithdrawn", description="The event type; always 'ProposalWithdrawn'"
    )
    applicant: AgencyId = Field(description="The agency that owns the proposal")
    reason: Words | None = Field(default=None, description="Why, if the applicant said")


class ProposalContactsRecorded(Contract):
    """The contact addresses of a proposal's applicant, as of one version of the proposal.
    Published by the proposals service on smartcity.contacts, a topic only the services read
    (notifications addresses letters with it); never on a topic an agency reads."""

    event_type: Literal["ProposalContactsRecorded"] = Field(
        "ProposalContactsRecorded", description="The event type; always 'ProposalContactsRecorded'"
    )
    applicant: AgencyId = Field(description="The agency that owns the proposal")
    revision: int = Field(ge=1, description="The version of the proposal these are for")
    contact_emails: ContactEmails


class FieldError(Contract):
    """One precise problem with a submission."""

    field: str = Field(description="Dotted path of the field, e.g. 'content.province.code'")
    message: BilingualText = Field(description="What is wrong, in Thai and English")


FIELD_NAMES: dict[str, BilingualText] = {
    "applicant": BilingualText(th="หน่วยงานผู้ยื่น", en="applicant agency"),
    "content": BilingualText(th="ข้อเสนอ", en="proposal"),
    "content.province": BilingualText(th="จังหวัด", en="province"),
    "content.province.code": BilingualText(th="รหัสจังหวัด", en="province code"),
    "content.province.name_th": BilingualText(th="ชื่อจังหวัดภาษาไทย", en="province name in Thai"),
    "content.province.name_en": BilingualText(th="ชื่อจังหวัดภาษาอังกฤษ", en="province name in English"),
    "content.area_name": BilingualText(th="ชื่อพื้นที่", en="area name"),
    "content.area_name.th": BilingualText(th="ชื่อพื้นที่ภาษาไทย", en="area name in Thai"),
    "content.area_name.en": BilingualText(th="ชื่อพื้นที่ภาษาอังกฤษ", en="area name in English"),
    "content.dimensions": BilingualText(th="มิติเมืองอัจฉริยะ", en="smart dimensions"),
    "content.plan": BilingualText(th="แผนพัฒนาเมืองอัจฉริยะ", en="development plan"),
    "content.plan.area_boundary_and_goals": BilingualText(
        th="ขอบเขตพื้นที่และเป้าหมาย", en="area boundary and goals"
    ),
    "content.plan.infrastructure_plan": BilingualText(
        th="แผนการลงทุนและพัฒนาโครงสร้างพื้นฐาน", en="infrastructure investment plan"
    ),
    "content.plan.city_data_platform": BilingualText(
        th="การออกแบบแพลตฟอร์มข้อมูลเมือง", en="city data platform design"
    ),
    "content.plan.smart_solutions": BilingualText(th="บริการเมืองอัจฉริยะ", en="smart solutions"),
    "content.plan.management_model": BilingualText(th="รูปแบบการบริหารจัดการ", en="management model"),
    "content.has_city_data_platform": BilingualText(
        th="การมีแพลตฟอร์มข้อมูลเมือง", en="city data platform flag"
    ),
    "content.budget_baht": BilingualText(th="งบประมาณ (บาท)", en="budget (baht)"),
    "content.expected_value_baht": BilingualText(
        th="มูลค่าทางเศรษฐกิจที่คาดว่าจะได้รับ (บาท)", en="expected economic value (baht)"
    ),
    "content.contact_emails": BilingualText(th="อีเมลผู้ประสานงาน", en="contact email"),
    "contact_emails": BilingualText(th="อีเมลผู้ประสานงาน", en="contact email"),
    "content.attachments": BilingualText(th="เอกสารแนบ", en="attachments"),
    "revision": BilingualText(th="ครั้งที่แก้ไข", en="revision number"),
    "changes": BilingualText(th="สรุปสิ่งที่แก้ไข", en="summary of changes"),
    "reason": BilingualText(th="เหตุผล", en="reason"),
}
"""What a field of a submission is called, for people (refusal emails never show paths)."""


def field_name(path: str) -> BilingualText:
    """The name of the field at a dotted path (list indices and an envelope's `payload.` prefix
    ignored; the nearest named parent when the field itself has no name)."""
    parts = [p for p in path.split(".") if p and not p.isdigit()]
    if parts and parts[0] in {"payload", "body"}:
        parts = parts[1:]
    while parts:
        name = FIELD_NAMES.get(".".join(parts))
        if name is not None:
            return name
        parts.pop()
    return BilingualText(th="ข้อมูลในคำขอ", en="the request")


class IntakeRejected(Contract):
    """The proposals service refused a submission claim; addressed to its producer."""

    event_type: Literal["IntakeRejected"] = Field(
        "IntakeRejected", description="The event type; always 'IntakeRejected'"
    )
    refused_event_id: str = Field(description="event_id of the refused claim")
    refused_event_type: str = Field(description="event_type of the refused claim")
    producer: str = Field(description="Who produced the refused claim, as it claimed")
    reason: BilingualText = Field(description="Why the claim was refused")
    errors: list[FieldError] = Field(default_factory=list, description="Field-precise errors")


class ProposalDraft(Contract):
    """The body of a submission over HTTP: the plan, with the province given by code or name.

    The service resolves the province against the 77 provinces and publishes the full
    `ProposalContent` in ProposalSubmitted."""

    province: ShortText = Field(
        description="Province: 2-digit code ('83'), ISO code ('TH-83'), English or Thai name"
    )
    area_name: BilingualText = Field(description="Name of the smart-city area")
    dimensions: Annotated[list[SmartDimension], Field(min_length=1, max_length=7)] = Field(
        description="The smart dimensions the plan covers (at least one of the seven)"
    )
    plan: PlanComponents = Field(description="The five required plan components")
    has_city_data_platform: bool = Field(
        description="Whether the area operates (or will operate) a city data platform"
    )
    budget_baht: Baht = Field(description="Planned investment, in baht")
    expected_value_baht: Baht = Field(description="Expected economic value, in baht")
    contact_emails: Annotated[list[Email], Field(min_length=1, max_length=10)] = Field(
        description="Where the applicant wants to be told about the proposal"
    )
    attachments: Annotated[list[Attachment], Field(max_length=50)] = Field(
        default_factory=list, description="Supporting documents, as links"
    )
    received_on: dt.date | None = Field(
        default=None,
        description="The day depa received the proposal, when it is entered later than that "
        "(sent on paper before, or a past round imported); absent: today. Not in the future.",
    )


class RevisionDraft(ProposalDraft):
    """The body of a resubmission over HTTP: the revised plan, and what changed."""

    changes: Words | None = Field(
        default=None, description="What the applicant changed, in its own words"
    )


class WithdrawalRequest(Contract):
    """The body of a withdrawal over HTTP."""

    reason: Words | None = Field(default=None, description="Why, if the applicant says")


class RevisionRecord(Contract):
    """One submitted version of a proposal."""

    revision: int = Field(ge=1, description="1 for the first submission, then 2, 3, ...")
    submitted_at: UtcDateTime = Field(description="When this version was submitted")
    event_id: str = Field(description="event_id of the ProposalSubmitted/Resubmitted event")
    content: SubmittedContent = Field(description="The plan as submitted in this version")
    changes: Words | None = Field(default=None, description="What changed, if said")


class RevisionRequestRecord(Contract):
    """A revision request received from the approvals workflow."""

    event_id: str = Field(description="event_id of the RevisionRequested event")
    requested_by: AgencyId = Field(description="Who asked for the revision")
    reasons: BilingualText = Field(description="What must change")
    respond_by: dt.date | None = Field(default=None, description="Resubmit by this date")
    at: UtcDateTime = Field(description="When it was requested")


class ProposalView(Contract):
    """A proposal as the HTTP API shows it."""

    proposal_id: str = Field(description="The proposal's id")
    applicant: AgencyId = Field(description="The agency that owns it")
    province_code: str = Field(description="Two-digit province code")
    status: Stage = Field(
        description="submitted, revision_requested or withdrawn (as far as "
        "the proposals service knows; approvals tracks later stages)"
    )
    revision: int = Field(description="Current revision number")
    content: SubmittedContent = Field(description="The current version of the plan")
    revisions: list[RevisionRecord] = Field(description="Every submitted version, oldest first")
    revision_requests: list[RevisionRequestRecord] = Field(
        default_factory=list, description="Revision requests received, oldest first"
    )
    withdrawal_reason: Words | None = Field(default=None, description="If withdrawn")
    submitted_at: UtcDateTime = Field(description="First submission")
    updated_at: UtcDateTime = Field(description="Last change")
    version: int = Field(description="Optimistic-concurrency version of the document")


class ProposalPage(Contract):
    """One page of a proposal listing, newest first."""

    items: list[ProposalView] = Field(description="The proposals on this page")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end")


class ErrorResponse(Contract):
    """Every refusal of the proposals API: a reason in English and Thai, and field errors."""

    error: str = Field(description="What went wrong, in English")
    error_th: str = Field(description="What went wrong, in Thai")
    errors: list[FieldError] = Field(default_factory=list, description="Field-precise errors")
