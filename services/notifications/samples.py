"""One example event of every routed type, with fixed ids and dates: the template snapshots,
the `preview` command and the tests render these. `area` lets a caller put awkward text
(CR/LF, HTML) where a person's input would go.

Facts follow docs/process.md: the subcommittee's meeting 1/2565 on 6 August 2022 chaired by the
Minister of Digital Economy and Society; the steering committee's meeting 1/2565 on 9 November
2022 chaired by a Deputy Prime Minister; logos handed over on 9 January 2023. Illustrative (no
public source): the Cabinet's dates and the Secretariat's letter numbers, the reasons, notes and
resolution wording."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from smartcity_th.contracts.approvals import (
    CabinetEndorsed,
    CabinetReturned,
    CertificationAwarded,
    CertificationLapsed,
    CertificationRenewed,
    DeliveryAcknowledged,
    DeliveryDeadlineReminder,
    DeliveryReported,
    DeliveryReturned,
    ProposalScreened,
    ReportSummary,
    RevisionRequested,
    SteeringCommitteeAcknowledged,
    SubcommitteeApproved,
    SubcommitteeRejected,
    TransitionRefused,
    ValidityPeriod,
)
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.common import (
    BilingualText,
    Contract,
    LongWords,
    Meeting,
    ProvinceRef,
    Stage,
    Words,
    service_principal,
)
from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.proposals import (
    Attachment,
    FieldError,
    IntakeRejected,
    PlanComponents,
    ProposalContactsRecorded,
    ProposalContent,
    ProposalResubmitted,
    ProposalSubmitted,
    ProposalWithdrawn,
)
from smartcity_th.services.notifications.domain import (
    MailSettings,
    Recipient,
    address_letter,
    effective_date,
    render_letter,
)
from smartcity_th.services.notifications.letters import LETTERS
from smartcity_th.services.notifications.links import StatusLinks
from smartcity_th.services.notifications.rendering import LetterHead, RenderedEmail, render_digest

APPLICANT = "lg-phuket-city"
PROVINCE = ProvinceRef(code="83", name_th="ภูเก็ต", name_en="Phuket")
AREA = BilingualText(th="ภูเก็ตเมืองอัจฉริยะ", en="Phuket Smart City")
OCCURRED = dt.datetime(2022, 8, 6, 3, 30, tzinfo=dt.UTC)
SUBCOMMITTEE_CHAIR = BilingualText(
    th="รัฐมนตรีว่าการกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม",
    en="Minister of Digital Economy and Society",
)
STEERING_CHAIR = BilingualText(th="รองนายกรัฐมนตรี", en="Deputy Prime Minister")


CONTACT = "smartcity@phuketcity.example.go.th"


def content(area: BilingualText = AREA) -> ProposalContent:
    return ProposalContent(
        province=PROVINCE,
        area_name=area,
        dimensions=["economy", "environment"],
        plan=PlanComponents(
            area_boundary_and_goals="เขตเทศบาลนครภูเก็ต 12 ตร.กม.",
            infrastructure_plan="Fibre backbone and sensors",
            city_data_platform="Open city data platform",
            smart_solutions="Smart tourism, flood warning",
            management_model="City development company",
        ),
        has_city_data_platform=True,
        budget_baht=Decimal("125000000"),
        expected_value_baht=Decimal("480000000"),
    )


def payloads(
    area: BilingualText = AREA, reason: BilingualText | None = None, producer: str = "depa"
) -> dict[str, Contract]:
    """Payload per routed event type. `producer` is who a refusal is addressed to."""
    why = reason or BilingualText(th="เอกสารแนบไม่ครบ", en="Attachments are missing")
    meeting = Meeting(meeting_id="1/2565", held_on=dt.date(2022, 8, 6), chair=SUBCOMMITTEE_CHAIR)
    return {
        "ProposalSubmitted": ProposalSubmitted(applicant=APPLICANT, content=content(area)),
        "ProposalResubmitted": ProposalResubmitted(
            applicant=APPLICANT,
            revision=2,
            content=content(area),
            changes=Words(th="เพิ่มแผนงบประมาณ", en="budget plan added"),
        ),
        "ProposalWithdrawn": ProposalWithdrawn(
            applicant=APPLICANT, reason=Words.model_validate(why.th)
        ),
        "ProposalContactsRecorded": ProposalContactsRecorded(
            applicant=APPLICANT, revision=1, contact_emails=[CONTACT]
        ),
        "IntakeRejected": IntakeRejected(
            refused_event_id="5f0c3c52-95f7-4a57-9d2e-8a3b0e6d1c11",
            refused_event_type="ProposalSubmitted",
            producer=producer,
            reason=why,
            errors=[
                FieldError(
                    field="content.province.code",
                    message=BilingualText(th="ไม่พบจังหวัด", en="unknown province"),
                )
            ],
        ),
        "ProposalScreened": ProposalScreened(
            screened_by="depa", notes=Words(th="ครบถ้วน", en="complete")
        ),
        "RevisionRequested": RevisionRequested(
            requested_by="depa", reasons=why, respond_by=dt.date(2022, 9, 30)
        ),
        "SubcommitteeApproved": SubcommitteeApproved(
            meeting=meeting, resolution=LongWords(th="ที่ประชุมมีมติเห็นชอบ", en="The meeting approved.")
        ),
        "SubcommitteeRejected": SubcommitteeRejected(
            meeting=meeting,
            resolution=LongWords(th="ที่ประชุมมีมติไม่เห็นชอบ", en="Not approved."),
            reasons=why,
        ),
        "SteeringCommitteeAcknowledged": SteeringCommitteeAcknowledged(
            meeting=Meeting(
                meeting_id="1/2565", held_on=dt.date(2022, 11, 9), chair=STEERING_CHAIR
            ),
            resolution=LongWords(th="ที่ประชุมรับทราบ", en="Acknowledged."),
        ),
        "CabinetEndorsed": CabinetEndorsed(
            resolution_number="นร 0505/ว 123",
            resolution_date=dt.date(2022, 12, 20),
            resolution=LongWords(
                th="คณะรัฐมนตรีเห็นชอบ", en="The Cabinet endorsed the certification."
            ),
        ),
        "CabinetReturned": CabinetReturned(
            resolution_number="นร 0505/ว 124",
            resolution_date=dt.date(2022, 12, 20),
            resolution=LongWords(th="ให้ส่งเรื่องคืนเพื่อทบทวน", en="Returned for rework."),
            reasons=why,
        ),
        "CertificationAwarded": CertificationAwarded(
            certificate_number="SCT-2565-0016",
            area_name=area,
            province_code="83",
            subcommittee_meeting_id="1/2565",
            validity=ValidityPeriod(valid_from=dt.date(2023, 1, 9), deliver_by=dt.date(2025, 1, 9)),
        ),
        "TransitionRefused": TransitionRefused(
            refused_event_id="0e7d6d7f-5a51-4b0c-9a53-3b8f7f0e2b22",
            refused_event_type="CabinetEndorsed",
            producer=producer,
            stage=Stage.SCREENED,
            reason=why,
        ),
        "DeliveryDeadlineReminder": DeliveryDeadlineReminder(
            certificate_number="SCT-2565-0016",
            deliver_by=dt.date(2025, 1, 9),
            overdue=False,
            days_left=30,
        ),
        "DeliveryReported": DeliveryReported(
            certificate_number="SCT-2565-0016",
            period=dt.date(2024, 10, 10),
            progress_percent=65,
            summary=ReportSummary(th="ติดตั้งเซนเซอร์ครบ 40 จุด", en="All 40 sensors installed"),
            links=[
                Attachment(
                    title="รายงานผล / delivery report",
                    url="https://www.phuketcity.example.go.th/report.pdf",
                )
            ],
        ),
        "DeliveryAcknowledged": DeliveryAcknowledged(
            period=dt.date(2024, 10, 10),
            acknowledged_by="depa",
            remarks=BilingualText(th="รายงานครบถ้วน", en="The report is complete"),
        ),
        "DeliveryReturned": DeliveryReturned(
            period=dt.date(2024, 10, 10), returned_by="depa", reasons=why
        ),
        "CertificationRenewed": CertificationRenewed(
            reasons=BilingualText(th="ความก้าวหน้าร้อยละ 65", en="65% progress"),
            deliver_by=dt.date(2026, 10, 10),
        ),
        "CertificationLapsed": CertificationLapsed(reasons=why),
    }


def sample_envelope(
    event_type: str, *, proposal_id: str = "PRP-2565-0001", fixed: bool = True, **kwargs: Any
) -> AnyEnvelope:
    """An envelope of `event_type`; `fixed` gives a stable event id and time (snapshots)."""
    payload = payloads(**kwargs)[event_type]
    return new_envelope(
        payload,
        producer=service_principal(EVENTS[event_type].owner),
        proposal_id=proposal_id,
        occurred_at=OCCURRED if fixed else None,
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"sample:{event_type}") if fixed else None,
        correlation_id=uuid.UUID(int=1) if fixed else None,
    )


SAMPLE_STATUS_URL = "https://smartcity.example.go.th/status/signed-token-of-PRP-2565-0001"


class _SampleLinks(StatusLinks):
    """One fixed status link (a real one depends on when it was signed)."""

    def url(self, proposal_id: str) -> str:
        return SAMPLE_STATUS_URL


def sample_letters() -> dict[str, RenderedEmail]:
    """Every letter kind as its email renders it (`RenderedEmail` by event type, and "Digest"
    covering two of them), to the applicant municipality with the governor's office copied,
    numbered and sent at fixed times: what the PDF tests, the benchmark and
    tools/letter_screenshots.py typeset."""
    settings = MailSettings(
        "สำนักงานเมืองอัจฉริยะประเทศไทย",
        "smartcity@depa.example.go.th",
        "example.go.th",
        _SampleLinks("https://smartcity.example.go.th/status/", 800 * 86400, "sample"),
        3,
        1.0,
        2.0,
    )
    applicant = Recipient(
        APPLICANT, "smartcity@phuketcity.example.go.th", "เทศบาลนครภูเก็ต", "Phuket City Municipality"
    )
    governor = Recipient(
        "governor-83",
        "governor-83@provinces.example.go.th",
        "ผู้ว่าราชการจังหวัดภูเก็ต",
        "Governor of Phuket Province",
    )
    proposal = {
        "area_name": AREA.model_dump(),
        "province": PROVINCE.model_dump(),
        "stage": "screened",
        "applicant": APPLICANT,
    }
    out: dict[str, RenderedEmail] = {}
    for number, event_type in enumerate(LETTERS, start=1):
        letter = address_letter(event_type, applicant, [governor], [])
        envelope = sample_envelope(event_type)
        out[event_type], _head, _context = render_letter(
            envelope,
            proposal,
            letter,
            settings,
            number=number,
            issued_on=effective_date(envelope),  # told as it happens
        )
    items = [
        {
            "event_type": event_type,
            "subject": out[event_type].subject,
            "proposal_id": "PRP-2565-0001",
            "occurred_at": OCCURRED,
            "letter_th": f"สศด 04/{number}",
            "letter_en": f"DEPA 04/{number}",
            "letter_date": OCCURRED.date(),
            "timeline_url": SAMPLE_STATUS_URL,
        }
        for number, event_type in enumerate(("ProposalSubmitted", "ProposalScreened"), start=1)
    ]
    as_of = OCCURRED + dt.timedelta(days=1)
    head = LetterHead(settings.office, len(LETTERS) + 1, as_of.date())
    out["Digest"] = render_digest(applicant, items, as_of, head)
    return out
