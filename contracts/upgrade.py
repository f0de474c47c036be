"""Reading schema version 1 as version 2: pure functions on the decoded JSON, applied by
`envelope.parse_record` before validation, so every consumer sees one shape.

Records are upgraded on read only: what is stored (the topics, the services' commits, the audit
log, whose hash chain and signatures cover the original bytes) is never rewritten. Version 2
changed, and nothing else:

- free texts people write travel as `{th, en}` (`Words`, `LongWords`): a resolution, screening
  notes, a withdrawal reason, a resubmission's changes. Version 1's one string ("ไทย / English",
  or one language) is split by `split_bilingual`: Thai before " / ", English after (or the other
  way round); a text in one language fills that language only;
- the applicant's contact addresses left the proposal's content (`content.contact_emails`):
  a claim carries them as `contact_emails` beside the content, and the fact never does (they go
  to smartcity.contacts, which only the services read). A version 1 record keeps what it had,
  moved to `payload.contact_emails`, so that the history it tells is unchanged.

Every function is idempotent (a version 2 shape passes through unchanged) and leaves anything it
does not recognise to validation, which then names the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smartcity_th.contracts.common import Words

Doc = dict[str, Any]


def _words(container: Doc, name: str) -> None:
    value = container.get(name)
    if isinstance(value, str) and value.strip():
        container[name] = Words.from_v1(value)


def _contacts_beside_content(payload: Doc) -> None:
    content = payload.get("content")
    if isinstance(content, dict) and "contact_emails" in content:
        content = dict(content)
        emails = content.pop("contact_emails")
        payload["content"] = content
        payload.setdefault("contact_emails", emails)


def _submission(payload: Doc) -> None:
    _contacts_beside_content(payload)
    _words(payload, "changes")


def _resolution(payload: Doc) -> None:
    _words(payload, "resolution")


def _meeting(payload: Doc) -> None:
    decisions = payload.get("decisions")
    if isinstance(decisions, list):
        payload["decisions"] = [
            _upgraded(d, _resolution) if isinstance(d, dict) else d for d in decisions
        ]


def _upgraded(doc: Doc, step: Callable[[Doc], None]) -> Doc:
    out = dict(doc)
    step(out)
    return out


V1_TO_V2: dict[str, Callable[[Doc], None]] = {
    "ProposalSubmitted": _submission,
    "ProposalResubmitted": _submission,
    "ProposalWithdrawn": lambda p: _words(p, "reason"),
    "ProposalScreened": lambda p: _words(p, "notes"),
    "SubcommitteeApproved": _resolution,
    "SubcommitteeRejected": _resolution,
    "SteeringCommitteeAcknowledged": _resolution,
    "CabinetEndorsed": _resolution,
    "CabinetReturned": _resolution,
    "MeetingRecorded": _meeting,
}
"""The payload changes from version 1 to 2, by event type (others did not change)."""


def upgrade(raw: Doc) -> Doc:
    """A decoded envelope of version 1 in version 2's shape (a new dict; `schema_version` is
    left as written, so that the record still says what it was). Anything else: unchanged."""
    if raw.get("schema_version") != 1:
        return raw
    step = V1_TO_V2.get(str(raw.get("event_type")))
    payload = raw.get("payload")
    if step is None or not isinstance(payload, dict):
        return raw
    return {**raw, "payload": _upgraded(payload, step)}
