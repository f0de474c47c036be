"""The envelope every event travels in, and the one function that reads it off the wire.

`parse_record(value, headers)` is used by every consumer: it returns a typed `Envelope` or raises
`EnvelopeError` naming the field and what was wrong. It never raises anything else.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smartcity_th.contracts import topics
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.common import (
    AgencyId,
    Contract,
    ProposalId,
    UtcDateTime,
    canonical_uuid,
    safe_text,
    unstorable_in,
)
from smartcity_th.contracts.upgrade import upgrade

SCHEMA_VERSION = 2
"""The version every producer writes. Version 1 is still read, upgraded on read
(`contracts.upgrade`); a version newer than this is refused."""
MAX_RECORD_BYTES = 512 * 1024

P = TypeVar("P", bound=Contract)


class Envelope(BaseModel, Generic[P]):
    """Metadata common to every event, around the typed payload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: uuid.UUID = Field(description="Unique id of this event; consumers deduplicate by it")
    event_type: str = Field(description="Name of the payload model, e.g. 'ProposalSubmitted'")
    schema_version: int = Field(ge=1, description="Version of the payload's schema")
    occurred_at: UtcDateTime = Field(description="When it happened (UTC)")
    producer: AgencyId = Field(description="Agency (or service) that produced the event")
    proposal_id: ProposalId = Field(description="The proposal it concerns; the partition key")
    correlation_id: uuid.UUID = Field(description="Id shared by every event of one conversation")
    causation_id: uuid.UUID | None = Field(
        default=None, description="event_id of the event that caused this one, if any"
    )
    payload: P = Field(description="The event itself")

    @property
    def key(self) -> bytes:
        return topics.partition_key(self.proposal_id)

    def headers(self) -> dict[str, str]:
        return {
            topics.HEADER_EVENT_TYPE: self.event_type,
            topics.HEADER_EVENT_ID: str(self.event_id),
            topics.HEADER_SCHEMA_VERSION: str(self.schema_version),
            topics.HEADER_PRODUCER: self.producer,
            topics.HEADER_CORRELATION_ID: str(self.correlation_id),
            topics.HEADER_CONTENT_TYPE: topics.CONTENT_TYPE_JSON,
        }

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")


AnyEnvelope = Envelope[Any]


class EnvelopeError(ValueError):
    """Why a record is not a valid event: the field (dotted path) and the reason."""

    def __init__(
        self, field: str, reason: str, *, event_type: str | None = None, event_id: str | None = None
    ) -> None:
        field, reason = safe_text(field, 500), safe_text(reason, 1000)
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.event_type = event_type if event_type in EVENTS else None
        self.event_id = canonical_uuid(event_id)


def new_envelope(
    payload: P,
    *,
    producer: str,
    proposal_id: str,
    cause: AnyEnvelope | None = None,
    correlation_id: uuid.UUID | None = None,
    occurred_at: dt.datetime | None = None,
    event_id: uuid.UUID | None = None,
    event_type: str | None = None,
    schema_version: int = SCHEMA_VERSION,
) -> Envelope[P]:
    """The one way to build an envelope. With `cause`, it continues the cause's conversation.
    `event_type` defaults to the payload's class; a request payload (such as
    `AwardCertification`) names the event it asks for."""
    model: Any = Envelope[type(payload)]  # type: ignore[misc]
    envelope: Envelope[P] = model(
        event_id=event_id or uuid.uuid4(),
        event_type=event_type or type(payload).__name__,
        schema_version=schema_version,
        occurred_at=occurred_at or dt.datetime.now(dt.UTC),
        producer=producer,
        proposal_id=proposal_id,
        correlation_id=correlation_id or (cause.correlation_id if cause else uuid.uuid4()),
        causation_id=cause.event_id if cause else None,
        payload=payload,
    )
    return envelope


def _header_text(headers: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in items:
        key = name.decode("utf-8", errors="replace") if isinstance(name, bytes) else str(name)
        if isinstance(value, bytes | bytearray | memoryview):
            out[key] = bytes(value).decode("utf-8", errors="replace")
        elif value is not None:
            out[key] = str(value)
    return out


def _dotted(loc: tuple[int | str, ...], raw: object) -> str:
    """The error location as a dotted field path into the input. Parts that are not in the
    input (pydantic's union member tags such as 'function-after[...]') are dropped, except the
    last, which names a missing field."""
    parts: list[str] = []
    node: object = raw
    for index, part in enumerate(loc):
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]  # type: ignore[index]
        elif index < len(loc) - 1 and isinstance(part, str) and not isinstance(node, dict):
            continue
        else:
            node = None
        parts.append(_field_name(part))
    return ".".join(parts) or "(root)"


def _field_name(part: int | str) -> str:
    """A path part as written in a field path; odd names (empty, blank, with dots or
    unprintable characters) are quoted so the path stays readable and unambiguous."""
    text = str(part)
    if text.strip() and text.isprintable() and "." not in text and text == text.strip():
        return text[:80]
    return json.dumps(text[:80])


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _as_bytes(value: object) -> bytes:
    if value is None:
        raise EnvelopeError("(value)", "the record has no value")
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise EnvelopeError("(value)", f"expected bytes, got {type(value).__name__}")


def _refuse_unstorable_text(raw: object) -> None:
    """JSON escapes can spell lone surrogates ("\\ud800"), which no UTF-8 encoder accepts, and
    NUL ("\\u0000"), which the store cannot hold: every later write of either would fail.
    Refused here, once, for every string and key, naming where."""
    found = unstorable_in(raw)
    if found is not None:
        where, reason = found
        field = ".".join(_field_name(part) for part in where) or "(value)"
        raise EnvelopeError(field, f"holds {reason}")


def parse_record(
    value: bytes | bytearray | memoryview | None,
    headers: Mapping[str, Any] | Iterable[tuple[str, Any]] = (),
) -> AnyEnvelope:
    """Turn a record's value and headers into a typed envelope, or raise `EnvelopeError`.

    Never raises anything else: whatever the bytes and headers are, the error names the field
    (a dotted path into the envelope such as 'payload.meeting.held_on', 'headers.<name>', or
    '(value)' / '(headers)' when the record as a whole is unreadable) and the reason.
    """
    try:
        return _parse(value, headers)
    except EnvelopeError:
        raise
    except RecursionError:
        raise EnvelopeError("(value)", "nesting too deep") from None
    except Exception as exc:  # every other failure must still be a typed, named error
        raise EnvelopeError("(value)", _short(f"unreadable record: {type(exc).__name__}")) from None


def _parse(
    value: object,
    headers: Mapping[str, Any] | Iterable[tuple[str, Any]],
) -> AnyEnvelope:
    data = _as_bytes(value)
    if len(data) == 0:
        raise EnvelopeError("(value)", "the record has no value")
    if len(data) > MAX_RECORD_BYTES:
        raise EnvelopeError(
            "(value)", f"record is {len(data)} bytes; the limit is {MAX_RECORD_BYTES}"
        )
    try:
        head = _header_text(headers)
    except Exception as exc:
        raise EnvelopeError("(headers)", _short(f"unreadable headers: {exc}")) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvelopeError("(value)", f"not UTF-8 at byte {exc.start}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EnvelopeError("(value)", f"not JSON (line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise EnvelopeError("(value)", "not JSON (nesting too deep)") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise EnvelopeError("(value)", _short(f"not JSON ({exc})")) from None
    if not isinstance(raw, dict):
        raise EnvelopeError("(value)", f"expected a JSON object, got {type(raw).__name__}")

    _refuse_unstorable_text(raw)
    event_id = canonical_uuid(raw.get("event_id"))
    event_type = raw.get("event_type")
    if not isinstance(event_type, str):
        raise EnvelopeError("event_type", "missing or not a string", event_id=event_id)
    spec = EVENTS.get(event_type)
    if spec is None:
        raise EnvelopeError(
            "event_type", f"unknown event type {event_type[:80]!r}", event_id=event_id
        )
    header_type = head.get(topics.HEADER_EVENT_TYPE)
    if header_type is not None and header_type != event_type:
        raise EnvelopeError(
            f"headers.{topics.HEADER_EVENT_TYPE}",
            f"header says {header_type[:80]!r} but the body says {event_type!r}",
            event_type=event_type,
            event_id=event_id,
        )
    payload = raw.get("payload")
    if isinstance(payload, dict) and payload.get("event_type", event_type) != event_type:
        raise EnvelopeError(
            "payload.event_type",
            "does not match the envelope's event_type",
            event_type=event_type,
            event_id=event_id,
        )
    version = raw.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise EnvelopeError(
            "schema_version",
            f"version {version} is newer than this consumer understands ({SCHEMA_VERSION})",
            event_type=event_type,
            event_id=event_id,
        )
    raw = upgrade(raw)
    try:
        envelope = Envelope[spec.payload].model_validate(raw)  # type: ignore[name-defined]
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        raise EnvelopeError(
            _dotted(first["loc"], raw),
            _short(first["msg"]),
            event_type=event_type,
            event_id=event_id,
        ) from None
    except RecursionError:
        raise EnvelopeError(
            "(value)", "nesting too deep", event_type=event_type, event_id=event_id
        ) from None
    header_id = head.get(topics.HEADER_EVENT_ID)
    if header_id is not None and header_id != str(envelope.event_id):
        raise EnvelopeError(
            f"headers.{topics.HEADER_EVENT_ID}",
            "header does not match the body's event_id",
            event_type=event_type,
            event_id=event_id,
        )
    return envelope
