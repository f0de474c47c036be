"""Email content: Jinja2 templates per event, Thai first with English below, as plain text and
HTML. Buddhist-era dates in Thai, Gregorian in English. Auto-escaping on for HTML."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from contracts.common import Stage
from contracts.envelope import AnyEnvelope

THAI_MONTHS = (
    "มกราคม",
    "กุมภาพันธ์",
    "มีนาคม",
    "เมษายน",
    "พฤษภาคม",
    "มิถุนายน",
    "กรกฎาคม",
    "สิงหาคม",
    "กันยายน",
    "ตุลาคม",
    "พฤศจิกายน",
    "ธันวาคม",
)

STAGE_LABELS: dict[Stage, tuple[str, str]] = {
    Stage.SUBMITTED: ("ยื่นข้อเสนอแล้ว", "Submitted"),
    Stage.REVISION_REQUESTED: ("รอการแก้ไขข้อเสนอ", "Revision requested"),
    Stage.SCREENED: ("ผ่านการกลั่นกรองโดยดีป้า", "Screened by depa"),
    Stage.SUBCOMMITTEE_APPROVED: ("คณะอนุกรรมการเห็นชอบ", "Approved by the subcommittee"),
    Stage.STEERING_ACKNOWLEDGED: (
        "คณะกรรมการขับเคลื่อนฯ รับทราบ",
        "Acknowledged by the steering committee",
    ),
    Stage.CABINET_ENDORSED: ("คณะรัฐมนตรีเห็นชอบ", "Endorsed by the Cabinet"),
    Stage.CERTIFIED: ("ได้รับการรับรองเป็นเมืองอัจฉริยะ", "Certified smart city"),
    Stage.REJECTED: ("ไม่ผ่านการพิจารณา", "Rejected"),
    Stage.WITHDRAWN: ("ถอนข้อเสนอแล้ว", "Withdrawn"),
}


EVENT_LABELS: dict[str, tuple[str, str]] = {
    "ProposalSubmitted": ("การยื่นข้อเสนอ", "proposal submission"),
    "ProposalResubmitted": ("การยื่นข้อเสนอฉบับแก้ไข", "resubmission"),
    "ProposalWithdrawn": ("การถอนข้อเสนอ", "withdrawal"),
    "ProposalScreened": ("ผลการกลั่นกรอง", "screening"),
    "MeetingRecorded": ("การบันทึกมติการประชุม", "meeting record"),
    "RevisionRequested": ("การขอให้แก้ไขข้อเสนอ", "revision request"),
    "SubcommitteeApproved": ("มติเห็นชอบของคณะอนุกรรมการ", "subcommittee approval"),
    "SubcommitteeRejected": ("มติไม่เห็นชอบของคณะอนุกรรมการ", "subcommittee rejection"),
    "SteeringCommitteeAcknowledged": (
        "การรับทราบของคณะกรรมการขับเคลื่อนฯ",
        "steering committee acknowledgement",
    ),
    "CabinetEndorsed": ("มติเห็นชอบของคณะรัฐมนตรี", "Cabinet endorsement"),
    "CabinetReturned": ("มติส่งเรื่องคืนของคณะรัฐมนตรี", "Cabinet return"),
    "CertificationAwarded": ("การมอบใบรับรอง", "certification award"),
    "DeliveryReported": ("การรายงานผลการดำเนินงาน", "delivery report"),
    "DeliveryAcknowledged": ("การรับทราบรายงานผลการดำเนินงาน", "delivery report acknowledgement"),
    "DeliveryReturned": ("การส่งคืนรายงานผลการดำเนินงาน", "delivery report return"),
    "CertificationRenewed": ("การต่ออายุใบรับรอง", "certification renewal"),
    "CertificationLapsed": ("การบันทึกใบรับรองสิ้นสภาพ", "certification lapse"),
}
"""What a claim of each type is called in a sentence (refusal emails name the refused claim)."""


def event_th(event_type: str) -> str:
    return EVENT_LABELS.get(event_type, (event_type, event_type))[0]


def event_en(event_type: str) -> str:
    return EVENT_LABELS.get(event_type, (event_type, event_type))[1]


def thai_date(value: dt.date | dt.datetime) -> str:
    """6 สิงหาคม 2565: day, Thai month, Buddhist-era year (in Thailand's time zone)."""
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.timezone(dt.timedelta(hours=7))).date()
    return f"{value.day} {THAI_MONTHS[value.month - 1]} {value.year + 543}"


def english_date(value: dt.date | dt.datetime) -> str:
    """6 August 2022."""
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.timezone(dt.timedelta(hours=7))).date()
    return f"{value.day} {value.strftime('%B')} {value.year}"


def stage_th(stage: str | None) -> str:
    return STAGE_LABELS[Stage(stage)][0] if stage else "-"


def stage_en(stage: str | None) -> str:
    return STAGE_LABELS[Stage(stage)][1] if stage else "-"


@cache
def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=PackageLoader("services.notifications", "templates"),
        autoescape=select_autoescape(["html.j2"]) if autoescape else False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        thai_date=thai_date,
        english_date=english_date,
        stage_th=stage_th,
        stage_en=stage_en,
        event_th=event_th,
        event_en=event_en,
    )
    return env


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def email_context(
    envelope: AnyEnvelope, proposal: dict[str, Any], recipient: Any, console_url: str
) -> dict[str, Any]:
    """What a template sees besides the event: the proposal as the service knows it, the
    recipient, the proposal's current stage and the link to its timeline."""
    return {
        "proposal": {**proposal, "proposal_id": envelope.proposal_id},
        "recipient": recipient,
        "stage": proposal.get("stage"),
        "timeline_url": f"{console_url.rstrip('/')}/proposals/{envelope.proposal_id}",
    }


def has_template(event_type: str) -> bool:
    return f"{event_type}.txt.j2" in _environment(False).list_templates()


def one_line(value: str) -> str:
    """Header-safe: every run of whitespace (CR and LF included) becomes one space."""
    return " ".join(value.split())


def render(envelope: AnyEnvelope, context: dict[str, Any]) -> RenderedEmail:
    """Render the email about one event; `context` carries the proposal, recipient and links."""
    values = {"event": envelope, "payload": envelope.payload, **context}
    text_template = _environment(False).get_template(f"{envelope.event_type}.txt.j2")
    html_template = _environment(True).get_template(f"{envelope.event_type}.html.j2")
    subject_block = text_template.blocks["subject"]
    subject = "".join(subject_block(text_template.new_context(values))).strip()
    subject = one_line(subject)
    return RenderedEmail(
        subject=subject,
        text=_paragraphs(text_template.render(values)),
        html=html_template.render({**values, "subject_line": subject}),
    )


def _paragraphs(text: str) -> str:
    """At most one blank line between paragraphs, whichever optional parts were left out."""
    return re.sub(r"\n{3,}", "\n\n", text)


def render_digest(
    recipient: Any, items: list[dict[str, Any]], as_of: dt.datetime, console_url: str
) -> RenderedEmail:
    """One summary email of several queued emails (`items`: event_type, subject, proposal_id,
    occurred_at, timeline_url), oldest first."""
    values = {
        "recipient": recipient,
        "items": items,
        "as_of": as_of,
        "console_url": console_url,
        "count": len(items),
    }
    text_template = _environment(False).get_template("Digest.txt.j2")
    html_template = _environment(True).get_template("Digest.html.j2")
    subject = one_line("".join(text_template.blocks["subject"](text_template.new_context(values))))
    return RenderedEmail(
        subject=subject,
        text=text_template.render(values),
        html=html_template.render({**values, "subject_line": subject}),
    )
