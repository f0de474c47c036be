"""The example story's events as the letters tell them, with fixed ids and dates: the template
snapshots, the `preview` command and the tests render these. Each is the example of its event's
specification (contracts.catalogue, the one story in contracts.story) as the owner publishes
it, the claim's contact addresses left off (a fact never carries them). What a person wrote
can be swapped for awkward text: `area` (the area's name), `reason` (the reasons of a refusal,
return or lapse; by default one plain reason) and `producer` (whom a refusal is addressed to)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.common import BilingualText, Contract, Words, service_principal
from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.story import APPLICANT, AREA, CONTACT
from smartcity_th.contracts.story import PHUKET as PROVINCE
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

OCCURRED = dt.datetime(2022, 8, 6, 3, 30, tzinfo=dt.UTC)
REASON = BilingualText(th="เอกสารแนบไม่ครบ", en="Attachments are missing")

WHY: dict[str, str] = {
    "ProposalWithdrawn": "reason",
    "IntakeRejected": "reason",
    "TransitionRefused": "reason",
    "RevisionRequested": "reasons",
    "SubcommitteeRejected": "reasons",
    "CabinetReturned": "reasons",
    "DeliveryReturned": "reasons",
    "CertificationLapsed": "reasons",
}
"""The field that says why, of each letter whose why a caller may swap (a withdrawal, a
refusal, a request, a return, a lapse)."""


def _told(
    event_type: str, payload: Contract, area: BilingualText, reason: BilingualText, producer: str
) -> Contract:
    update: dict[str, Any] = {}
    why = WHY.get(event_type)
    if why is not None:
        words = isinstance(getattr(payload, why), Words)
        update[why] = Words.model_validate(reason.th) if words else reason
    if "producer" in type(payload).model_fields:
        update["producer"] = producer
    if "area_name" in type(payload).model_fields:
        update["area_name"] = area
    content = getattr(payload, "content", None)
    if content is not None:
        update |= {
            "content": content.model_copy(update={"area_name": area}),
            "contact_emails": None,
        }
    return payload.model_copy(update=update)


def payloads(
    area: BilingualText = AREA, reason: BilingualText | None = None, producer: str = "depa"
) -> dict[str, Contract]:
    """Payload per event type: its specification's example, as the letters tell it."""
    why = reason or REASON
    return {
        name: _told(name, spec.example.payload, area, why, producer)
        for name, spec in EVENTS.items()
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
    applicant = Recipient(APPLICANT, CONTACT, "เทศบาลนครภูเก็ต", "Phuket City Municipality")
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
