"""One specification per event type: everything the system knows about an event, in one place.

Each `EventSpec` says which service owns the event and on which topic its facts go, which agency
kinds may claim it, the transition it makes, its names in Thai and English, the letter it causes
(addressee, copies, template), who decided it (for the status page), its payload model and its
example in the one example story (`contracts.story`). Every table keyed by event type is
computed from `EVENTS` when its module is imported: the catalogue (here), the authorisation
`MATRIX`, the workflow's `TRANSITIONS` and `EVENT_NAMES`, the docs' examples (`contracts.
examples.PAYLOADS`), the notifications' `LETTERS`, `TEMPLATES` and `DECIDED_BY`, and the letters'
samples. Adding an event is writing one `EventSpec` below (and its payload model and letter
template). Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from smartcity_th.contracts import story, topics
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
    APPLICANT_KINDS,
    SERVICE_PRINCIPAL_PREFIX,
    AgencyKind,
    BilingualText,
    Contract,
    LongWords,
    Stage,
    Words,
    service_principal,
)
from smartcity_th.contracts.notifications import (
    NotificationFailed,
    NotificationHeld,
    NotificationSent,
)
from smartcity_th.contracts.process import (
    ACTIVE,
    APPLICANT,
    CABINET,
    DEPA,
    SMART_CITY_OFFICE,
    STEERING_COMMITTEE,
    SUBCOMMITTEE,
)
from smartcity_th.contracts.proposals import (
    Attachment,
    FieldError,
    IntakeRejected,
    ProposalContactsRecorded,
    ProposalResubmitted,
    ProposalSubmitted,
    ProposalWithdrawn,
)

K = AgencyKind
S = Stage


def is_fact_producer(producer: str) -> bool:
    """Whether a record's producer is one of the services: its events are facts. Any other
    producer is an agency, and what it sends is a claim for the event's owner to check."""
    return producer.startswith(SERVICE_PRINCIPAL_PREFIX)


class Party(StrEnum):
    """Who a letter goes to (services/notifications/letters.py names and finds each)."""

    APPLICANT = "applicant"
    GOVERNOR = "governor"
    DES = "des"
    STEERING = "steering"
    PRODUCER = "producer"


P = Party


@dataclass(frozen=True)
class LetterRule:
    """The letter one event causes: sent by `office`, addressed to `to`, copied to `cc`;
    `critical` letters (and their copies) are never held for a digest; `no_governor` says
    why the governor gets no copy of a letter about an area (empty: the governor does, or the
    letter is about no area)."""

    to: Party
    cc: tuple[Party, ...] = ()
    office: str = "depa"
    critical: bool = False
    no_governor: str = ""


RECEIPT = "an acknowledgement of what the applicant sent, not a decision about the area"
REMINDER = "a reminder to the applicant of its own deadline, not a decision"
ABOUT_A_CLAIM = "about a claim, not an area"


@dataclass(frozen=True)
class Transition:
    """Where the event takes a proposal: from any of `after` (empty: it opens the case) to
    `to`."""

    after: frozenset[Stage]
    to: Stage

    @property
    def opens(self) -> bool:
        return not self.after


@dataclass(frozen=True)
class Example:
    """The event in the example story: its payload, an agency that may produce it, and when."""

    payload: Contract
    producer: str
    occurred_at: dt.datetime


SERVICE_ONLY = frozenset({K.SYSTEM})
"""Emitted only by its owning service; no agency may claim it."""


@dataclass(frozen=True)
class EventSpec:
    """Everything about one event type (named after its payload model)."""

    payload: type[Contract]
    owner: str
    """The service that turns claims of this type into facts (or emits it itself)."""
    fact_topic: str
    """The topic its facts go to (unprefixed)."""
    name: BilingualText
    """What people call it, as a noun phrase (emails, status page, console, CLI)."""
    producers: frozenset[AgencyKind]
    """The agency kinds that may produce it (`SERVICE_ONLY`: only its owner emits it)."""
    example: Example
    owner_bound: bool = False
    """An applicant may produce it only for a proposal it owns."""
    transition: Transition | None = None
    letter: LetterRule | None = None
    """The letter it causes (None: nobody is written to)."""
    decided_by: BilingualText | None = None
    """Who decided it, as the status page says (None: the Smart City Office recorded it)."""

    @property
    def event_type(self) -> str:
        return self.payload.__name__

    @property
    def claimable(self) -> bool:
        """Whether an agency may claim it, for its owner to turn into a fact."""
        return any(kind is not K.SYSTEM for kind in self.producers)

    @property
    def template(self) -> str | None:
        """The letter's template in services/notifications/templates (None: no letter)."""
        return f"{self.event_type}.j2" if self.letter else None


def _reasons(th: str, en: str) -> BilingualText:
    return BilingualText(th=th, en=en)


_APPLICANT_LETTER = (P.GOVERNOR, P.DES)
_TO_COMMITTEES = (P.GOVERNOR, P.DES, P.STEERING)
_SUBCOMMITTEE_APPROVAL = LongWords(th="ที่ประชุมมีมติเห็นชอบ", en="The meeting approved.")
_ABOUT_EVENT_ID = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"

SPECS: tuple[EventSpec, ...] = (
    EventSpec(
        ProposalSubmitted,
        "proposals",
        topics.PROPOSALS,
        BilingualText(th="การยื่นข้อเสนอ", en="submission of the proposal"),
        APPLICANT_KINDS,
        Example(
            ProposalSubmitted(
                applicant=story.APPLICANT, content=story.CONTENT, contact_emails=story.CONTACTS
            ),
            story.APPLICANT,
            story.week(0),
        ),
        transition=Transition(frozenset(), S.SUBMITTED),
        letter=LetterRule(P.APPLICANT, no_governor=RECEIPT),
        decided_by=APPLICANT,
    ),
    EventSpec(
        ProposalResubmitted,
        "proposals",
        topics.PROPOSALS,
        BilingualText(th="การยื่นข้อเสนอฉบับแก้ไข", en="resubmission of the revised proposal"),
        APPLICANT_KINDS,
        Example(
            ProposalResubmitted(
                applicant=story.APPLICANT,
                revision=2,
                content=story.CONTENT,
                contact_emails=story.CONTACTS,
                changes=Words(th="เพิ่มแผนงบประมาณ", en="budget plan added"),
            ),
            story.APPLICANT,
            story.week(1),
        ),
        owner_bound=True,
        transition=Transition(frozenset({S.REVISION_REQUESTED}), S.SUBMITTED),
        letter=LetterRule(P.APPLICANT, no_governor=RECEIPT),
        decided_by=APPLICANT,
    ),
    EventSpec(
        ProposalWithdrawn,
        "proposals",
        topics.PROPOSALS,
        BilingualText(th="การถอนข้อเสนอ", en="withdrawal of the proposal"),
        APPLICANT_KINDS,
        Example(
            ProposalWithdrawn(
                applicant=story.APPLICANT,
                reason=Words(
                    th="รวมกับข้อเสนอของ อบจ.ภูเก็ต", en="Merged into the Phuket PAO's proposal"
                ),
            ),
            story.APPLICANT,
            story.week(2),
        ),
        owner_bound=True,
        transition=Transition(ACTIVE, S.WITHDRAWN),
        letter=LetterRule(P.APPLICANT, _APPLICANT_LETTER),
        decided_by=APPLICANT,
    ),
    EventSpec(
        IntakeRejected,
        "proposals",
        topics.PROPOSALS,
        BilingualText(th="การไม่รับคำขอ", en="refusal of a request"),
        SERVICE_ONLY,
        Example(
            IntakeRejected(
                refused_event_id="3d0e6c52-5f1a-4b8e-8f7d-0c9a2b1e4f60",
                refused_event_type="ProposalSubmitted",
                producer=story.APPLICANT,
                reason=_reasons("ข้อเสนอไม่ครบถ้วน", "The proposal is incomplete"),
                errors=[
                    FieldError(
                        field="content.province.code",
                        message=_reasons("ไม่พบจังหวัด", "unknown province"),
                    )
                ],
            ),
            service_principal("proposals"),
            story.week(4),
        ),
        letter=LetterRule(P.PRODUCER, critical=True, no_governor=ABOUT_A_CLAIM),
    ),
    EventSpec(
        ProposalContactsRecorded,
        "proposals",
        topics.CONTACTS,
        BilingualText(th="การบันทึกอีเมลผู้ประสานงาน", en="recording of the contact addresses"),
        SERVICE_ONLY,
        Example(
            ProposalContactsRecorded(
                applicant=story.APPLICANT, revision=1, contact_emails=story.CONTACTS
            ),
            service_principal("proposals"),
            story.week(3),
        ),
    ),
    EventSpec(
        ProposalScreened,
        "approvals",
        topics.DECISIONS,
        BilingualText(th="การกลั่นกรองของดีป้า", en="screening by depa"),
        frozenset({K.DEPA}),
        Example(
            ProposalScreened(screened_by="depa", notes=Words(th="ครบถ้วน", en="complete")),
            "depa",
            story.week(5),
        ),
        transition=Transition(frozenset({S.SUBMITTED}), S.SCREENED),
        letter=LetterRule(P.APPLICANT, _APPLICANT_LETTER),
        decided_by=DEPA,
    ),
    EventSpec(
        RevisionRequested,
        "approvals",
        topics.DECISIONS,
        BilingualText(th="การขอให้แก้ไขข้อเสนอ", en="request to revise the proposal"),
        frozenset({K.DEPA, K.DES_SUBCOMMITTEE}),
        Example(
            RevisionRequested(
                requested_by="depa",
                reasons=_reasons(
                    "โปรดระบุแผนงบประมาณรายปีและผู้รับผิดชอบแพลตฟอร์มข้อมูลเมือง",
                    "Please give a yearly budget and who operates the city data platform",
                ),
                respond_by=dt.date(2022, 9, 30),
            ),
            "depa",
            story.week(6),
        ),
        transition=Transition(
            frozenset({S.SUBMITTED, S.SCREENED, S.CABINET_RETURNED}), S.REVISION_REQUESTED
        ),
        letter=LetterRule(P.APPLICANT, (P.GOVERNOR,)),
        decided_by=DEPA,
    ),
    EventSpec(
        SubcommitteeApproved,
        "approvals",
        topics.DECISIONS,
        BilingualText(th="มติเห็นชอบของคณะอนุกรรมการฯ", en="approval by the subcommittee"),
        frozenset({K.DES_SUBCOMMITTEE}),
        Example(
            SubcommitteeApproved(
                meeting=story.SUBCOMMITTEE_MEETING, resolution=_SUBCOMMITTEE_APPROVAL
            ),
            "des-subcommittee",
            story.week(7),
        ),
        transition=Transition(frozenset({S.SCREENED, S.CABINET_RETURNED}), S.SUBCOMMITTEE_APPROVED),
        letter=LetterRule(P.APPLICANT, _APPLICANT_LETTER),
        decided_by=SUBCOMMITTEE,
    ),
    EventSpec(
        SubcommitteeRejected,
        "approvals",
        topics.DECISIONS,
        BilingualText(th="มติไม่เห็นชอบของคณะอนุกรรมการฯ", en="rejection by the subcommittee"),
        frozenset({K.DES_SUBCOMMITTEE}),
        Example(
            SubcommitteeRejected(
                meeting=story.SUBCOMMITTEE_MEETING,
                resolution=LongWords(th="ที่ประชุมมีมติไม่เห็นชอบ", en="Not approved."),
                reasons=_reasons(
                    "แพลตฟอร์มข้อมูลเมืองยังไม่เปิดเผยข้อมูล",
                    "The city data platform does not yet publish open data",
                ),
            ),
            "des-subcommittee",
            story.week(9),
        ),
        transition=Transition(frozenset({S.SCREENED, S.CABINET_RETURNED}), S.REJECTED),
        letter=LetterRule(P.APPLICANT, _APPLICANT_LETTER),
        decided_by=SUBCOMMITTEE,
    ),
    EventSpec(
        SteeringCommitteeAcknowledged,
        "approvals",
        topics.DECISIONS,
        BilingualText(th="การรับทราบของคณะกรรมการฯ", en="acknowledgement by the steering committee"),
        frozenset({K.STEERING_COMMITTEE}),
        Example(
            SteeringCommitteeAcknowledged(
                meeting=story.STEERING_MEETING,
                resolution=LongWords(th="ที่ประชุมรับทราบ", en="Acknowledged."),
            ),
            "steering-committee",
            story.week(10),
        ),
        transition=Transition(frozenset({S.SUBCOMMITTEE_APPROVED}), S.STEERING_ACKNOWLEDGED),
        letter=LetterRule(P.APPLICANT, _TO_COMMITTEES),
        decided_by=STEERING_COMMITTEE,
    ),
    EventSpec(
        CabinetEndorsed,
        "approvals",
        topics.DECISIONS,
        BilingualText(th="มติเห็นชอบของคณะรัฐมนตรี", en="endorsement by the Cabinet"),
        frozenset({K.CABINET}),
        Example(
            CabinetEndorsed(
                resolution_number="นร 0505/ว 123",
                resolution_date=dt.date(2022, 12, 20),
                resolution=LongWords(
                    th="คณะรัฐมนตรีเห็นชอบ", en="The Cabinet endorsed the certification."
                ),
            ),
            "cabinet-secretariat",
            story.week(11),
        ),
        transition=Transition(frozenset({S.STEERING_ACKNOWLEDGED}), S.CABINET_ENDORSED),
        letter=LetterRule(P.APPLICANT, _TO_COMMITTEES, critical=True),
        decided_by=CABINET,
    ),
    EventSpec(
        CabinetReturned,
        "approvals",
        topics.DECISIONS,
        BilingualText(th="การส่งเรื่องคืนของคณะรัฐมนตรี", en="return of the matter by the Cabinet"),
        frozenset({K.CABINET}),
        Example(
            CabinetReturned(
                resolution_number="นร 0505/ว 124",
                resolution_date=dt.date(2022, 12, 20),
                resolution=LongWords(th="ให้ส่งเรื่องคืนเพื่อทบทวน", en="Returned for rework."),
                reasons=_reasons("ให้ทบทวนแผนการลงทุน", "The investment plan is to be reviewed"),
            ),
            "cabinet-secretariat",
            story.week(12),
        ),
        transition=Transition(frozenset({S.STEERING_ACKNOWLEDGED}), S.CABINET_RETURNED),
        letter=LetterRule(P.APPLICANT, _TO_COMMITTEES, critical=True),
        decided_by=CABINET,
    ),
    EventSpec(
        CertificationAwarded,
        "approvals",
        topics.DECISIONS,
        BilingualText(
            th="การประกาศเป็นพื้นที่เมืองอัจฉริยะและมอบตราสัญลักษณ์",
            en="announcement as a smart-city area and award of the logo",
        ),
        frozenset({K.DEPA, K.DES_SUBCOMMITTEE}),
        Example(
            CertificationAwarded(
                certificate_number=story.CERTIFICATE_NUMBER,
                area_name=story.AREA,
                province_code=story.PHUKET.code,
                subcommittee_meeting_id=story.SUBCOMMITTEE_MEETING.meeting_id,
                validity=ValidityPeriod(
                    valid_from=story.VALID_FROM,
                    deliver_by=story.DELIVER_BY,
                    renewal_min_progress_percent=50,
                ),
            ),
            "depa",
            story.week(13),
        ),
        transition=Transition(frozenset({S.CABINET_ENDORSED}), S.CERTIFIED),
        letter=LetterRule(P.APPLICANT, _APPLICANT_LETTER),
        decided_by=SMART_CITY_OFFICE,
    ),
    EventSpec(
        TransitionRefused,
        "approvals",
        topics.DECISIONS,
        BilingualText(th="การไม่รับบันทึกมติ", en="refusal of a decision"),
        SERVICE_ONLY,
        Example(
            TransitionRefused(
                refused_event_id="9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
                refused_event_type="CabinetEndorsed",
                producer="cabinet-secretariat",
                stage=S.SCREENED,
                reason=_reasons(
                    "ปฏิเสธ CabinetEndorsed: ข้อเสนอ PKT-2565-0001 อยู่ในขั้นตอน screened "
                    "คณะอนุกรรมการยังไม่ได้พิจารณา",
                    "CabinetEndorsed refused: proposal PKT-2565-0001 is at stage screened; "
                    "the subcommittee has not decided on it yet",
                ),
            ),
            service_principal("approvals"),
            story.week(14),
        ),
        letter=LetterRule(P.PRODUCER, critical=True, no_governor=ABOUT_A_CLAIM),
    ),
    EventSpec(
        DeliveryDeadlineReminder,
        "approvals",
        topics.DECISIONS,
        BilingualText(th="การแจ้งกำหนดแสดงผลการดำเนินงาน", en="delivery deadline reminder"),
        SERVICE_ONLY,
        Example(
            DeliveryDeadlineReminder(
                certificate_number=story.CERTIFICATE_NUMBER,
                deliver_by=story.DELIVER_BY,
                overdue=False,
                days_left=30,
            ),
            service_principal("approvals"),
            story.week(15),
        ),
        letter=LetterRule(P.APPLICANT, no_governor=REMINDER),
    ),
    EventSpec(
        MeetingRecorded,
        "approvals",
        topics.DECISIONS,
        BilingualText(th="การบันทึกมติการประชุม", en="record of a meeting"),
        frozenset({K.DES_SUBCOMMITTEE, K.STEERING_COMMITTEE, K.CABINET}),
        Example(
            MeetingRecorded(
                body="subcommittee",
                meeting=story.SUBCOMMITTEE_MEETING,
                decisions=[
                    MeetingDecision(
                        proposal_id=story.PROPOSAL_ID,
                        decision="SubcommitteeApproved",
                        resolution=_SUBCOMMITTEE_APPROVAL,
                    ),
                ],
            ),
            "des-subcommittee",
            story.week(8),
        ),
    ),
    EventSpec(
        DeliveryReported,
        "approvals",
        topics.DECISIONS,
        BilingualText(th="การรายงานผลการดำเนินงาน", en="delivery report"),
        APPLICANT_KINDS,
        Example(
            DeliveryReported(
                certificate_number=story.CERTIFICATE_NUMBER,
                period=story.REPORTED_PERIOD,
                progress_percent=65,
                summary=ReportSummary(th="ติดตั้งเซนเซอร์ครบ 40 จุด", en="All 40 sensors installed"),
                links=[
                    Attachment(
                        title="รายงานผล / delivery report",
                        url="https://www.phuketcity.example.go.th/report.pdf",
                    )
                ],
            ),
            story.APPLICANT,
            story.week(19),
        ),
        owner_bound=True,
        transition=Transition(frozenset({S.CERTIFIED}), S.CERTIFIED),
        letter=LetterRule(P.APPLICANT, no_governor=RECEIPT),
    ),
    EventSpec(
        DeliveryAcknowledged,
        "approvals",
        topics.DECISIONS,
        BilingualText(
            th="การรับทราบรายงานผลการดำเนินงาน", en="acknowledgement of the delivery report"
        ),
        frozenset({K.DEPA}),
        Example(
            DeliveryAcknowledged(
                period=story.REPORTED_PERIOD,
                acknowledged_by="depa",
                remarks=_reasons("รายงานครบถ้วน", "The report is complete"),
            ),
            "depa",
            story.week(20),
        ),
        transition=Transition(frozenset({S.CERTIFIED}), S.CERTIFIED),
        letter=LetterRule(P.APPLICANT, (P.GOVERNOR,)),
    ),
    EventSpec(
        DeliveryReturned,
        "approvals",
        topics.DECISIONS,
        BilingualText(th="การส่งคืนรายงานผลการดำเนินงาน", en="return of the delivery report"),
        frozenset({K.DEPA}),
        Example(
            DeliveryReturned(
                period=story.REPORTED_PERIOD,
                returned_by="depa",
                reasons=_reasons(
                    "โปรดแนบหลักฐานการเปิดข้อมูลของแพลตฟอร์ม",
                    "Please attach evidence that the platform publishes open data",
                ),
            ),
            "depa",
            story.week(21),
        ),
        transition=Transition(frozenset({S.CERTIFIED}), S.CERTIFIED),
        letter=LetterRule(P.APPLICANT, (P.GOVERNOR,)),
    ),
    EventSpec(
        CertificationRenewed,
        "approvals",
        topics.DECISIONS,
        BilingualText(th="การต่ออายุการประกาศเป็นพื้นที่เมืองอัจฉริยะ", en="renewal of the certification"),
        frozenset({K.DEPA, K.DES_SUBCOMMITTEE}),
        Example(
            CertificationRenewed(
                reasons=_reasons("ความก้าวหน้าร้อยละ 65", "65% progress"),
                deliver_by=dt.date(2026, 10, 10),
            ),
            "depa",
            story.week(22),
        ),
        transition=Transition(frozenset({S.CERTIFIED}), S.CERTIFIED),
        letter=LetterRule(P.APPLICANT, _APPLICANT_LETTER),
    ),
    EventSpec(
        CertificationLapsed,
        "approvals",
        topics.DECISIONS,
        BilingualText(th="การสิ้นสภาพการประกาศเป็นพื้นที่เมืองอัจฉริยะ", en="lapse of the certification"),
        frozenset({K.DEPA, K.DES_SUBCOMMITTEE}),
        Example(
            CertificationLapsed(
                reasons=_reasons(
                    "ไม่มีรายงานผลการดำเนินงานภายในกำหนด", "No delivery report by the deadline"
                )
            ),
            "des-subcommittee",
            story.week(23),
        ),
        transition=Transition(frozenset({S.CERTIFIED}), S.CERTIFIED),
        letter=LetterRule(P.APPLICANT, _APPLICANT_LETTER),
    ),
    EventSpec(
        NotificationSent,
        "notifications",
        topics.NOTIFICATIONS,
        BilingualText(th="การส่งอีเมลแจ้ง", en="email delivered"),
        SERVICE_ONLY,
        Example(
            NotificationSent(
                about_event_id=_ABOUT_EVENT_ID,
                about_event_type="SubcommitteeApproved",
                recipient_id=story.APPLICANT,
                recipient_email=story.CONTACT,
                message_id="<2c3d4e5f.lg-phuket-city@smartcity.example.go.th>",
                attempts=1,
            ),
            service_principal("notifications"),
            story.week(16),
        ),
    ),
    EventSpec(
        NotificationFailed,
        "notifications",
        topics.NOTIFICATIONS,
        BilingualText(th="การส่งอีเมลไม่สำเร็จ", en="email not delivered"),
        SERVICE_ONLY,
        Example(
            NotificationFailed(
                about_event_id=_ABOUT_EVENT_ID,
                about_event_type="SubcommitteeApproved",
                recipient_id=story.APPLICANT,
                recipient_email=story.CONTACT,
                message_id="<2c3d4e5f.lg-phuket-city@smartcity.example.go.th>",
                attempts=8,
                error="550 5.1.1 mailbox unavailable",
            ),
            service_principal("notifications"),
            story.week(17),
        ),
    ),
    EventSpec(
        NotificationHeld,
        "notifications",
        topics.NOTIFICATIONS,
        BilingualText(th="หนังสือถูกระงับไว้เพื่อตรวจทาน", en="letter held for review"),
        SERVICE_ONLY,
        Example(
            NotificationHeld(
                about_event_id=_ABOUT_EVENT_ID,
                about_event_type="SubcommitteeApproved",
                recipient_id=story.APPLICANT,
                recipient_email=story.CONTACT,
                delivery_id=f"{_ABOUT_EVENT_ID}:{story.CONTACT}",
                problems=["text: a placeholder: 'TODO'"],
            ),
            service_principal("notifications"),
            story.week(18),
        ),
    ),
)
"""Every event of the workflow, in the order the docs list them."""

EVENTS: dict[str, EventSpec] = {spec.event_type: spec for spec in SPECS}


def owned_by(owner: str) -> frozenset[str]:
    """The event types `owner` emits as facts (claims of them go to it to be checked)."""
    return frozenset(name for name, spec in EVENTS.items() if spec.owner == owner)


def facts_on(topic: str) -> tuple[str, ...]:
    """The event types whose facts `topic` carries (unprefixed topic name)."""
    return tuple(name for name, spec in EVENTS.items() if spec.fact_topic == topic)


def claims_for(owner: str) -> tuple[str, ...]:
    """The event types agencies claim on the intake topic for `owner` to check and turn into
    facts; the intake topic carries every owner's claims."""
    return tuple(name for name, spec in EVENTS.items() if spec.owner == owner and spec.claimable)


def carried_on(topic: str) -> tuple[str, ...]:
    """The event types a workflow topic carries (unprefixed topic name): every owner's claims on
    the intake topic, the owners' facts on a fact topic; none on the dead-letter topic, whose
    records are dead letters."""
    if topic == topics.INTAKE:
        return tuple(name for name, spec in EVENTS.items() if spec.claimable)
    return facts_on(topic)
