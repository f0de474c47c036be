"""Email content: one letter template per event (`<EventType>.j2`, named by the event's
specification), Thai first with English below, rendered twice: on the text layout
(base.txt.j2) and on the HTML layout (base.html.j2, auto-escaped). Every email is an official
letter (docs/notifications.md). Buddhist-era dates in Thai, Gregorian in English. Names of
stages, events and bodies come from contracts.workflow."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup

from smartcity_th.contracts.agencies import agencies, office_holder, province_th
from smartcity_th.contracts.approvals import DELIVERY_YEARS
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.common import (
    BilingualText,
    Stage,
    _Words,
    marked,
    split_bilingual,
)
from smartcity_th.contracts.envelope import AnyEnvelope
from smartcity_th.contracts.proposals import field_name
from smartcity_th.contracts.workflow import (
    CABINET,
    DEPA,
    LOGO,
    NEXT_STEP,
    SMART_CITY_OFFICE,
    STEERING_COMMITTEE,
    SUBCOMMITTEE,
    event_name,
    stage_name,
)
from smartcity_th.services.common.thai_dates import english_date, thai_date
from smartcity_th.services.notifications.metrics import RENDER_CPU
from smartcity_th.services.notifications.office import Office

SUBJECT_PREFIX = "[เมืองอัจฉริยะ]"


def stage_th(stage: str | None) -> str:
    return stage_name(stage).th


def stage_en(stage: str | None) -> str:
    return stage_name(stage).en


def next_th(stage: str | None) -> str:
    return NEXT_STEP[Stage(stage)].th if stage else "-"


def next_en(stage: str | None) -> str:
    return NEXT_STEP[Stage(stage)].en if stage else "-"


def event_th(event_type: str) -> str:
    return event_name(event_type).th


def event_en(event_type: str) -> str:
    return event_name(event_type).en


def field_th(path: str) -> str:
    return field_name(path).th


def field_en(path: str) -> str:
    return field_name(path).en


REQUESTERS: dict[str, BilingualText] = {"depa": DEPA, "des-subcommittee": SUBCOMMITTEE}


def agency_th(agency_id: str) -> str:
    """Who asked, by name: a body of the workflow, or the agency's name in the directory."""
    if agency_id in REQUESTERS:
        return REQUESTERS[agency_id].th
    found = agencies().get(agency_id)
    return found.name_th if found else SMART_CITY_OFFICE.th


def agency_en(agency_id: str) -> str:
    if agency_id in REQUESTERS:
        return REQUESTERS[agency_id].en
    found = agencies().get(agency_id)
    return found.name_en if found else f"the {SMART_CITY_OFFICE.en}"


def _languages(value: _Words | str) -> tuple[str | None, str | None]:
    if isinstance(value, _Words):
        return value.th, value.en
    return split_bilingual(value)


def text_th(value: _Words | str) -> str:
    """The Thai of a free text (`Words`, or a title written once in both languages, "ไทย /
    English"), or a note that it was recorded in English only: a Thai letter never quotes
    English."""
    th, _en = _languages(value)
    return th if th is not None else "(บันทึกไว้เป็นภาษาอังกฤษเท่านั้น โปรดดูฉบับภาษาอังกฤษด้านล่าง)"


def text_en(value: _Words | str) -> str:
    """The English of such a text, or a note that it was recorded in Thai only."""
    _th, en = _languages(value)
    return en if en is not None else "(recorded in Thai only: see the Thai letter above)"


_NESTED_QUOTES = str.maketrans({'"': "'", "\u201c": "\u2018", "\u201d": "\u2019"})


def _quoted(ctx: EvalContext, text: str) -> str:
    """Quoted text in double quotation marks; quotation marks inside it become single ones, as
    a quotation within a quotation is written (a minuted resolution often quotes an area's
    name). In the HTML part the marks are the page's own and the text is escaped."""
    inner = text.translate(_NESTED_QUOTES)
    return Markup('"%s"') % inner if ctx.autoescape else f'"{inner}"'


@pass_eval_context
def quoted_th(ctx: EvalContext, value: _Words | str) -> str:
    """The Thai of a text quoted in a Thai letter (a minuted resolution), or the note that it was
    recorded in English only, which is not a quotation."""
    th, _en = _languages(value)
    return _quoted(ctx, th) if th is not None else text_th(value)


@pass_eval_context
def quoted_en(ctx: EvalContext, value: _Words | str) -> str:
    """The English of such a text, quoted, or the note that it was recorded in Thai only."""
    _th, en = _languages(value)
    return _quoted(ctx, en) if en is not None else text_en(value)


def _area(ctx: EvalContext, name: str, province: str | None) -> str:
    """An area's name in quotation marks, then its province unless the name already says it
    (an area called "... ของพื้นที่ในจังหวัดพิษณุโลก" is not followed by "จังหวัดพิษณุโลก" again;
    "ภูเก็ตเมืองอัจฉริยะ" names a city, not the province, and is)."""
    if province:
        return Markup('"%s" %s') % (name, province) if ctx.autoescape else f'"{name}" {province}'
    return Markup('"%s"') % name if ctx.autoescape else f'"{name}"'


@pass_eval_context
def area_th(ctx: EvalContext, proposal: Mapping[str, Any]) -> str:
    """The proposal's area as a Thai sentence names it: "ชื่อพื้นที่" จังหวัด..."""
    name = str(proposal["area_name"]["th"])
    province = province_th(str(proposal["province"]["name_th"]))
    return _area(ctx, name, None if province in name else province)


@pass_eval_context
def area_en(ctx: EvalContext, proposal: Mapping[str, Any]) -> str:
    """The proposal's area in English: "Area name" (Province)."""
    name = str(proposal["area_name"]["en"])
    province = str(proposal["province"]["name_en"])
    named = f"{province} province".lower() in name.lower()
    return _area(ctx, name, None if named else f"({province})")


def times_revised(revision: int) -> int:
    """Which revision a version is: version 2 (the first resubmission) is revision 1."""
    return revision - 1


def capfirst(value: str) -> str:
    return value[:1].upper() + value[1:]


def paragraphs(value: str) -> Markup:
    """HTML of a letter body: blank-line separated paragraphs become <p>, other line breaks
    <br>. `value` is the block as rendered with autoescaping (already escaped)."""
    parts = [p.strip() for p in re.split(r"\n\s*\n", str(value)) if p.strip()]
    return Markup("\n".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in parts))


@dataclass(frozen=True)
class Sender:
    """The sending office a letter is signed by."""

    office: BilingualText
    organisation: BilingualText


SENDER = Sender(
    office=SMART_CITY_OFFICE,
    organisation=BilingualText(
        th="สำนักงานส่งเสริมเศรษฐกิจดิจิทัล", en="Digital Economy Promotion Agency (depa)"
    ),
)
BODIES = {
    "subcommittee": SUBCOMMITTEE,
    "steering": STEERING_COMMITTEE,
    "cabinet": CABINET,
    "depa": DEPA,
    "logo": LOGO,
}


LAYOUTS = {False: "base.txt.j2", True: "base.html.j2"}


@cache
def _environment(html: bool) -> Environment:
    env = Environment(
        loader=PackageLoader("smartcity_th.services.notifications", "templates"),
        autoescape=html,
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
        next_th=next_th,
        next_en=next_en,
        event_th=event_th,
        event_en=event_en,
        field_th=field_th,
        field_en=field_en,
        agency_th=agency_th,
        agency_en=agency_en,
        province_th=province_th,
        times_revised=times_revised,
        text_th=text_th,
        text_en=text_en,
        quoted_th=quoted_th,
        area_th=area_th,
        area_en=area_en,
        quoted_en=quoted_en,
        mark_th=lambda v: marked(str(v), "th"),
        mark_en=lambda v: marked(str(v), "en"),
        capfirst=capfirst,
        paragraphs=paragraphs,
    )
    env.globals.update(sender=SENDER, bodies=BODIES, delivery_years=DELIVERY_YEARS)
    return env


@dataclass(frozen=True)
class LetterHead:
    """What makes an email an external letter besides its text: its number in the sending
    office's register, the office, its date (the day it was issued, `domain.issue_date`),
    what it refers to (อ้างถึง), its enclosures and the addressees of its copies (สำเนาส่ง)."""

    office: Office
    number: int
    date: dt.date
    reference: BilingualText | None = None
    enclosures: tuple[BilingualText, ...] = ()
    copies: tuple[BilingualText, ...] = ()

    @property
    def number_th(self) -> str:
        return f"{self.office.register_prefix}/{self.number}"

    @property
    def number_en(self) -> str:
        return f"{self.office.register_prefix_en}/{self.number}"


def thai_day(value: dt.datetime) -> dt.date:
    """The calendar day of a moment in Thailand."""
    return value.astimezone(dt.timezone(dt.timedelta(hours=7))).date()


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def addressee(recipient: Any) -> BilingualText:
    """Whom the letter is addressed to: the office-holder of the recipient organisation."""
    return office_holder(recipient.name_th, recipient.name_en)


def email_context(
    envelope: AnyEnvelope,
    proposal: dict[str, Any],
    recipient: Any,
    status_url: str,
    head: LetterHead,
    stage: str | None = None,
    *,
    effective_on: dt.date,
) -> dict[str, Any]:
    """What a template sees besides the event: the proposal as the service knows it, the
    recipient and whom to address, the stage the event led to (else the proposal's), the
    letter's head (number, office, date, reference, copies), the day the step took effect
    (`effective_on`, which the body states) and the link to the proposal's public status page
    (`status_url`, signed by the caller)."""
    return {
        "proposal": {**proposal, "proposal_id": envelope.proposal_id},
        "recipient": recipient,
        "addressee": addressee(recipient),
        "stage": stage or proposal.get("stage"),
        "head": head,
        "effective_on": effective_on,
        "timeline_url": status_url,
        "status_url": status_url,
    }


TEMPLATES: dict[str, str] = {
    name: spec.template for name, spec in EVENTS.items() if spec.template is not None
}
"""Event type -> its letter's template, from the event specifications."""


def has_template(event_type: str) -> bool:
    return TEMPLATES.get(event_type) in _environment(False).list_templates()


def one_line(value: str) -> str:
    """Header-safe: every run of whitespace (CR and LF included) becomes one space."""
    return " ".join(value.split())


def _block(template: Template, name: str, values: dict[str, Any]) -> str:
    block = template.blocks.get(name)
    if block is None:
        raise LookupError(f"letter template {template.name} has no {name} block (เรื่อง)")
    return one_line("".join(block(template.new_context(values))))


def _render(name: str, values: dict[str, Any]) -> RenderedEmail:
    started = time.thread_time()
    text_template = _environment(False).get_template(name)
    matter_th = _block(text_template, "matter_th", {**values, "layout": LAYOUTS[False]})
    matter_en = _block(text_template, "matter_en", {**values, "layout": LAYOUTS[False]})
    subject = f"{SUBJECT_PREFIX} {matter_th} | {matter_en}"
    text = _paragraphs(text_template.render({**values, "layout": LAYOUTS[False]}))
    texted = time.thread_time()
    html_template = _environment(True).get_template(name)
    html = html_template.render({**values, "layout": LAYOUTS[True], "subject_line": subject})
    RENDER_CPU.labels("text").observe(texted - started)
    RENDER_CPU.labels("html").observe(time.thread_time() - texted)
    return RenderedEmail(subject=subject, text=text, html=html)


def render(envelope: AnyEnvelope, context: dict[str, Any]) -> RenderedEmail:
    """Render the letter about one event; `context` carries the proposal, recipient and links."""
    return _render(
        TEMPLATES[envelope.event_type], {"event": envelope, "payload": envelope.payload, **context}
    )


def _paragraphs(text: str) -> str:
    """At most one blank line between paragraphs, whichever optional parts were left out."""
    return re.sub(r"\n{3,}", "\n\n", text)


def split_subject(subject: str) -> tuple[str, str]:
    """The Thai and English matter of a subject this module made."""
    th, _, en = subject.removeprefix(SUBJECT_PREFIX).strip().partition(" | ")
    return th, en or th


def render_digest(
    recipient: Any, items: list[dict[str, Any]], as_of: dt.datetime, head: LetterHead
) -> RenderedEmail:
    """One covering letter of the copies held for a recipient (`items`: event_type, subject,
    proposal_id, occurred_at, letter_number, letter_date, timeline_url (the status link)),
    oldest first."""
    listed = []
    for item in items:
        th, en = split_subject(str(item.get("subject", "")))
        listed.append({**item, "subject_th": th, "subject_en": en})
    return _render(
        "Digest.j2",
        {
            "recipient": recipient,
            "addressee": addressee(recipient),
            "items": listed,
            "as_of": as_of,
            "head": head,
            "count": len(items),
        },
    )


class StatusProblem(Enum):
    EXPIRED = BilingualText(
        th="ลิงก์นี้หมดอายุแล้ว โปรดใช้ลิงก์ในอีเมลฉบับล่าสุด",
        en="This link has expired; please use the link in the latest email.",
    )
    INVALID = BilingualText(th="ลิงก์นี้ไม่ถูกต้อง", en="This link is not valid.")
    UNKNOWN = BilingualText(
        th="ยังไม่พบข้อมูลข้อเสนอนี้", en="There is no information about this proposal yet."
    )


DECIDED_BY: dict[str, BilingualText] = {
    name: spec.decided_by for name, spec in EVENTS.items() if spec.decided_by is not None
}
"""Who decided each step the status page lists, from the event specifications (any other
step: the Smart City Office recorded it)."""


def _decided_by(entry: dict[str, Any]) -> BilingualText:
    """Who decided, and at which meeting (or by which Cabinet resolution)."""
    body = DECIDED_BY.get(entry["event_type"], SMART_CITY_OFFICE)
    th, en = body.th, capfirst(body.en)
    meeting = entry.get("meeting")
    if meeting:
        note = meeting.get("date_note") or {}
        th += f" การประชุมครั้งที่ {meeting['meeting_id']} (ประธาน: {meeting['chair']['th']})"
        en += f", meeting {meeting['meeting_id']} (chair: {meeting['chair']['en']})"
        if note:
            th += f" ({note['th']})"
            en += f" ({note['en']})"
    if entry.get("resolution_number"):
        number = entry["resolution_number"]
        th += f" แจ้งมติตามหนังสือสำนักเลขาธิการคณะรัฐมนตรี ที่ {marked(number, 'th')}"
        en += f", resolution conveyed by Secretariat of the Cabinet letter {marked(number, 'en')}"
    if entry.get("subcommittee_meeting_id"):
        th += f" ตามมติ{SUBCOMMITTEE.th} ครั้งที่ {entry['subcommittee_meeting_id']}"
        en += f", by resolution of subcommittee meeting {entry['subcommittee_meeting_id']}"
    if entry.get("certificate_number"):
        th += f" ใบรับรองเลขที่ {entry['certificate_number']}"
        en += f", certificate {entry['certificate_number']}"
    return BilingualText(th=th, en=en)


_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


@cache
def status_page_csp() -> str:
    """The status page's Content-Security-Policy: nothing loads but the page's one inline style
    sheet, allowed by its hash (the sheet is the template's, the same on every page; no
    script at all)."""
    found = _STYLE.search(render_status_page(None, StatusProblem.INVALID))
    sheet = found.group(1).encode("utf-8") if found else b""
    digest = base64.b64encode(hashlib.sha256(sheet).digest()).decode("ascii")
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"
    )


def render_status_page(
    proposal: dict[str, Any] | None,
    problem: StatusProblem | None,
    *,
    expires: dt.datetime | None = None,
    office: Office | None = None,
) -> str:
    """The status page of a proposal (as the proposals view keeps it), or why it cannot be
    shown. Each history line is dated by the decision (meeting or resolution date) where it has
    one, else by when it was recorded, in Thailand's time zone."""
    history = []
    for entry in (proposal or {}).get("history", []):
        if entry.get("refused"):
            continue
        decided = entry.get("decided_on")
        date = dt.date.fromisoformat(decided) if decided else entry["recorded_at"]
        if isinstance(date, dt.datetime) and date.tzinfo is None:
            date = date.replace(tzinfo=dt.UTC)
        by = _decided_by(entry)
        history.append({**entry, "date": date, "by_th": by.th, "by_en": by.en})
    # In the order things happened (a step recorded late sorts by the day it took effect),
    # the order they were recorded among steps of the same day.
    history.sort(key=lambda h: _day(h["date"]))
    applicant = None
    if proposal and proposal.get("applicant"):
        found = agencies().get(proposal["applicant"])
        if found is not None:
            applicant = BilingualText(th=found.name_th, en=found.name_en)
    template = _environment(True).get_template("_status_page.html.j2")
    return template.render(
        proposal=proposal,
        problem=problem.value if problem else None,
        history=history,
        applicant=applicant,
        expires=expires,
        office=office or Office(),
    )


def _day(value: dt.date | dt.datetime) -> dt.date:
    return thai_day(value) if isinstance(value, dt.datetime) else value
