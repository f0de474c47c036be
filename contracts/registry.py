"""The agency registry as data: events on a compacted topic, written only by the admin, and the
pure fold that every service applies to keep its own projection of it.

Each event carries the whole current state of its subject (an agency, a signing key, an API
key), and its record key names that subject, so the compacted topic keeps exactly the latest
state of each: a fresh reader of the topic rebuilds the registry without the history.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from smartcity_th.contracts.agencies import Agency, UnknownAgency
from smartcity_th.contracts.common import (
    AGENCY_ID_RULE,
    AgencyId,
    AgencyKind,
    Contract,
    ShortText,
    UtcDateTime,
    is_agency_id,
    service_principal,
)
from smartcity_th.contracts.contacts import MAX_EMAIL_DOMAINS, EmailDomain
from smartcity_th.contracts.signing import KEY_ID_PATTERN, SigningKey

REGISTRY_SCHEMA_VERSION = 1
ADMIN_PRODUCER = service_principal("admin")

SigningKeyId = Annotated[
    str,
    StringConstraints(pattern=KEY_ID_PATTERN),
    Field(description="Signing key id: '<agency id>:<first 16 hex digits of SHA-256(key)>'"),
]
ApiKeyId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{16}$"),
    Field(description="API key id: the first 16 hex digits of the key's SHA-256"),
]
Sha256Hex = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{64}$"),
    Field(description="SHA-256 of the API key, hex (the key itself is never stored)"),
]
PublicKeyB64 = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9+/]{43}=$"),
    Field(description="Ed25519 public key, the 32 raw bytes in base64"),
]
ProvinceCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")]


class AgencyRegistered(Contract):
    """An agency joined the registry (the CSV seed, or onboarding by the admin)."""

    agency_id: AgencyId
    kind: AgencyKind = Field(description="Agency kind; the authorisation matrix is keyed by it")
    name_th: ShortText = Field(description="Name in Thai")
    name_en: ShortText = Field(description="Name in English")
    province_code: ProvinceCode | None = Field(
        default=None, description="Province of a local government or provincial administration"
    )
    email_domains: Annotated[list[EmailDomain], Field(max_length=MAX_EMAIL_DOMAINS)] = Field(
        default_factory=list,
        description="The agency's email domains (each covers its subdomains): the only places "
        "its proposals' contact addresses may be (contracts/contacts.py). Empty or absent "
        "(events written before it existed): none, so its submissions are refused until the "
        "admin registers one (`smartcity-admin email-domains`)",
    )


class AgencyUpdated(AgencyRegistered):
    """An agency's details changed (names, email domains); carries the whole new state."""


class SigningKeyRegistered(Contract):
    """A public key with which an agency signs its claims."""

    key_id: SigningKeyId
    agency_id: AgencyId
    public_key: PublicKeyB64
    registered_at: UtcDateTime = Field(description="From when claims signed with it are accepted")


class SigningKeyRevoked(SigningKeyRegistered):
    """A signing key is no longer current; kept so that older claims can still be verified."""

    revoked_at: UtcDateTime = Field(description="From when claims signed with it are refused")
    reason: ShortText | None = Field(default=None, description="Why it was revoked")


class ApiKeyIssued(Contract):
    """An API key for an agency's HTTP calls (only its hash travels)."""

    key_id: ApiKeyId
    agency_id: AgencyId
    key_sha256: Sha256Hex
    label: str = Field(default="", max_length=200, description="What the key is for")
    issued_at: UtcDateTime


class ApiKeyRevoked(ApiKeyIssued):
    """An API key is no longer accepted by any service."""

    revoked_at: UtcDateTime


PAYLOADS: tuple[type[Contract], ...] = (
    AgencyRegistered,
    AgencyUpdated,
    SigningKeyRegistered,
    SigningKeyRevoked,
    ApiKeyIssued,
    ApiKeyRevoked,
)
REGISTRY_EVENTS: dict[str, type[Contract]] = {p.__name__: p for p in PAYLOADS}

P = TypeVar("P", bound=Contract)


class RegistryEnvelope(BaseModel, Generic[P]):
    """A registry event on the registry topic; the record key is `subject`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: uuid.UUID = Field(description="Unique id of this event")
    event_type: str = Field(description="Name of the payload model, e.g. 'SigningKeyRevoked'")
    schema_version: int = Field(ge=1, description="Version of the payload's schema")
    occurred_at: UtcDateTime = Field(description="When the admin made the change (UTC)")
    producer: AgencyId = Field(description=f"Always the admin: '{ADMIN_PRODUCER}'")
    subject: str = Field(
        pattern=r"^(agency|signing-key|api-key):.{2,100}$",
        description="What the event is about; the record key (compaction keeps the latest)",
    )
    payload: P = Field(description="The event itself")

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")


AnyRegistryEnvelope = RegistryEnvelope[Any]


def subject_of(payload: Contract) -> str:
    if isinstance(payload, AgencyRegistered):
        return f"agency:{payload.agency_id}"
    if isinstance(payload, SigningKeyRegistered):
        return f"signing-key:{payload.key_id}"
    if isinstance(payload, ApiKeyIssued):
        return f"api-key:{payload.key_id}"
    raise TypeError(f"{type(payload).__name__} is not a registry event")


def registry_event(
    payload: Contract, occurred_at: dt.datetime | None = None
) -> RegistryEnvelope[Any]:
    model: Any = RegistryEnvelope[type(payload)]  # type: ignore[misc]
    envelope: RegistryEnvelope[Any] = model(
        event_id=uuid.uuid4(),
        event_type=type(payload).__name__,
        schema_version=REGISTRY_SCHEMA_VERSION,
        occurred_at=occurred_at or dt.datetime.now(dt.UTC),
        producer=ADMIN_PRODUCER,
        subject=subject_of(payload),
        payload=payload,
    )
    return envelope


class RegistryRecordError(ValueError):
    pass


def parse_registry_record(value: bytes | None) -> AnyRegistryEnvelope:
    """A registry record's value as a typed envelope, or `RegistryRecordError`."""
    if not value:
        raise RegistryRecordError("empty record")
    try:
        raw = json.loads(value)
        payload_type = REGISTRY_EVENTS[raw["event_type"]]
        return RegistryEnvelope[payload_type].model_validate(raw)  # type: ignore[valid-type]
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        raise RegistryRecordError(f"not a registry event: {str(exc)[:200]}") from None


def agency_event(agency: Agency) -> AgencyRegistered:
    return AgencyRegistered(
        agency_id=agency.agency_id,
        kind=agency.kind,
        name_th=agency.name_th,
        name_en=agency.name_en,
        province_code=agency.province_code,
        email_domains=list(agency.email_domains),
    )


@dataclass(frozen=True)
class ApiKeyEntry:
    key_id: str
    agency_id: str
    key_sha256: str
    label: str
    issued_at: dt.datetime
    revoked_at: dt.datetime | None = None


@dataclass
class Registry:
    """The state of the registry after the events applied so far (pure; no I/O)."""

    agencies: dict[str, Agency] = field(default_factory=dict)
    signing_keys: dict[str, SigningKey] = field(default_factory=dict)
    api_keys: dict[str, ApiKeyEntry] = field(default_factory=dict)
    """By key id."""
    _by_hash: dict[str, str] = field(default_factory=dict)
    applied: int = 0

    def refusal(self, payload: Contract) -> str | None:
        """Why this registry event may not change the registry, or None; the admin refuses to
        write such an event, and every projection ignores one (issue 24):
        - an agency id must be one (`is_agency_id`: no dots, so that no agency's consumer
          groups `<id>.*` hold another's);
        - a revocation is final: once a signing key or an API key is revoked, no later event
          about it (a new registration or issue of the same key id, another revocation that
          would move its time) is applied."""
        agency_id = getattr(payload, "agency_id", None)
        if isinstance(agency_id, str) and not is_agency_id(agency_id):
            return f"{agency_id!r} is not an agency id: {AGENCY_ID_RULE}"
        if isinstance(payload, SigningKeyRegistered):
            known: SigningKey | ApiKeyEntry | None = self.signing_keys.get(payload.key_id)
            what = "signing key"
        elif isinstance(payload, ApiKeyIssued):
            known = self.api_keys.get(payload.key_id)
            what = "API key"
        else:
            return None
        if known is None or known.revoked_at is None:
            return None
        return (
            f"{what} {payload.key_id} was revoked at {known.revoked_at.isoformat()}; "
            "a revocation is final (issue a new key instead)"
        )

    def apply(self, envelope: AnyRegistryEnvelope) -> str | None:
        """Apply one event; returns why it was not applied (`refusal`), or None."""
        p = envelope.payload
        refused = self.refusal(p)
        if refused is not None:
            return refused
        if isinstance(p, AgencyRegistered):
            self.agencies[p.agency_id] = Agency(
                p.agency_id,
                p.kind,
                p.name_th,
                p.name_en,
                p.province_code,
                tuple(dict.fromkeys(p.email_domains)),
            )
        elif isinstance(p, SigningKeyRegistered):
            self.signing_keys[p.key_id] = SigningKey(
                p.key_id,
                p.agency_id,
                base64.b64decode(p.public_key),
                p.registered_at,
                p.revoked_at if isinstance(p, SigningKeyRevoked) else None,
            )
        elif isinstance(p, ApiKeyIssued):
            self.api_keys[p.key_id] = ApiKeyEntry(
                p.key_id,
                p.agency_id,
                p.key_sha256,
                p.label,
                p.issued_at,
                p.revoked_at if isinstance(p, ApiKeyRevoked) else None,
            )
            self._by_hash[p.key_sha256] = p.key_id
        self.applied += 1
        return None

    def agency(self, agency_id: str) -> Agency:
        try:
            return self.agencies[agency_id]
        except KeyError:
            raise UnknownAgency(agency_id) from None

    def api_key_by_hash(self, key_sha256: str) -> ApiKeyEntry | None:
        key_id = self._by_hash.get(key_sha256)
        return None if key_id is None else self.api_keys.get(key_id)

    def current_api_key(self, key_sha256: str, at: dt.datetime) -> ApiKeyEntry | None:
        """The API key with this hash, if it is current at `at` and its agency is known."""
        key_id = self._by_hash.get(key_sha256)
        return None if key_id is None else self.current_api_key_by_id(key_id, at)

    def current_api_key_by_id(self, key_id: str, at: dt.datetime) -> ApiKeyEntry | None:
        """The API key with this id, if it is current at `at` (issued, not revoked) and its
        agency is known: the one rule for a key and for a console session it opened."""
        entry = self.api_keys.get(key_id)
        if entry is None or entry.agency_id not in self.agencies:
            return None
        if entry.revoked_at is not None and at >= entry.revoked_at:
            return None
        return entry
