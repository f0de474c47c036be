"""Signed claims: what an agency signs, the headers that carry the signature, and the one pure
rule that decides whether a claim is authenticated and current.

An agency signs every claim it produces to the intake topic with an Ed25519 key registered in the
agency registry. The signature is detached: it travels in the `smartcity-signature` header.

Version 2 (`v=2;keyid=...;ed25519=...`, what the kits sign) covers where and when as well as
what: the topic the record is produced to (with the deployment's namespace), the signed-at time
(the `smartcity-signed-at` header), the record key, the `smartcity-event-type` header and the
exact bytes of the value, laid out as `signing_input` says (each part length-prefixed, so no two
different records share an input). A claim signed longer ago than the policy's maximum age, or
too far in the future, is refused as `expired`; on another topic its signature does not match.

Version 1 (`keyid=...;ed25519=...`, no version field) covered only the key, the event-type header
and the value. It is accepted until the policy's deprecation time, and refused after it as
`deprecated_version`.

Nothing here does I/O: the caller supplies the keys it knows and the times to judge them at.
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

SIGNATURE_VERSION = 2
"""The version the kits sign. Separate from the envelope's SCHEMA_VERSION: it names the signed
bytes, not the event's shape."""
SIGNATURE_DOMAIN = b"smartcity-claim-v2\n"
"""The first bytes of every version 2 signing input: names the scheme and its version."""
SIGNATURE_DOMAIN_V1 = b"smartcity-claim-v1\n"
"""The first bytes of a version 1 signing input (deprecated)."""

HEADER_SIGNATURE = "smartcity-signature"
HEADER_SIGNED_AT = "smartcity-signed-at"
"""When the claim was signed (version 2): UTC, RFC 3339 with a `Z`, e.g.
`2026-12-06T09:30:00.000Z`; its exact bytes are signed."""
SIGNATURE_ALGORITHM = "ed25519"
KEY_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,63}:[0-9a-f]{16}$"
_HEADER = re.compile(r"^(?:v=([0-9]{1,3});)?keyid=([^;=\s]{1,100});ed25519=([A-Za-z0-9+/]{86}==)$")
_SIGNED_AT = re.compile(
    r"^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9}))?Z$"
)
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64

DEFAULT_MAX_AGE = dt.timedelta(minutes=10)
DEFAULT_MAX_SKEW = dt.timedelta(minutes=2)
DEFAULT_V1_ACCEPTED_UNTIL = dt.datetime(2027, 4, 1, tzinfo=dt.timezone(dt.timedelta(hours=7)))
"""Version 1 signatures are refused from 1 April 2027, 00:00 Bangkok time (a setting)."""


def _length_prefixed(domain: bytes, parts: tuple[bytes, ...]) -> bytes:
    out = [domain]
    for part in parts:
        out += [struct.pack(">I", len(part)), part]
    return b"".join(out)


def signing_input(
    value: bytes, key: bytes | None, event_type: bytes, *, topic: bytes, signed_at: bytes
) -> bytes:
    """The bytes that are signed (version 2): the domain line, then the topic's name, the
    signed-at header's value, the record key, the event-type header's value and the record
    value, each preceded by its length as a 4-byte big-endian integer (a missing key counts as
    empty)."""
    return _length_prefixed(SIGNATURE_DOMAIN, (topic, signed_at, key or b"", event_type, value))


def signing_input_v1(value: bytes, key: bytes | None, event_type: bytes) -> bytes:
    """The bytes version 1 signed: the domain line, then the record key, the event-type header's
    value and the record value, each length-prefixed as above."""
    return _length_prefixed(SIGNATURE_DOMAIN_V1, (key or b"", event_type, value))


def format_signed_at(at: dt.datetime) -> str:
    """The signed-at header's value for a time: UTC, to the millisecond, with a `Z`."""
    utc = at.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_signed_at(text: str) -> dt.datetime | None:
    """The time a signed-at header's value names (any number of fraction digits, `Z` only);
    None if it is not one."""
    match = _SIGNED_AT.match(text)
    if match is None:
        return None
    try:
        whole = dt.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    micros = int((match.group(2) or "0").ljust(6, "0")[:6])
    return whole.replace(microsecond=micros, tzinfo=dt.UTC)


def key_id_for(agency_id: str, public_key: bytes) -> str:
    """A signing key's id: its agency and the first 16 hex digits of SHA-256 of the raw key."""
    return f"{agency_id}:{hashlib.sha256(public_key).hexdigest()[:16]}"


def raw_public_key(private_key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def signature_header(key_id: str, signature: bytes, version: int = SIGNATURE_VERSION) -> str:
    """The `smartcity-signature` header's value: `v=2;keyid=<key id>;ed25519=<base64>`
    (version 1: without `v=`)."""
    encoded = base64.b64encode(signature).decode("ascii")
    prefix = "" if version == 1 else f"v={version};"
    return f"{prefix}keyid={key_id};ed25519={encoded}"


def sign(
    private_key: Ed25519PrivateKey,
    key_id: str,
    value: bytes,
    key: bytes | None,
    event_type: str,
    *,
    topic: str,
    signed_at: dt.datetime,
) -> dict[str, str]:
    """The headers that sign a record (value, key, event-type header) for `topic` at
    `signed_at`: `smartcity-signed-at` and `smartcity-signature`."""
    at = format_signed_at(signed_at)
    data = signing_input(
        value, key, event_type.encode("utf-8"), topic=topic.encode("utf-8"), signed_at=at.encode()
    )
    return {
        HEADER_SIGNED_AT: at,
        HEADER_SIGNATURE: signature_header(key_id, private_key.sign(data)),
    }


def sign_v1(
    private_key: Ed25519PrivateKey, key_id: str, value: bytes, key: bytes | None, event_type: str
) -> str:
    """The version 1 signature header (deprecated; kept to test its acceptance window)."""
    signature = private_key.sign(signing_input_v1(value, key, event_type.encode("utf-8")))
    return signature_header(key_id, signature, version=1)


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
class ClaimPolicy:
    """How old a claim may be, how far ahead of the broker's clock, and until when version 1 is
    accepted (None: always; the audit re-verifies signatures without judging their age)."""

    max_age: dt.timedelta = DEFAULT_MAX_AGE
    max_skew: dt.timedelta = DEFAULT_MAX_SKEW
    v1_accepted_until: dt.datetime | None = DEFAULT_V1_ACCEPTED_UNTIL


AUDIT_POLICY = ClaimPolicy(v1_accepted_until=None)


@dataclass(frozen=True)
class Authenticated:
    key_id: str
    version: int = SIGNATURE_VERSION
    signed_at: dt.datetime | None = None

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


def parse_signature_header(text: str) -> tuple[int, str, bytes] | None:
    """(version, key id, signature) of a `smartcity-signature` value; None if malformed."""
    match = _HEADER.match(text)
    if match is None:
        return None
    try:
        signature = base64.b64decode(match.group(3), validate=True)
    except (binascii.Error, ValueError):
        return None
    return int(match.group(1) or 1), match.group(2), signature


def verify(
    *,
    value: bytes,
    key: bytes | None,
    headers: Mapping[str, bytes],
    topic: str,
    producer: str | None,
    agencies: Container[str],
    keys: Mapping[str, SigningKey],
    at: dt.datetime,
    policy: ClaimPolicy = ClaimPolicy(),
    received_at: dt.datetime | None = None,
) -> Verdict:
    """Is this record, read from `topic`, a claim by `producer` (the envelope's `producer`),
    signed with one of its keys that is current at `at`, in a version the policy accepts at
    `at`? `headers` are the record's headers (last value per name). With `received_at` (when the
    broker took the record), a version 2 claim must also have been signed within the policy's
    maximum age before it and no further than its skew after it; without it, its age is not
    judged (the audit re-verifies signatures, not their freshness)."""
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
            f"{HEADER_SIGNATURE} is not 'v=2;keyid=<key id>;ed25519=<base64 of 64 bytes>'",
        )
    version, key_id, signature = parsed
    if version not in (1, SIGNATURE_VERSION):
        return Unauthenticated(
            "malformed", f"signature version {version} is unknown (this is version 2)", key_id
        )
    if version == 1 and policy.v1_accepted_until is not None and at >= policy.v1_accepted_until:
        return Unauthenticated(
            "deprecated_version",
            "signature version 1 (without topic and signed-at time) was accepted until "
            f"{policy.v1_accepted_until.isoformat()}; sign version 2",
            key_id,
        )
    signed_at_text = ""
    signed_at = None
    if version == SIGNATURE_VERSION:
        try:
            signed_at_text = headers.get(HEADER_SIGNED_AT, b"").decode("ascii")
        except UnicodeDecodeError:
            signed_at_text = ""
        signed_at = parse_signed_at(signed_at_text)
        if signed_at is None:
            return Unauthenticated(
                "malformed",
                f"a version 2 signature needs a {HEADER_SIGNED_AT} header in UTC "
                "('2026-12-06T09:30:00.000Z')",
                key_id,
            )
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
    if version == 1:
        data = signing_input_v1(value, key, event_type)
    else:
        data = signing_input(
            value,
            key,
            event_type,
            topic=topic.encode("utf-8"),
            signed_at=signed_at_text.encode("ascii"),
        )
    try:
        Ed25519PublicKey.from_public_bytes(signing_key.public_key).verify(signature, data)
    except (InvalidSignature, ValueError):
        return Unauthenticated(
            "bad_signature",
            f"the signature does not match the record on {topic[:200]!r} for key {key_id!r}",
            key_id,
        )
    if signed_at is not None and received_at is not None:
        stale = freshness(signed_at, received_at, policy)
        if stale is not None:
            return Unauthenticated("expired", stale, key_id)
    return Authenticated(key_id, version, signed_at)


def freshness(signed_at: dt.datetime, received_at: dt.datetime, policy: ClaimPolicy) -> str | None:
    """Why a claim signed at `signed_at` and received at `received_at` is not current (None if
    it is)."""
    age = received_at - signed_at
    if age > policy.max_age:
        return (
            f"signed at {format_signed_at(signed_at)}, {age.total_seconds():.0f} s before it "
            f"reached the broker (at most {policy.max_age.total_seconds():.0f} s)"
        )
    if -age > policy.max_skew:
        return (
            f"signed at {format_signed_at(signed_at)}, {-age.total_seconds():.0f} s after it "
            f"reached the broker (clocks may differ by at most "
            f"{policy.max_skew.total_seconds():.0f} s)"
        )
    return None


@dataclass(frozen=True)
class SigningVector:
    """A worked example for implementers in other languages: the vectors live in
    `reference/signing-vectors.json`, which the Python and the Java kits' tests both read and
    docs/events.md prints. `version` 1 vectors have no topic or signed-at time."""

    name: str
    version: int
    private_key_seed_hex: str
    public_key_hex: str
    agency_id: str
    key_id: str
    topic: str | None
    signed_at: str | None
    key: bytes | None
    event_type: str
    value: bytes
    signing_input_sha256_hex: str
    signature_header: str

    def signing_input(self) -> bytes:
        if self.version == 1:
            return signing_input_v1(self.value, self.key, self.event_type.encode("utf-8"))
        assert self.topic is not None
        assert self.signed_at is not None
        return signing_input(
            self.value,
            self.key,
            self.event_type.encode("utf-8"),
            topic=self.topic.encode("utf-8"),
            signed_at=self.signed_at.encode("ascii"),
        )


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
            version=int(v.get("version", 1)),
            private_key_seed_hex=v["private_key_seed_hex"],
            public_key_hex=v["public_key_hex"],
            agency_id=v["agency_id"],
            key_id=v["key_id"],
            topic=v.get("topic"),
            signed_at=v.get("signed_at"),
            key=None if v["key"] is None else v["key"].encode("utf-8"),
            event_type=v["event_type"],
            value=v["value"].encode("utf-8"),
            signing_input_sha256_hex=v["signing_input_sha256_hex"],
            signature_header=v["signature_header"],
        )
        for v in json.loads(text)["vectors"]
    )


# ---- facts: what a service publishes, signed with its own registered key ----

FACT_POLICY = ClaimPolicy(v1_accepted_until=dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
"""Facts are signed in version 2 only; their age is not judged (the relay may publish a commit
long after it was signed, during a Kafka outage), the owner's key must be current when the
broker took the fact."""


@dataclass(frozen=True)
class UnsignedBeforeCutOver:
    """An unsigned fact the broker took before its owner's first signing key was registered
    (or whose owner has none yet): published before facts were signed, accepted as it was."""

    owner: str
    cut_over: dt.datetime | None

    def __bool__(self) -> bool:
        return True


FactVerdict = Authenticated | UnsignedBeforeCutOver | Unauthenticated


def cut_over(owner: str, keys: Mapping[str, SigningKey]) -> dt.datetime | None:
    """When `owner` began signing its facts: the registration of its first signing key (revoked
    ones included); None while it has none."""
    times = [k.registered_at for k in keys.values() if k.agency_id == owner]
    return min(times) if times else None


def verify_fact(
    *,
    value: bytes,
    key: bytes | None,
    headers: Mapping[str, bytes],
    topic: str,
    owner: str,
    agencies: Container[str],
    keys: Mapping[str, SigningKey],
    received_at: dt.datetime,
) -> FactVerdict:
    """Is this record, read from `topic` (with its namespace), a fact that `owner` (the topic's
    owning service, `svc-<service>`) signed with one of its keys, current when the broker took
    the record (`received_at`)? The same signature as a claim's (version 2: topic, signed-at,
    key, event-type header, value), signed by the owner whatever the envelope's `producer`.

    An unsigned fact is accepted only if the broker took it before the owner's first key was
    registered (the cut-over: facts from before services signed them); after it, it is refused
    as `unsigned`."""
    if HEADER_SIGNATURE not in headers:
        since = cut_over(owner, keys)
        if since is None or received_at < since:
            return UnsignedBeforeCutOver(owner, since)
        return Unauthenticated(
            "unsigned",
            f"no {HEADER_SIGNATURE} header: {owner} signs every fact it published since "
            f"{since.isoformat()} (this one reached the broker at {received_at.isoformat()})",
        )
    verdict = verify(
        value=value,
        key=key,
        headers=headers,
        topic=topic,
        producer=owner,
        agencies=agencies,
        keys=keys,
        at=received_at,
        policy=FACT_POLICY,
    )
    if isinstance(verdict, Unauthenticated) and verdict.reason == "wrong_agency":
        return Unauthenticated(
            "wrong_agency",
            f"signing key {verdict.key_id!r} is not a key of {owner}, the owner of {topic[:200]}",
            verdict.key_id,
        )
    return verdict
