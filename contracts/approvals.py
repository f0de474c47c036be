"""Events of the approvals context: screening, committee decisions, Cabinet, certification."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from smartcity_th.contracts.common import (
    EFFECTIVE_ON_DESCRIPTION,
    AgencyId,
    BilingualText,
    Contract,
    LongText,
    LongWords,
    Meeting,
    ProposalId,
    Stage,
    UtcDateTime,
    Words,
)
from smartcity_th.contracts.proposals import Attachment
from smartcity_th.contracts.signing import KEY_ID_PATTERN

MINUTED = "The resolution text, as minuted, in Thai and/or English"


class ProposalScreened(Contract):
    """depa's Smart City Office screened the proposal and forwards it to the subcommittee."""

    event_type: Literal["ProposalScreened"] = Field(
        "ProposalScreened", description="The event type; always 'ProposalScreened'"
    )
    screened_by: AgencyId = Field(description="The depa office that screened it")
    notes: Words | None = Field(
        default=None, description="Screening notes, if any, in Thai and/or English"
    )
    effective_on: dt.date | None = Field(default=None, description=EFFECTIVE_ON_DESCRIPTION)


class RevisionRequested(Contract):
    """depa (or the subcommittee) sent the proposal back to the applicant for revision."""

    event_type: Literal["RevisionRequested"] = Field(
        "RevisionRequested", description="The event type; always 'RevisionRequested'"
    )
    requested_by: AgencyId = Field(description="Who asked for the revision")
    reasons: BilingualText = Field(description="What must change, in Thai and English")
    respond_by: dt.date | None = Field(
        default=None, description="Date by which the applicant should resubmit"
    )
    effective_on: dt.date | None = Field(default=None, description=EFFECTIVE_ON_DESCRIPTION)


class SubcommitteeApproved(Contract):
    """The DES smart-city subcommittee approved the proposal at a meeting."""

    event_type: Literal["SubcommitteeApproved"] = Field(
        "SubcommitteeApproved", description="The event type; always 'SubcommitteeApproved'"
    )
    meeting: Meeting = Field(description="The subcommittee meeting")
    resolution: LongWords = Field(description=MINUTED)


class SubcommitteeRejected(Contract):
    """The DES smart-city subcommittee rejected the proposal at a meeting."""

    event_type: Literal["SubcommitteeRejected"] = Field(
        "SubcommitteeRejected", description="The event type; always 'SubcommitteeRejected'"
    )
    meeting: Meeting = Field(description="The subcommittee meeting")
    resolution: LongWords = Field(description=MINUTED)
    reasons: BilingualText = Field(description="Why, in Thai and English")


class SteeringCommitteeAcknowledged(Contract):
    """The national smart-city steering committee acknowledged the approval."""

    event_type: Literal["SteeringCommitteeAcknowledged"] = Field(
        "SteeringCommitteeAcknowledged",
        description="The event type; always 'SteeringCommitteeAcknowledged'",
    )
    meeting: Meeting = Field(description="The steering committee meeting")
    resolution: LongWords = Field(description=MINUTED)


ResolutionNumber = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(
        description="Reference of the letter of the Secretariat of the Cabinet that conveys the "
        "resolution (หนังสือสำนักเลขาธิการคณะรัฐมนตรี ที่ นร 0505/ว …), e.g. 'นร 0505/ว 123'; "
        "the resolution itself is identified by its date (`resolution_date`)"
    ),
]


class CabinetEndorsed(Contract):
    """The Cabinet endorsed (or was informed of and noted) the certification."""

    event_type: Literal["CabinetEndorsed"] = Field(
        "CabinetEndorsed", description="The event type; always 'CabinetEndorsed'"
    )
    resolution_number: ResolutionNumber
    resolution_date: dt.date = Field(description="Date of the Cabinet resolution")
    date_note: BilingualText | None = Field(
        default=None,
        description="Why the resolution's date is not certain, shown beside it wherever it "
        "appears (the meeting's `date_note`, e.g. 'วันที่ตัวอย่าง' / 'illustrative date')",
    )
    resolution: LongWords = Field(description="The resolution text, in Thai and/or English")


class CabinetReturned(Contract):
    """The Cabinet returned the matter (ส่งเรื่องคืน) to the proposing ministry for rework. Not a
    final rejection: the proposal goes back to the subcommittee (stage `cabinet_returned`),
    which reconsiders it or asks the applicant to revise it."""

    event_type: Literal["CabinetReturned"] = Field(
        "CabinetReturned", description="The event type; always 'CabinetReturned'"
    )
    resolution_number: ResolutionNumber
    resolution_date: dt.date = Field(description="Date of the Cabinet resolution")
    date_note: BilingualText | None = Field(
        default=None,
        description="Why the resolution's date is not certain, shown beside it wherever it "
        "appears (the meeting's `date_note`, e.g. 'วันที่ตัวอย่าง' / 'illustrative date')",
    )
    resolution: LongWords = Field(description="The resolution text, in Thai and/or English")
    reasons: BilingualText = Field(
        description="Why the matter was returned and what must be reworked, in Thai and English"
    )


DELIVERY_YEARS = 2
"""A certified area is given two years to develop; its certificate can be revoked if it fails
the requirements by then. Source: OpenGov Asia, "DEPA announces start of first batch of smart
cities in Thailand" (2020). The default of APPROVALS_DELIVERY_YEARS: a deployment sets its own."""
RENEWAL_MIN_PROGRESS_PERCENT = 50
"""This deployment's setting, not a published rule: no public source was found for a progress
threshold for renewal (see docs/process.md). The default of
APPROVALS_RENEWAL_MIN_PROGRESS_PERCENT."""


class ValidityPeriod(Contract):
    """How long a certification holds, and what renewal needs."""

    valid_from: dt.date = Field(description="First day the certification holds")
    deliver_by: dt.date = Field(
        description="The area must show delivery by this date (the deployment's delivery "
        "period after the award; two years by default)"
    )
    renewal_min_progress_percent: int = Field(
        default=50,
        ge=0,
        le=100,
        description="Progress needed to renew, in percent: this deployment's setting "
        "(no published threshold was found), recorded at the award",
    )

    @model_validator(mode="after")
    def _delivery_after_start(self) -> ValidityPeriod:
        if self.deliver_by <= self.valid_from:
            raise ValueError("deliver_by must be after valid_from")
        return self

    @classmethod
    def starting(
        cls,
        valid_from: dt.date,
        delivery_years: int = DELIVERY_YEARS,
        renewal_min_progress_percent: int = RENEWAL_MIN_PROGRESS_PERCENT,
    ) -> ValidityPeriod:
        """The period a deployment's settings give: delivery due `delivery_years` after the
        award, renewal at `renewal_min_progress_percent`."""
        return cls(
            valid_from=valid_from,
            deliver_by=add_years(valid_from, delivery_years),
            renewal_min_progress_percent=renewal_min_progress_percent,
        )


def add_years(day: dt.date, years: int) -> dt.date:
    """The same calendar day `years` later (28 February for 29 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


class CertificateSeal(Contract):
    """The approvals service's Ed25519 signature over the certificate's statement
    (`smartcity_th.contracts.certificate_seal.statement`), made when it awarded the
    certificate; anyone with the registry's public key of `key_id` can check it."""

    key_id: Annotated[str, StringConstraints(pattern=KEY_ID_PATTERN)] = Field(
        description="The approvals service's signing key in the agency registry "
        "('svc-approvals:<16 hex>')"
    )
    signed_at: UtcDateTime = Field(description="When it was signed (UTC, whole seconds)")
    signature: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{86}==$")] = Field(
        description="The 64-byte Ed25519 signature, base64"
    )


class CertificationAwarded(Contract):
    """The area is certified as a smart city and awarded the logo."""

    event_type: Literal["CertificationAwarded"] = Field(
        "CertificationAwarded", description="The event type; always 'CertificationAwarded'"
    )
    certificate_number: Annotated[str, StringConstraints(pattern=r"^SCT-25[0-9]{2}-[0-9]{4}$")] = (
        Field(description="Certificate number, e.g. 'SCT-2565-0016'")
    )
    area_name: BilingualText = Field(description="The certified area")
    province_code: Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")] = Field(
        description="Province code of the area"
    )
    subcommittee_meeting_id: str = Field(description="The meeting that approved it, e.g. '1/2565'")
    validity: ValidityPeriod = Field(description="Validity period and renewal rule")
    seal: CertificateSeal | None = Field(
        default=None,
        description="The approvals service's signature over the certificate (set by the "
        "service on the fact it publishes; absent on a claim, and on a fact the service made "
        "without a signing key)",
    )


class TransitionRefused(Contract):
    """A decision was refused: it does not fit the proposal's stage or its producer may not
    make it. Addressed to the producer; the proposal's stage does not change."""

    event_type: Literal["TransitionRefused"] = Field(
        "TransitionRefused", description="The event type; always 'TransitionRefused'"
    )
    refused_event_id: str = Field(description="event_id of the refused claim")
    refused_event_type: str = Field(description="event_type of the refused claim")
    producer: str = Field(description="Who produced the refused claim")
    stage: Stage | None = Field(description="The proposal's stage when it was refused")
    reason: BilingualText = Field(description="Why, in words a person understands")


class DeliveryDeadlineReminder(Contract):
    """A certified area's delivery deadline approaches or has passed."""

    event_type: Literal["DeliveryDeadlineReminder"] = Field(
        "DeliveryDeadlineReminder", description="The event type; always 'DeliveryDeadlineReminder'"
    )
    certificate_number: str = Field(description="The certificate concerned")
    deliver_by: dt.date = Field(description="The delivery deadline")
    overdue: bool = Field(description="True once the deadline has passed")
    days_left: int = Field(description="Days until the deadline (negative when overdue)")


ProgressPercent = Annotated[
    int, Field(ge=0, le=100, description="Progress on the plan, in percent (0 to 100)")
]


class ReportSummary(Contract):
    """What was delivered, in Thai and in English."""

    th: LongText = Field(description="Summary in Thai")
    en: LongText = Field(description="Summary in English")


class DeliveryReported(Contract):
    """The certified applicant reports its progress for one delivery period (the period is
    named by its deadline). depa acknowledges or returns the report."""

    event_type: Literal["DeliveryReported"] = Field(
        "DeliveryReported", description="The event type; always 'DeliveryReported'"
    )
    certificate_number: str = Field(description="The certificate reported on")
    period: dt.date = Field(
        description="The delivery deadline this report answers (the certificate's deliver_by, "
        "or the one a renewal set)"
    )
    progress_percent: ProgressPercent
    summary: ReportSummary = Field(description="What was delivered, in Thai and English")
    links: Annotated[list[Attachment], Field(max_length=20)] = Field(
        default_factory=list, description="Links to the report and its evidence"
    )


class DeliveryAcknowledged(Contract):
    """depa accepted the delivery report of a period; reminders for that deadline stop."""

    event_type: Literal["DeliveryAcknowledged"] = Field(
        "DeliveryAcknowledged", description="The event type; always 'DeliveryAcknowledged'"
    )
    period: dt.date = Field(description="The delivery deadline whose report is acknowledged")
    acknowledged_by: AgencyId = Field(description="The depa office that acknowledged it")
    remarks: BilingualText | None = Field(default=None, description="Remarks, if any")


class DeliveryReturned(Contract):
    """depa returned the delivery report of a period to the applicant, with the reasons; the
    applicant reports again."""

    event_type: Literal["DeliveryReturned"] = Field(
        "DeliveryReturned", description="The event type; always 'DeliveryReturned'"
    )
    period: dt.date = Field(description="The delivery deadline whose report is returned")
    returned_by: AgencyId = Field(description="The depa office that returned it")
    reasons: BilingualText = Field(description="What is missing, in Thai and English")


class CertificationRenewed(Contract):
    """depa (or the subcommittee) renewed the certificate for another delivery period."""

    event_type: Literal["CertificationRenewed"] = Field(
        "CertificationRenewed", description="The event type; always 'CertificationRenewed'"
    )
    reasons: BilingualText = Field(description="Why, in Thai and English")
    deliver_by: dt.date | None = Field(
        default=None,
        description="The next delivery deadline. A claim may leave it out: the service sets "
        "it to the current deadline plus the deployment's delivery period",
    )


class CertificationLapsed(Contract):
    """depa (or the subcommittee) recorded that the certificate lapsed (not renewed, or
    revoked because the requirements were not met)."""

    event_type: Literal["CertificationLapsed"] = Field(
        "CertificationLapsed", description="The event type; always 'CertificationLapsed'"
    )
    reasons: BilingualText = Field(description="Why, in Thai and English")


MeetingBody = Literal["subcommittee", "steering_committee", "cabinet"]

MEETING_DECISIONS: dict[str, frozenset[str]] = {
    "subcommittee": frozenset(
        {"SubcommitteeApproved", "SubcommitteeRejected", "RevisionRequested"}
    ),
    "steering_committee": frozenset({"SteeringCommitteeAcknowledged"}),
    "cabinet": frozenset({"CabinetEndorsed", "CabinetReturned"}),
}
"""Which decisions each body takes at a meeting."""

NEEDS_REASONS = frozenset({"SubcommitteeRejected", "RevisionRequested", "CabinetReturned"})

MeetingDecisionType = Literal[
    "SubcommitteeApproved",
    "SubcommitteeRejected",
    "RevisionRequested",
    "SteeringCommitteeAcknowledged",
    "CabinetEndorsed",
    "CabinetReturned",
]


class MeetingDecision(Contract):
    """What a meeting decided about one proposal."""

    proposal_id: ProposalId
    decision: MeetingDecisionType = Field(description="The decision, as the event it becomes")
    resolution: LongWords = Field(description=MINUTED)
    reasons: BilingualText | None = Field(
        default=None, description="Why (required to reject, return or send back for revision)"
    )


class MeetingRecorded(Contract):
    """A meeting with its decisions on N proposals: an HTTP request body, or a claim on the
    intake topic. Each proposal gets its own decision event carrying the meeting id."""

    event_type: Literal["MeetingRecorded"] = Field(
        "MeetingRecorded", description="The event type; always 'MeetingRecorded'"
    )
    body: MeetingBody = Field(description="Which body met")
    meeting: Meeting = Field(description="The meeting (id, date, chair)")
    resolution_number: ResolutionNumber | None = Field(
        default=None, description="Cabinet resolution reference (Cabinet meetings only)"
    )
    decisions: Annotated[list[MeetingDecision], Field(min_length=1, max_length=100)] = Field(
        description="One decision per proposal"
    )

    @model_validator(mode="after")
    def _consistent(self) -> MeetingRecorded:
        allowed = MEETING_DECISIONS[self.body]
        seen: set[str] = set()
        for i, d in enumerate(self.decisions):
            if d.decision not in allowed:
                raise ValueError(
                    f"decisions.{i}: a {self.body} meeting cannot take "
                    f"{d.decision}; it takes {', '.join(sorted(allowed))}"
                )
            if d.decision in NEEDS_REASONS and d.reasons is None:
                raise ValueError(f"decisions.{i}: {d.decision} needs reasons")
            if d.proposal_id in seen:
                raise ValueError(f"decisions.{i}: proposal {d.proposal_id} appears twice")
            seen.add(d.proposal_id)
        if self.body == "cabinet" and self.resolution_number is None:
            raise ValueError("a Cabinet meeting needs its resolution_number")
        return self


class AwardCertification(Contract):
    """HTTP request to award the certification: the service issues the certificate number and
    the validity period."""

    event_type: Literal["CertificationAwarded"] = "CertificationAwarded"
    valid_from: dt.date | None = Field(
        default=None, description="First day the certification holds (default: today)"
    )


DATED_DECISIONS = frozenset(
    {
        "ProposalSubmitted",
        "ProposalResubmitted",
        "ProposalScreened",
        "RevisionRequested",
        "SubcommitteeApproved",
        "SubcommitteeRejected",
        "SteeringCommitteeAcknowledged",
        "CabinetEndorsed",
        "CabinetReturned",
        "CertificationAwarded",
    }
)
"""The events `decided_on` may give a date for (the first four only when recorded late)."""


def decided_on(payload: Contract) -> dt.date | None:
    """The date a decision was taken, as the agencies date it: the meeting's date, the Cabinet
    resolution's date, the first day of a certification, or the day a step recorded later
    took effect (`effective_on`). None for a step dated only by when it was recorded.
    Timelines and letters show this rather than the moment the event was recorded."""
    effective = getattr(payload, "effective_on", None)
    if isinstance(effective, dt.date):
        return effective
    meeting = getattr(payload, "meeting", None)
    if isinstance(meeting, Meeting):
        return meeting.held_on
    if isinstance(payload, CabinetEndorsed | CabinetReturned):
        return payload.resolution_date
    if isinstance(payload, CertificationAwarded):
        return payload.validity.valid_from
    return None
