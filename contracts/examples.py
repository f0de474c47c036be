"""One realistic example of every event, built from the models (so it is valid by construction).

Used by the generated docs (`docs/events.md`) and as the seeds of the property-based tests. The
story: Phuket City Municipality's proposal, approved by the DES subcommittee at meeting 1/2565 on
6 August 2022, acknowledged, endorsed by the Cabinet and certified. Deterministic: fixed ids and
times, so the generated docs do not change between runs.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from decimal import Decimal

from smartcity_th.contracts import topics
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
    MeetingDecision,
    MeetingRecorded,
    ProposalScreened,
    ReportSummary,
    RevisionRequested,
    SteeringCommitteeAcknowledged,
    SubcommitteeApproved,
    SubcommitteeRejected,
    TransitionRefused,
    ValidityPeriod,
)
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
from smartcity_th.contracts.deadletter import DeadLetter
from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.notifications import (
    NotificationFailed,
    NotificationHeld,
    NotificationSent,
)
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
from smartcity_th.contracts.reference import SmartDimension

PROPOSAL_ID = "PKT-2565-0001"
APPLICANT = "lg-phuket-city"
CORRELATION_ID = uuid.UUID("6f1c2a9e-8d47-4f0b-9a53-2b7c1e0d4a11")
_NAMESPACE = uuid.UUID("0b7f5a10-3c2d-4e8f-9a6b-1d2e3f405162")
_T0 = dt.datetime(2022, 6, 15, 2, 30, tzinfo=dt.UTC)

PHUKET = ProvinceRef(code="83", name_th="ภูเก็ต", name_en="Phuket")
AREA = BilingualText(th="ภูเก็ตเมืองอัจฉริยะ", en="Phuket Smart City")
CHAIR = BilingualText(
    th="รัฐมนตรีว่าการกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม",
    en="Minister of Digital Economy and Society",
)
SUBCOMMITTEE_MEETING = Meeting(meeting_id="1/2565", held_on=dt.date(2022, 8, 6), chair=CHAIR)
STEERING_MEETING = Meeting(
    meeting_id="2/2565",
    held_on=dt.date(2022, 8, 30),
    chair=BilingualText(th="รองนายกรัฐมนตรี", en="Deputy Prime Minister"),
)

CONTENT = ProposalContent(
    province=PHUKET,
    area_name=AREA,
    dimensions=[SmartDimension.ENVIRONMENT, SmartDimension.MOBILITY, SmartDimension.ECONOMY],
    plan=PlanComponents(
        area_boundary_and_goals=(
            "เขตเทศบาลนครภูเก็ต 12 ตร.กม. / Phuket City Municipality, 12 km²: a liveable, "
            "safe tourist city with cleaner air and water by 2027"
        ),
        infrastructure_plan=(
            "โครงข่ายเซนเซอร์และไฟเบอร์ออปติก / Fibre backbone, air-quality and flood sensors, "
            "smart street lighting in the old town"
        ),
        city_data_platform=(
            "แพลตฟอร์มข้อมูลเมือง Phuket City Data Platform: open API, consent-based personal "
            "data, security audited yearly"
        ),
        smart_solutions=(
            "Smart Environment: flood early warning; Smart Mobility: real-time bus tracking; "
            "Smart Economy: digital tourist pass"
        ),
        management_model=(
            "บริษัทพัฒนาเมืองภูเก็ต (Phuket City Development Co.) operates the platform under "
            "a municipal service agreement"
        ),
    ),
    has_city_data_platform=True,
    budget_baht=Decimal("125000000.00"),
    expected_value_baht=Decimal("480000000.00"),
    attachments=[
        Attachment(
            title="แผนพัฒนาเมืองอัจฉริยะภูเก็ต (Phuket smart city development plan)",
            url="https://www.phuketcity.example.go.th/smartcity/plan-2565.pdf",
        )
    ],
)

CONTACTS = ["smartcity@phuketcity.example.go.th"]
"""On a claim only; the facts never carry them (ProposalContactsRecorded does, on a topic only
the services read)."""

PAYLOADS: dict[str, tuple[Contract, str]] = {
    "ProposalSubmitted": (
        ProposalSubmitted(applicant=APPLICANT, content=CONTENT, contact_emails=CONTACTS),
        APPLICANT,
    ),
    "ProposalResubmitted": (
        ProposalResubmitted(
            applicant=APPLICANT,
            revision=2,
            content=CONTENT,
            contact_emails=CONTACTS,
            changes=Words(th="เพิ่มแผนงบประมาณรายปี", en="Added a yearly budget breakdown"),
        ),
        APPLICANT,
    ),
    "ProposalWithdrawn": (
        ProposalWithdrawn(
            applicant=APPLICANT,
            reason=Words(th="รวมกับข้อเสนอของ อบจ.ภูเก็ต", en="Merged into the Phuket PAO's proposal"),
        ),
        APPLICANT,
    ),
    "ProposalContactsRecorded": (
        ProposalContactsRecorded(applicant=APPLICANT, revision=1, contact_emails=CONTACTS),
        service_principal("proposals"),
    ),
    "IntakeRejected": (
        IntakeRejected(
            refused_event_id="3d0e6c52-5f1a-4b8e-8f7d-0c9a2b1e4f60",
            refused_event_type="ProposalSubmitted",
            producer="lg-phuket-city",
            reason=BilingualText(th="ข้อเสนอไม่ครบถ้วน", en="The proposal is incomplete"),
            errors=[
                FieldError(
                    field="content.province",
                    message=BilingualText(
                        th="ไม่พบจังหวัด 'Phuket Town'", en="unknown province 'Phuket Town'"
                    ),
                )
            ],
        ),
        service_principal("proposals"),
    ),
    "ProposalScreened": (
        ProposalScreened(
            screened_by="depa",
            notes=Words(th="แผนครบ 5 องค์ประกอบ", en="All five plan components present"),
        ),
        "depa",
    ),
    "RevisionRequested": (
        RevisionRequested(
            requested_by="depa",
            reasons=BilingualText(
                th="โปรดระบุแผนงบประมาณรายปีและผู้รับผิดชอบแพลตฟอร์มข้อมูลเมือง",
                en="Please give a yearly budget and who operates the city data platform",
            ),
            respond_by=dt.date(2022, 7, 15),
        ),
        "depa",
    ),
    "SubcommitteeApproved": (
        SubcommitteeApproved(
            meeting=SUBCOMMITTEE_MEETING,
            resolution=LongWords(
                th="ที่ประชุมมีมติเห็นชอบให้ภูเก็ตเมืองอัจฉริยะได้รับตราสัญลักษณ์เมืองอัจฉริยะ",
                en="The subcommittee resolved to certify Phuket Smart City",
            ),
        ),
        "des-subcommittee",
    ),
    "MeetingRecorded": (
        MeetingRecorded(
            body="subcommittee",
            meeting=SUBCOMMITTEE_MEETING,
            decisions=[
                MeetingDecision(
                    proposal_id=PROPOSAL_ID,
                    decision="SubcommitteeApproved",
                    resolution=LongWords(
                        th="ที่ประชุมมีมติเห็นชอบ",
                        en="The subcommittee resolved to certify Phuket Smart City",
                    ),
                ),
            ],
        ),
        "des-subcommittee",
    ),
    "SubcommitteeRejected": (
        SubcommitteeRejected(
            meeting=SUBCOMMITTEE_MEETING,
            resolution=LongWords(
                th="ที่ประชุมมีมติไม่เห็นชอบ", en="The subcommittee resolved not to certify"
            ),
            reasons=BilingualText(
                th="แพลตฟอร์มข้อมูลเมืองยังไม่เปิดเผยข้อมูล",
                en="The city data platform does not yet publish open data",
            ),
        ),
        "des-subcommittee",
    ),
    "SteeringCommitteeAcknowledged": (
        SteeringCommitteeAcknowledged(
            meeting=STEERING_MEETING,
            resolution=LongWords(
                th="ที่ประชุมรับทราบผลการรับรองเมืองอัจฉริยะ 15 พื้นที่",
                en="The committee acknowledged the certification of 15 areas",
            ),
        ),
        "steering-committee",
    ),
    "CabinetEndorsed": (
        CabinetEndorsed(
            resolution_number="นร 0505/ว 123",
            resolution_date=dt.date(2022, 9, 20),
            resolution=LongWords(
                th="คณะรัฐมนตรีมีมติรับทราบการรับรองเมืองอัจฉริยะ",
                en="The Cabinet noted the smart city certifications",
            ),
        ),
        "cabinet-secretariat",
    ),
    "CabinetReturned": (
        CabinetReturned(
            resolution_number="นร 0505/ว 124",
            resolution_date=dt.date(2022, 9, 20),
            resolution=LongWords(th="คณะรัฐมนตรีส่งเรื่องคืน", en="The Cabinet returned the matter"),
            reasons=BilingualText(
                th="ให้ทบทวนแผนการลงทุน", en="The investment plan is to be reviewed"
            ),
        ),
        "cabinet-secretariat",
    ),
    "CertificationAwarded": (
        CertificationAwarded(
            certificate_number="SCT-2565-0016",
            area_name=AREA,
            province_code="83",
            subcommittee_meeting_id="1/2565",
            validity=ValidityPeriod(
                valid_from=dt.date(2022, 9, 30),
                deliver_by=dt.date(2024, 9, 30),
                renewal_min_progress_percent=50,
            ),
        ),
        "depa",
    ),
    "TransitionRefused": (
        TransitionRefused(
            refused_event_id="9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
            refused_event_type="CabinetEndorsed",
            producer="cabinet-secretariat",
            stage=Stage.SCREENED,
            reason=BilingualText(
                th="ปฏิเสธ CabinetEndorsed: ข้อเสนอ PKT-2565-0001 อยู่ในขั้นตอน screened "
                "คณะอนุกรรมการยังไม่ได้พิจารณา",
                en="CabinetEndorsed refused: proposal PKT-2565-0001 is at stage screened; "
                "the subcommittee has not decided on it yet",
            ),
        ),
        service_principal("approvals"),
    ),
    "DeliveryDeadlineReminder": (
        DeliveryDeadlineReminder(
            certificate_number="SCT-2565-0016",
            deliver_by=dt.date(2024, 9, 30),
            overdue=False,
            days_left=30,
        ),
        service_principal("approvals"),
    ),
    "NotificationSent": (
        NotificationSent(
            about_event_id="2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f",
            about_event_type="SubcommitteeApproved",
            recipient_id="lg-phuket-city",
            recipient_email="smartcity@phuketcity.example.go.th",
            message_id="<2c3d4e5f.lg-phuket-city@smartcity.example.go.th>",
            attempts=1,
        ),
        service_principal("notifications"),
    ),
    "NotificationFailed": (
        NotificationFailed(
            about_event_id="2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f",
            about_event_type="SubcommitteeApproved",
            recipient_id="lg-phuket-city",
            recipient_email="smartcity@phuketcity.example.go.th",
            message_id="<2c3d4e5f.lg-phuket-city@smartcity.example.go.th>",
            attempts=8,
            error="550 5.1.1 mailbox unavailable",
        ),
        service_principal("notifications"),
    ),
    "NotificationHeld": (
        NotificationHeld(
            about_event_id="2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f",
            about_event_type="SubcommitteeApproved",
            recipient_id="lg-phuket-city",
            recipient_email="smartcity@phuketcity.example.go.th",
            delivery_id="2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f:smartcity@phuketcity.example.go.th",
            problems=["text: a placeholder: 'TODO'"],
        ),
        service_principal("notifications"),
    ),
    "DeliveryReported": (
        DeliveryReported(
            certificate_number="SCT-2565-0016",
            period=dt.date(2024, 9, 30),
            progress_percent=65,
            summary=ReportSummary(
                th="ติดตั้งเซนเซอร์คุณภาพอากาศและน้ำท่วมครบ 40 จุด เปิดใช้แพลตฟอร์มข้อมูลเมืองแล้ว",
                en="All 40 air-quality and flood sensors installed; the city data platform is open",
            ),
            links=[
                Attachment(
                    title="รายงานผลการดำเนินงาน (delivery report)",
                    url="https://www.phuketcity.example.go.th/smartcity/report-2567.pdf",
                )
            ],
        ),
        APPLICANT,
    ),
    "DeliveryAcknowledged": (
        DeliveryAcknowledged(
            period=dt.date(2024, 9, 30),
            acknowledged_by="depa",
            remarks=BilingualText(th="รายงานครบถ้วน", en="The report is complete"),
        ),
        "depa",
    ),
    "DeliveryReturned": (
        DeliveryReturned(
            period=dt.date(2024, 9, 30),
            returned_by="depa",
            reasons=BilingualText(
                th="โปรดแนบหลักฐานการเปิดข้อมูลของแพลตฟอร์ม",
                en="Please attach evidence that the platform publishes open data",
            ),
        ),
        "depa",
    ),
    "CertificationRenewed": (
        CertificationRenewed(
            reasons=BilingualText(
                th="ความก้าวหน้าร้อยละ 65 ตามรายงานที่รับทราบแล้ว",
                en="65% progress in the acknowledged report",
            ),
            deliver_by=dt.date(2026, 9, 30),
        ),
        "depa",
    ),
    "CertificationLapsed": (
        CertificationLapsed(
            reasons=BilingualText(
                th="ไม่มีรายงานผลการดำเนินงานภายในกำหนด",
                en="No delivery report by the deadline",
            )
        ),
        "des-subcommittee",
    ),
}
"""Event type -> (an example payload, an agency that may produce it)."""


def example_envelope(event_type: str) -> AnyEnvelope:
    """The example event of `event_type` in its envelope, with stable ids and times."""
    payload, producer = PAYLOADS[event_type]
    index = list(PAYLOADS).index(event_type)
    return new_envelope(
        payload,
        producer=producer,
        proposal_id=PROPOSAL_ID,
        correlation_id=CORRELATION_ID,
        occurred_at=_T0 + dt.timedelta(days=7 * index),
        event_id=uuid.uuid5(_NAMESPACE, event_type),
    )


def example_dead_letter() -> DeadLetter:
    """A dead-letter record for a claim whose meeting date was not a date."""
    original = example_envelope("SubcommitteeApproved")
    value = original.to_bytes().replace(b'"2022-08-06"', b'"6 Aug 2022"')
    return DeadLetter(
        dead_letter_id=str(uuid.uuid5(_NAMESPACE, "dead-letter")),
        consumer="approvals",
        topic=topics.INTAKE,
        partition=3,
        offset=1042,
        key_b64=base64.b64encode(original.key).decode("ascii"),
        value_b64=base64.b64encode(value).decode("ascii"),
        headers=original.headers(),
        error_kind="validation",
        error="payload.meeting.held_on: Input should be a valid date or datetime, invalid "
        "character in year",
        event_type=original.event_type,
        event_id=str(original.event_id),
        attempts=1,
        dead_lettered_at=dt.datetime(2022, 8, 6, 9, 15, tzinfo=dt.UTC),
    )
