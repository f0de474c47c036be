"""Building the MIME message: correct UTF-8 headers, both parts, a stable Message-ID. Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
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
) -> EmailMessage:
    """One letter: to its addressee, its copies in Cc ((name, address) pairs), replies to
    the owning unit (`reply_to`)."""
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = _clean(subject)
    msg["From"] = _address(from_name, from_email)
    msg["To"] = _address(to_name, to_email)
    if cc:
        msg["Cc"] = [_address(name, email) for name, email in cc]
    if reply_to is not None:
        msg["Reply-To"] = _address(*reply_to)
    msg["Message-ID"] = msg_id
    msg["Content-Language"] = "th, en"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    for name, value in (extra_headers or {}).items():
        msg[name] = _clean(value)
    msg.set_content(text, charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg
