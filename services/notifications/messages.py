"""Building the MIME message: correct UTF-8 headers, both parts, the letter's PDF, a stable
Message-ID. Pure."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP


def message_id(event_id: str, email: str, domain: str) -> str:
    """Stable per (event, recipient): a redelivered event yields the same Message-ID."""
    digest = hashlib.sha256(email.lower().encode("utf-8")).hexdigest()[:16]
    return f"<{event_id}.{digest}@{domain}>"


def _clean(value: str) -> str:
    """No header injection: whatever a field held, a header value is one line."""
    return " ".join(value.replace("\r", " ").replace("\n", " ").split())


def _address(name: str, email: str) -> Address:
    local, _, domain = email.partition("@")
    return Address(display_name=_clean(name), username=local, domain=domain)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str = "application"
    subtype: str = "pdf"


def pdf_filename(matter_en: str, proposal_id: str | None = None) -> str:
    """The letter's PDF by its subject matter, in ASCII (every mail client shows it alike):
    `PRP-2565-0001-smart-city-proposal-received-phuket-smart-city.pdf`."""
    ascii_ = unicodedata.normalize("NFKD", matter_en).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")[:60].rstrip("-")
    name = "-".join(part for part in (proposal_id, slug) if part) or "letter"
    return f"{name}.pdf"


def build_message(
    *,
    subject: str,
    text: str,
    html: str,
    from_name: str,
    from_email: str,
    to_name: str,
    to_email: str,
    msg_id: str,
    cc: Sequence[tuple[str, str]] = (),
    reply_to: tuple[str, str] | None = None,
    extra_headers: dict[str, str] | None = None,
    attachments: Sequence[Attachment] = (),
    date: dt.datetime | None = None,
) -> EmailMessage:
    """One letter: to its addressee, its copies in Cc ((name, address) pairs), replies to
    the owning unit (`reply_to`); text and HTML as alternatives and, with attachments (the
    letter's PDF), those two and the attachments in one multipart/mixed message. `date`: when
    it is sent (now by default), its `Date:` header, which RFC 5322 requires."""
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = _clean(subject)
    msg["From"] = _address(from_name, from_email)
    msg["To"] = _address(to_name, to_email)
    if cc:
        msg["Cc"] = [_address(name, email) for name, email in cc]
    if reply_to is not None:
        msg["Reply-To"] = _address(*reply_to)
    msg["Message-ID"] = msg_id
    msg["Date"] = email.utils.format_datetime(date or dt.datetime.now(dt.UTC))
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    for name, value in (extra_headers or {}).items():
        msg[name] = _clean(value)
    msg.set_content(text, charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    for attachment in attachments:
        msg.add_attachment(
            attachment.content,
            maintype=attachment.maintype,
            subtype=attachment.subtype,
            filename=attachment.filename,
        )
    # After the content: set_content() and its kin drop every Content-* header set before.
    msg["Content-Language"] = "th, en"
    return msg
