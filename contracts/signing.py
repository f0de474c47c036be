"""Signed claims: what an agency signs, the header that carries the signature, and the one pure
rule that decides whether a claim is authenticated.

An agency signs every claim it produces to the intake topic with an Ed25519 key registered in the
agency registry. The signature is detached: it travels in the `smartcity-signature` header, over
the exact bytes of the record's value, its key and its `smartcity-event-type` header, laid out as
`signing_input` says (each part length-prefixed, so no two different records share an input).
Nothing here does I/O: the caller supplies the keys it knows and the time to judge them at.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import struct
from collections.abc import Container, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from smartcity_th.contracts import topics

SIGNATURE_DOMAIN = b"smartcity-claim-v1\n"
"""The first bytes of every signing input: names the scheme and its version."""

HEADER_SIGNATURE = "smartcity-signature"
SIGNATURE_ALGORITHM = "ed25519"
KEY_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,63}:[0-9a-f]{16}$"
_HEADER = re.compile(r"^keyid=([^;=\s]{1,100});ed25519=([A-Za-z0-9+/]{86}==)$")
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def signing_input(value: bytes, key: bytes | None, event_type: bytes) -> bytes:
    """The bytes that are signed: the domain line, then the record key, the event-type header's
    value and the record value, each preceded by its length as a 4-byte big-endian integer (a
    missing key counts as empty)."""
    out = [SIGNATURE_DOMAIN]
    for part in (key or b"", event_type, value):
        out += [struct.pack(">I", len(part)), part]
    return b"".join(out)


def key_id_for(agency_id: str, public_key: bytes) -> str:
    """A signing key's id: its agency and the first 16 hex digits of SHA-256 of the raw key."""
    return f"{agency_id}:{hashlib.sha256(public_key).hexdigest()[:16]}"


def raw_public_key(private_key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def signature_header(key_id: str, signature: bytes) -> str:
    """The `smartcity-signature` header's value: `keyid=<key id>;ed25519=<base64 signature>`."""
    return f"keyid={key_id};ed25519={base64.b64encode(signature).decode('ascii')}"


def sign(
    private_key: Ed25519PrivateKey, key_id: str, value: bytes, key: bytes | None, event_type: str
) -> str:
    """The signature header for a record (value, key, event-type header)."""
    signature = private_key.sign(signing_input(value, key, event_type.encode("utf-8")))
    return signature_header(key_id, signature)


@dataclass(frozen=True)
class SigningKey:
    """A public signing key of the registry, with the period in which it is current."""

    key_id: str
    agency_id: str
    public_key: bytes
    registered_at: dt.datetime
    revoked_at: dt.datetime | None = None

    def current_at(self, at: dt.datetime) -> bool:
        return self.registered_at <= at and (self.revoked_at is None or at < self.revoked_at)


@dataclass(frozen=True)
class Authenticated:
    key_id: str

    def __bool__(self) -> bool:
        return True


@dataclass(frozen=True)
class Unauthenticated:
    """Why a claim is not taken as coming from the agency it names (`reason` is one word)."""

    reason: str
    detail: str
    key_id: str | None = None

    def __bool__(self) -> bool:
        return False


Verdict = Authenticated | Unauthenticated


def parse_signature_header(text: str) -> tuple[str, bytes] | None:
    match = _HEADER.match(text)
    if match is None:
        return None
    try:
        return match.group(1), base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        return None


def verify(
    *,
    value: bytes,
    key: bytes | None,
    headers: Mapping[str, bytes],
    producer: str | None,
    agencies: Container[str],
    keys: Mapping[str, SigningKey],
    at: dt.datetime,
) -> Verdict:
    """Is this record a claim by `producer` (the envelope's `producer`), signed with one of its
    keys that is current at `at`? `headers` are the record's headers (last value per name)."""
    raw = headers.get(HEADER_SIGNATURE)
    if raw is None:
        return Unauthenticated("unsigned", f"no {HEADER_SIGNATURE} header: claims must be signed")
    try:
        parsed = parse_signature_header(raw.decode("ascii"))
    except UnicodeDecodeError:
        parsed = None
    if parsed is None:
        return Unauthenticated(
            "malformed",
            f"{HEADER_SIGNATURE} is not 'keyid=<key id>;ed25519=<base64 of 64 bytes>'",
        )
    key_id, signature = parsed
    if not producer:
        return Unauthenticated("no_producer", "the claim names no producer", key_id)
    if producer not in agencies:
        return Unauthenticated(
            "unknown_agency", f"producer {producer[:80]!r} is not in the agency registry", key_id
        )
    signing_key = keys.get(key_id)
    if signing_key is None:
        return Unauthenticated("unknown_key", f"signing key {key_id!r} is not registered", key_id)
    if signing_key.agency_id != producer:
        return Unauthenticated(
            "wrong_agency",
            f"signing key {key_id!r} belongs to {signing_key.agency_id}, not to the producer "
            f"{producer}",
            key_id,
        )
    if not signing_key.current_at(at):
        when = signing_key.revoked_at.isoformat() if signing_key.revoked_at else "later"
        return Unauthenticated(
            "revoked_key"
            if signing_key.revoked_at and at >= signing_key.revoked_at
            else "key_not_yet_valid",
            f"signing key {key_id!r} is not current at {at.isoformat()} (revoked {when})",
            key_id,
        )
    event_type = headers.get(topics.HEADER_EVENT_TYPE, b"")
    try:
        Ed25519PublicKey.from_public_bytes(signing_key.public_key).verify(
            signature, signing_input(value, key, event_type)
        )
    except (InvalidSignature, ValueError):
        return Unauthenticated(
            "bad_signature", f"the signature does not match the record for key {key_id!r}", key_id
        )
    return Authenticated(key_id)


@dataclass(frozen=True)
class SigningVector:
    """A worked example for implementers in other languages: the vectors live in
    `reference/signing-vectors.json`, which the Python and the Java kits' tests both read and
    docs/events.md prints."""

    name: str
    private_key_seed_hex: str
    public_key_hex: str
    agency_id: str
    key_id: str
    key: bytes | None
    event_type: str
    value: bytes
    signature_header: str


@cache
def signing_vectors() -> tuple[SigningVector, ...]:
    text = (
        files("smartcity_th.contracts.reference")
        .joinpath("signing-vectors.json")
        .read_text(encoding="utf-8")
    )
    return tuple(
        SigningVector(
            name=v["name"],
            private_key_seed_hex=v["private_key_seed_hex"],
            public_key_hex=v["public_key_hex"],
            agency_id=v["agency_id"],
            key_id=v["key_id"],
            key=None if v["key"] is None else v["key"].encode("utf-8"),
            event_type=v["event_type"],
            value=v["value"].encode("utf-8"),
            signature_header=v["signature_header"],
        )
        for v in json.loads(text)["vectors"]
    )
