"""Notifications, pure: deliveries and digests as types, which emails an event causes, and
what follows an attempt to send one. No I/O: the handlers gather the inputs (the proposal as
known, the directory's answers) and store what these functions return."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from smartcity_th.contracts.agencies import office_holder
from smartcity_th.contracts.approvals import (
    CabinetEndorsed,
    CabinetReturned,
    CertificationAwarded,
    decided_on,
)
from smartcity_th.contracts.common import BilingualText, Stage, marked, service_principal
from smartcity_th.contracts.envelope import AnyEnvelope, EnvelopeError, new_envelope, parse_record
from smartcity_th.contracts.notifications import (
    NotificationFailed,
    NotificationHeld,
    NotificationSent,
)
from smartcity_th.contracts.workflow import stage_after
from smartcity_th.services.common.context import Source
from smartcity_th.services.common.retry import Jitter, backoff_seconds
from smartcity_th.services.common.thai_dates import english_date, thai_date
from smartcity_th.services.notifications import letters, view
from smartcity_th.services.notifications.links import StatusLinks
from smartcity_th.services.notifications.messages import message_id
from smartcity_th.services.notifications.office import Office
from smartcity_th.services.notifications.proofread import problems as proofread
from smartcity_th.services.notifications.rendering import (
    LetterHead,
    RenderedEmail,
    email_context,
    has_template,
    render,
    render_digest,
    thai_day,
)

SERVICE_PRODUCER = service_principal("notifications")
DIGEST_TYPE = "Digest"

Status = Literal["held", "queued", "sent", "failed", "digested", "review"]
"""held: waiting for its recipient's digest; queued: to be sent (leased to a sender while its
`next_attempt_at` is the end of the lease); sent, failed: settled; digested: sent in a digest;
review: proofreading found a fault, held until an operator releases it after the fix."""
Kind = Literal["event", "digest"]
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class MailSettings:
    from_name: str
    from_email: str
    message_id_domain: str
    links: StatusLinks
    max_attempts: int
    base_delay: float
    max_delay: float
    office: Office = field(default_factory=Office)
    go_live: dt.date | None = None
    """The go-live: an event that took effect before this day is recorded and shown, but
    causes no letter (None: every event is told)."""
    certificate_url: str = "http://127.0.0.1:8002"
    """Public base URL of the approvals service's certificate pages (the link a certificate
    prints)."""
    pdf: bool = True
    """Attach the letter (and the award's certificate) as PDFs (off: benchmarks only)."""


@dataclass(frozen=True)
class Recipient:
    recipient_id: str
    email: str
    name_th: str
    name_en: str
    digest: bool = False


@dataclass(frozen=True)
class LetterRef:
    """A letter's number in its office's register (as the Thai and the English letter write
    it) and its date."""

    number_th: str
    number_en: str
    date: dt.date

    def as_doc(self) -> dict[str, str]:
        return {"th": self.number_th, "en": self.number_en, "date": self.date.isoformat()}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> LetterRef | None:
        if not doc:
            return None
        return cls(doc["th"], doc["en"], dt.date.fromisoformat(doc["date"]))


@dataclass(frozen=True)
class Body:
    """What an email says (`text`, `html`) and the event it is about (`event_value`), stored
    apart from its delivery; a delivery that could not be addressed keeps only the event."""

    delivery_id: str
    event_value: str | None
    created_at: dt.datetime
    text: str | None = None
    html: str | None = None


@dataclass(frozen=True)
class DigestItem:
    """One held email summarised in a digest: the event it was about."""

    delivery_id: str
    event_id: str
    event_type: str
    proposal_id: str
    subject: str | None
    occurred_at: dt.datetime | None
    source: Source | None
    event_value: str | None
    letter: LetterRef | None = None


@dataclass(frozen=True)
class Delivery:
    """One email: about one event (kind "event") or summarising held ones (kind "digest")."""

    delivery_id: str
    kind: Kind
    event_id: str
    event_type: str
    proposal_id: str | None
    recipient_id: str
    email: str | None
    status: Status
    created_at: dt.datetime
    updated_at: dt.datetime
    attempts: int = 0
    next_attempt_at: dt.datetime | None = None
    name_th: str | None = None
    name_en: str | None = None
    message_id: str | None = None
    subject: str | None = None
    timeline_url: str | None = None
    occurred_at: dt.datetime | None = None
    source: Source | None = None
    trace: Mapping[str, str] | None = None
    digest_id: str | None = None
    last_error: str | None = None
    failed_at: dt.datetime | None = None
    cc: tuple[tuple[str, str], ...] = ()
    """(name, address) of every copy sent in Cc of this email (and the applicant's contact
    addresses, with an empty name)."""
    copy_of: str | None = None
    """For a copy held for its recipient's digest: the delivery id of the letter itself."""
    letter: LetterRef | None = None
    text: str | None = None
    """The body kept in the delivery itself: a digest's (and an email's queued before the
    bodies were stored apart)."""
    html: str | None = None
    event_value: str | None = None
    items: tuple[DigestItem, ...] = ()

    def recipient(self) -> Recipient:
        return Recipient(
            self.recipient_id, self.email or "", self.name_th or "", self.name_en or "", True
        )


@dataclass(frozen=True)
class Plan:
    """What one event causes: the bodies and deliveries to store, and for each delivery that
    cannot be addressed the NotificationFailed it records."""

    bodies: list[Body] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    failures: dict[str, AnyEnvelope] = field(default_factory=dict)
    held: dict[str, AnyEnvelope] = field(default_factory=dict)
    """Delivery id -> the NotificationHeld of a letter proofreading stopped."""

    @property
    def events(self) -> dict[str, AnyEnvelope]:
        """The one event each delivery's first commit records, by delivery id."""
        return {**self.failures, **self.held}

    @property
    def ready(self) -> list[str]:
        """The deliveries to be sent now (not held for a digest, not failed)."""
        return [d.delivery_id for d in self.deliveries if d.status == "queued"]


def unknown_proposal(envelope: AnyEnvelope) -> dict[str, Any]:
    """What a letter says about a proposal the view has not heard of."""
    area = getattr(envelope.payload, "area_name", None)
    return {
        "_id": envelope.proposal_id,
        "area_name": area.model_dump() if area is not None else {"th": "-", "en": "-"},
        "province": {"code": None, "name_th": "-", "name_en": "-"},
        "stage": None,
        "contact_emails": [],
        "applicant": None,
    }


def letter_proposal(envelope: AnyEnvelope, proposal: dict[str, Any]) -> dict[str, Any]:
    """The proposal as a letter about `envelope` describes it."""
    proposal = view.described(proposal)
    if view.is_known(proposal):
        return proposal
    return {**unknown_proposal(envelope), **proposal}


def is_told(event_type: str) -> bool:
    """Whether an event causes a letter."""
    return letters.rule(event_type) is not None and has_template(event_type)


def effective_date(envelope: AnyEnvelope) -> dt.date:
    """The day the step `envelope` tells of took effect, as its letter's body states it: the
    meeting, the Cabinet resolution, the award, or the day a step recorded after the fact
    took effect, else the day the event occurred, in Thailand."""
    return decided_on(envelope.payload) or thai_day(envelope.occurred_at)


def issue_date(envelope: AnyEnvelope, numbered_at: dt.datetime) -> dt.date:
    """The day a letter is dated (ลงวันที่): the day it is issued, which is the day it took its
    number in the register, so that the register's dates run in the order of its numbers as
    the Regulation on Correspondence expects of a register of letters sent. A step told as it
    happens is dated the day it took effect; a step recorded later (a past round imported, a
    paper submission keyed in) is dated the day its letter is issued, and its body gives the
    day the step took effect. Never before that day."""
    return max(thai_day(numbered_at), effective_date(envelope))


def register_id_now(office: Office, now: dt.datetime) -> str:
    """The register a new letter takes its number from: its office's, for the Buddhist-era
    year of the day it is issued."""
    return register_id(office, thai_day(now))


def before_go_live(envelope: AnyEnvelope, settings: MailSettings) -> bool:
    """History the system learns of (a round replayed or imported) that took effect before
    it went live: recorded and shown, never told in a letter."""
    return settings.go_live is not None and effective_date(envelope) < settings.go_live


def register_year(date: dt.date) -> int:
    """Registers are numbered per Buddhist-era calendar year."""
    return date.year + 543


def register_id(office: Office, date: dt.date) -> str:
    return f"{office.key}:{register_year(date)}"


def letter_id(envelope: AnyEnvelope, to_id: str) -> str:
    """One letter per (event, addressee): the key of its number in the register."""
    return f"{envelope.event_id}:{to_id}"


def _history_date(entry: Mapping[str, Any]) -> dt.date:
    decided = entry.get("decided_on")
    if decided:
        return dt.date.fromisoformat(decided)
    recorded = entry["recorded_at"]
    if isinstance(recorded, dt.datetime):
        return thai_day(recorded if recorded.tzinfo else recorded.replace(tzinfo=dt.UTC))
    return dt.date.fromisoformat(str(recorded)[:10])


def _is_submission(event_type: str) -> bool:
    """A submission or a resubmission: what leads a proposal to the submitted stage."""
    return stage_after(event_type) is Stage.SUBMITTED


def reference(envelope: AnyEnvelope, proposal: Mapping[str, Any]) -> BilingualText | None:
    """What a letter refers to (อ้างถึง): the Secretariat of the Cabinet's letter for a
    Cabinet resolution; otherwise the applicant's latest submission of the proposal, by its
    date."""
    payload = envelope.payload
    if isinstance(payload, CabinetEndorsed | CabinetReturned):
        return BilingualText(
            th=f"หนังสือสำนักเลขาธิการคณะรัฐมนตรี ที่ {marked(payload.resolution_number, 'th')}",
            en=f"Secretariat of the Cabinet letter {marked(payload.resolution_number, 'en')}",
        )
    submissions = [
        e
        for e in proposal.get("history", [])
        if _is_submission(e.get("event_type", "")) and e.get("event_id") != str(envelope.event_id)
    ]
    if _is_submission(envelope.event_type) or not submissions:
        return None  # the acknowledgement answers the submission its body names
    last = submissions[-1]
    area = proposal.get("area_name") or {}
    kind_th = "ฉบับแก้ไข" if last["event_type"] == "ProposalResubmitted" else ""
    kind_en = "revised " if last["event_type"] == "ProposalResubmitted" else ""
    day = _history_date(last)
    return BilingualText(
        th=f'ข้อเสนอการพัฒนาเมืองอัจฉริยะ{kind_th} "{area.get("th", "-")}" ที่ได้รับเมื่อวันที่ {thai_date(day)}',
        en=f'the {kind_en}smart-city development proposal "{area.get("en", "-")}" received on '
        f"{english_date(day)}",
    )


def enclosures(envelope: AnyEnvelope, office: Office) -> tuple[BilingualText, ...]:
    """What the letter encloses (สิ่งที่ส่งมาด้วย): the award letter, the certificate as its
    own PDF (the sender attaches it), its number marked as the office marks illustrative
    values."""
    payload = envelope.payload
    if isinstance(payload, CertificationAwarded):
        number = payload.certificate_number
        return (
            BilingualText(
                th=f"ใบรับรองพื้นที่เมืองอัจฉริยะ เลขที่ {number}{office.mark_th} (แฟ้ม PDF แนบมาพร้อมนี้)",
                en=f"Smart-city area certificate {number}{office.mark_en} (PDF file attached)",
            ),
        )
    return ()


@dataclass(frozen=True)
class Letter:
    """One event's letter as addressed: the addressee, the copies that go in Cc, the copies
    held for their recipients' digests, and the applicant's contact addresses (Cc, not
    named). `missing` are directory ids of parties with no entry."""

    to: Recipient
    cc: tuple[Recipient, ...] = ()
    held: tuple[Recipient, ...] = ()
    named: tuple[Recipient, ...] = ()
    """The copies in the letter table's order."""
    contacts: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    @property
    def copies(self) -> tuple[Recipient, ...]:
        """Every copy, sent now or held, in the letter table's order (as สำเนาส่ง names them)."""
        return self.named or (*self.cc, *self.held)


def address_letter(
    event_type: str,
    to: Recipient,
    copies_found: Sequence[Recipient],
    contacts: Sequence[str],
    missing: Sequence[str] = (),
) -> Letter:
    """Apply the copy rules (`letters.copies`): no address twice, no copy to the addressee's
    own office; a copy to a recipient who chose a digest is held for it, unless the letter
    is critical."""
    kept = letters.copies(to, copies_found, contacts)
    found = letters.rule(event_type)
    critical = found is not None and found.critical
    cc = tuple(r for r in kept.named if critical or not r.digest)
    held = tuple(r for r in kept.named if not critical and r.digest)
    return Letter(to, cc, held, kept.named, kept.contacts, tuple(missing))


def render_letter(
    envelope: AnyEnvelope,
    proposal: dict[str, Any],
    letter: Letter,
    settings: MailSettings,
    *,
    number: int,
    issued_on: dt.date,
) -> tuple[RenderedEmail, LetterHead, dict[str, Any]]:
    """The letter about one event to its addressee, numbered `number` and dated `issued_on`
    (`issue_date`), as rendered, with its head and the context it was rendered in."""
    head = LetterHead(
        office=settings.office,
        number=number,
        date=issued_on,
        reference=reference(envelope, proposal),
        enclosures=enclosures(envelope, settings.office),
        copies=tuple(office_holder(r.name_th, r.name_en) for r in letter.copies),
    )
    stage = stage_after(envelope.event_type)
    context = email_context(
        envelope,
        proposal,
        letter.to,
        settings.links.url(envelope.proposal_id),
        head,
        stage.value if stage else None,
        effective_on=effective_date(envelope),
    )
    return render(envelope, context), head, context


def letter_problems(
    envelope: AnyEnvelope,
    proposal: Mapping[str, Any],
    letter: Letter,
    rendered: RenderedEmail,
    date: dt.date,
) -> list[str]:
    """What stops a letter before it is queued: what an official would object to in its text
    (`proofread.problems`), an address on it twice, and a date before a dated step that came
    earlier in the proposal's history (a letter contradicting the proposal's other letters)."""
    found = proofread(rendered.subject, rendered.text, rendered.html)
    addresses = [
        a.lower() for a in (letter.to.email, *(r.email for r in letter.copies), *letter.contacts)
    ]
    twice = sorted({a for a in addresses if addresses.count(a) > 1})
    if twice:
        found.append(f"recipients: on the letter twice: {', '.join(twice)}")
    for entry in proposal.get("history", []):
        if entry.get("event_id") == str(envelope.event_id):
            break
        decided = entry.get("decided_on")
        if decided and dt.date.fromisoformat(decided) > date:
            found.append(
                f"date: {date.isoformat()} is before the proposal's earlier step "
                f"{entry.get('event_type')} of {decided}"
            )
    return found


def plan_event(
    envelope: AnyEnvelope,
    proposal: dict[str, Any],
    letter: Letter | None,
    missing: Sequence[str],
    settings: MailSettings,
    *,
    now: dt.datetime,
    number: int | None = None,
    numbered_at: dt.datetime | None = None,
    source: Source | None = None,
    trace: Mapping[str, str] | None = None,
) -> Plan:
    """The emails about one event: its letter (numbered `number` in the sending office's
    register at `numbered_at`, the day it is dated by) to the addressee with its copies in Cc,
    one held copy per digest recipient, and a failed delivery with its NotificationFailed per
    directory id that has no entry (`missing`; when the addressee itself is missing, `letter`
    is None and nothing is sent). Ids are (event id, address), so a redelivered event plans
    the same emails again. `proposal` is as known when the event is told (`letter_proposal`)."""
    if not is_told(envelope.event_type) or before_go_live(envelope, settings):
        return Plan()
    event_value = envelope.model_dump_json()
    event = Delivery(
        delivery_id="",
        kind="event",
        event_id=str(envelope.event_id),
        event_type=envelope.event_type,
        proposal_id=envelope.proposal_id,
        recipient_id="",
        email=None,
        status="queued",
        created_at=now,
        updated_at=now,
        occurred_at=envelope.occurred_at,
        source=source,
        trace=trace,
    )
    plan = Plan()
    if letter is not None:
        if number is None:
            raise ValueError("a letter needs its number in the register")
        rendered, head, context = render_letter(
            envelope,
            proposal,
            letter,
            settings,
            number=number,
            issued_on=issue_date(envelope, numbered_at or now),
        )
        ref = LetterRef(head.number_th, head.number_en, head.date)
        main_id = f"{envelope.event_id}:{letter.to.email.lower()}"
        faults = letter_problems(envelope, proposal, letter, rendered, effective_date(envelope))
        cc = tuple((r.name_th, r.email) for r in letter.cc) + tuple(
            ("", c) for c in letter.contacts
        )
        for r, copy_of in ((letter.to, None), *((h, main_id) for h in letter.held)):
            delivery_id = f"{envelope.event_id}:{r.email.lower()}"
            plan.bodies.append(Body(delivery_id, event_value, now, rendered.text, rendered.html))
            plan.deliveries.append(
                replace(
                    event,
                    delivery_id=delivery_id,
                    recipient_id=r.recipient_id,
                    email=r.email,
                    name_th=r.name_th,
                    name_en=r.name_en,
                    message_id=message_id(
                        str(envelope.event_id), r.email, settings.message_id_domain
                    ),
                    subject=rendered.subject,
                    timeline_url=context["timeline_url"],
                    status="review" if faults else "held" if copy_of else "queued",
                    next_attempt_at=now,
                    cc=() if copy_of else cc,
                    copy_of=copy_of,
                    letter=ref,
                    last_error="; ".join(faults)[:500] if faults else None,
                )
            )
        if faults:
            plan.held[main_id] = new_envelope(
                NotificationHeld(
                    about_event_id=str(envelope.event_id),
                    about_event_type=envelope.event_type,
                    recipient_id=letter.to.recipient_id,
                    recipient_email=letter.to.email,
                    delivery_id=main_id,
                    problems=[f[:500] for f in faults[:50]],
                ),
                producer=SERVICE_PRODUCER,
                proposal_id=envelope.proposal_id,
                cause=envelope,
            )
    for recipient_id in missing:
        error = f"no address for {recipient_id!r} in the recipients directory"
        delivery_id = f"{envelope.event_id}:missing:{recipient_id}"
        plan.failures[delivery_id] = new_envelope(
            NotificationFailed(
                about_event_id=str(envelope.event_id),
                about_event_type=envelope.event_type,
                recipient_id=recipient_id,
                recipient_email=None,
                message_id=None,
                attempts=0,
                error=error,
            ),
            producer=SERVICE_PRODUCER,
            proposal_id=envelope.proposal_id,
            cause=envelope,
        )
        plan.bodies.append(Body(delivery_id, event_value, now))
        plan.deliveries.append(
            replace(
                event,
                delivery_id=delivery_id,
                recipient_id=recipient_id,
                status="failed",
                last_error=error,
                failed_at=now,
            )
        )
    return plan


# -- after an attempt ------------------------------------------------------------------------


def resends(d: Delivery, refused: Mapping[str, str], now: dt.datetime) -> list[Delivery]:
    """The server took an email but refused some of its recipients (a copy in Cc, or the
    addressee while a copy was taken): each refused address gets the same letter again as an
    email of its own, queued now, so that its own retries and its own failure (a
    NotificationFailed and a dead letter) follow the usual rules. Sending it anew keeps the
    others from receiving the letter twice."""
    names = {email.lower(): name for name, email in d.cc}
    out = []
    for address, reply in refused.items():
        addressee = address.lower() == (d.email or "").lower()
        out.append(
            replace(
                d,
                delivery_id=f"{d.delivery_id}:resend:{address.lower()}",
                recipient_id=d.recipient_id if addressee else f"cc:{address.lower()}",
                email=address,
                name_th=d.name_th if addressee else names.get(address.lower(), ""),
                name_en=d.name_en if addressee else names.get(address.lower(), ""),
                cc=(),
                copy_of=d.delivery_id,
                status="queued",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
                last_error=f"refused when first sent: {reply}"[:500],
            )
        )
    return out


@dataclass(frozen=True)
class About:
    """An event an email is about, so that its outcome continues that event's conversation."""

    event_id: str
    event_type: str
    proposal_id: str
    event_value: str | None
    source: Source | None

    def cause(self) -> AnyEnvelope | None:
        if self.event_value is None:
            return None
        try:
            return parse_record(self.event_value.encode("utf-8"))
        except EnvelopeError:
            return None

    def outcome(self, payload: NotificationSent | NotificationFailed) -> AnyEnvelope:
        """The envelope telling what became of an email about this event (its conversation)."""
        return new_envelope(
            payload, producer=SERVICE_PRODUCER, proposal_id=self.proposal_id, cause=self.cause()
        )


def about(delivery: Delivery, body: Body | None) -> list[About]:
    """The events an email is about: one, or each held email's event for a digest."""
    if delivery.kind == "digest":
        return [
            About(i.event_id, i.event_type, i.proposal_id, i.event_value, i.source)
            for i in delivery.items
        ]
    value = body.event_value if body is not None else delivery.event_value
    proposal_id = delivery.proposal_id or ""
    return [About(delivery.event_id, delivery.event_type, proposal_id, value, delivery.source)]


@dataclass(frozen=True)
class Sent:
    attempts: int
    events: list[AnyEnvelope]


@dataclass(frozen=True)
class Retry:
    attempts: int
    error: str
    delay: float
    next_attempt_at: dt.datetime


@dataclass(frozen=True)
class GiveUp:
    attempts: int
    error: str
    permanent: bool


@dataclass(frozen=True)
class Failed:
    attempts: int
    error: str
    permanent: bool
    events: list[AnyEnvelope]
    about: list[About]

    def dead_letter_reason(self, delivery: Delivery) -> str:
        return (
            f"email {delivery.message_id} to {delivery.email} failed after {self.attempts} "
            f"attempts: {self.error}"
        )


def sent(delivery: Delivery, about_: Sequence[About], attempts: int) -> Sent:
    """A delivery accepted by the SMTP server: one NotificationSent per event it is about."""
    return Sent(
        attempts,
        [
            a.outcome(
                NotificationSent(
                    about_event_id=a.event_id,
                    about_event_type=a.event_type,
                    recipient_id=delivery.recipient_id,
                    recipient_email=delivery.email,
                    message_id=delivery.message_id,
                    attempts=attempts,
                )
            )
            for a in about_
        ],
    )


def after_failure(
    attempts: int,
    error: str,
    settings: MailSettings,
    *,
    permanent: bool,
    now: dt.datetime,
    rand: Jitter = random.uniform,
) -> Retry | GiveUp:
    """A failed attempt (the `attempts`th): tried again after the common backoff, unless the
    failure is permanent or that was the last attempt."""
    error = error[:500]
    if permanent or attempts >= settings.max_attempts:
        return GiveUp(attempts, error, permanent)
    delay = backoff_seconds(attempts, settings.base_delay, settings.max_delay, rand)
    return Retry(attempts, error, delay, now + dt.timedelta(seconds=delay))


def failed(delivery: Delivery, about_: Sequence[About], give_up: GiveUp) -> Failed:
    """A delivery given up on: one NotificationFailed (and one dead letter) per event it is
    about."""
    events = [
        a.outcome(
            NotificationFailed(
                about_event_id=a.event_id,
                about_event_type=a.event_type,
                recipient_id=delivery.recipient_id,
                recipient_email=delivery.email,
                message_id=delivery.message_id,
                attempts=give_up.attempts,
                error=give_up.error,
            )
        )
        for a in about_
    ]
    return Failed(give_up.attempts, give_up.error, give_up.permanent, events, list(about_))


# -- digests ---------------------------------------------------------------------------------

THAILAND = dt.timezone(dt.timedelta(hours=7), "ICT")


def next_cutoff(now: dt.datetime, hour: int) -> dt.datetime:
    """The next daily digest time strictly after `now`: `hour` o'clock in Thailand, in UTC."""
    local = now.astimezone(THAILAND)
    cutoff = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if cutoff <= local:
        cutoff += dt.timedelta(days=1)
    return cutoff.astimezone(dt.UTC)


def digest_id(email: str, as_of: dt.datetime) -> str:
    """Stable per (address, cutoff): two instances collecting the same digest agree on its id
    (and so on its Message-ID). Only characters valid in a Message-ID's left part."""
    who = hashlib.sha256(email.lower().encode("utf-8")).hexdigest()[:12]
    return f"digest-{who}-{as_of.astimezone(dt.UTC):%Y%m%dT%H%M%S}Z"


def digest_item(held: Delivery, event_value: str | None) -> DigestItem:
    return DigestItem(
        held.delivery_id,
        held.event_id,
        held.event_type,
        held.proposal_id or "",
        held.subject,
        held.occurred_at,
        held.source,
        event_value,
        held.letter,
    )


def plan_digest(
    did: str,
    held: Sequence[Delivery],
    event_values: Sequence[str | None],
    settings: MailSettings,
    *,
    as_of: dt.datetime,
    now: dt.datetime,
    number: int,
) -> Delivery:
    """One covering letter (numbered `number`) of the copies held for one recipient (`held`,
    oldest first, with the event each is about), queued to be sent at once."""
    recipient = held[0].recipient()
    head = LetterHead(office=settings.office, number=number, date=thai_day(as_of))
    rendered = render_digest(
        recipient,
        [
            {
                "event_type": h.event_type,
                "subject": h.subject,
                "proposal_id": h.proposal_id,
                "occurred_at": h.occurred_at,
                "letter_th": h.letter.number_th if h.letter else "-",
                "letter_en": h.letter.number_en if h.letter else "-",
                "letter_date": h.letter.date if h.letter else thai_day(h.occurred_at or as_of),
                "timeline_url": h.timeline_url,
            }
            for h in held
        ],
        as_of,
        head,
    )
    return Delivery(
        delivery_id=did,
        kind="digest",
        event_id=did,
        event_type=DIGEST_TYPE,
        proposal_id=None,
        recipient_id=recipient.recipient_id,
        email=recipient.email,
        name_th=recipient.name_th,
        name_en=recipient.name_en,
        message_id=message_id(did, recipient.email, settings.message_id_domain),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        letter=LetterRef(head.number_th, head.number_en, head.date),
        items=tuple(digest_item(h, v) for h, v in zip(held, event_values, strict=True)),
        status="queued",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
