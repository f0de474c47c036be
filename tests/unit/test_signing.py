"""Signed claims: the bytes signed, the header, the test vector of docs/events.md, and the rule
that decides whether a claim is authenticated (pure; no I/O)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from smartcity_th.contracts import topics
from smartcity_th.contracts.signing import (
    HEADER_SIGNATURE,
    Authenticated,
    SigningKey,
    SigningVector,
    Unauthenticated,
    key_id_for,
    raw_public_key,
    sign,
    signing_input,
    signing_vectors,
    verify,
)

TEST_VECTOR = signing_vectors()[0]

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(days=30)


def vector_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(TEST_VECTOR.private_key_seed_hex))


def registered(private: Ed25519PrivateKey, agency_id: str, **kw: dt.datetime) -> SigningKey:
    public = raw_public_key(private)
    return SigningKey(key_id_for(agency_id, public), agency_id, public, T0, kw.get("revoked_at"))


def check(
    header: str | None,
    keys: list[SigningKey],
    *,
    producer: str = "lg-phuket-city",
    value: bytes = TEST_VECTOR.value,
    event_type: str = TEST_VECTOR.event_type,
    at: dt.datetime = NOW,
) -> Authenticated | Unauthenticated:
    headers = {topics.HEADER_EVENT_TYPE: event_type.encode()}
    if header is not None:
        headers[HEADER_SIGNATURE] = header.encode()
    return verify(
        value=value,
        key=TEST_VECTOR.key,
        headers=headers,
        producer=producer,
        agencies={"lg-phuket-city", "lg-khon-kaen-city"},
        keys={k.key_id: k for k in keys},
        at=at,
    )


def test_the_documented_test_vector() -> None:
    private = vector_key()
    key_id = key_id_for(TEST_VECTOR.agency_id, raw_public_key(private))
    header = sign(private, key_id, TEST_VECTOR.value, TEST_VECTOR.key, TEST_VECTOR.event_type)
    assert header == TEST_VECTOR.signature_header
    assert check(header, [registered(private, "lg-phuket-city")]) == Authenticated(key_id)


@pytest.mark.parametrize("vector", signing_vectors(), ids=lambda v: v.name)
def test_every_shared_test_vector_the_java_kit_also_signs(vector: SigningVector) -> None:
    """contracts/reference/signing-vectors.json: the same file kit-java's tests read."""
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector.private_key_seed_hex))
    assert raw_public_key(private).hex() == vector.public_key_hex
    assert key_id_for(vector.agency_id, bytes.fromhex(vector.public_key_hex)) == vector.key_id
    header = sign(private, vector.key_id, vector.value, vector.key, vector.event_type)
    assert header == vector.signature_header


def test_the_signing_input_is_length_prefixed_parts_after_the_domain_line() -> None:
    data = signing_input(b"{}", b"K1", b"ProposalSubmitted")
    assert data == (
        b"smartcity-claim-v1\n"
        + b"\x00\x00\x00\x02K1"
        + b"\x00\x00\x00\x11ProposalSubmitted"
        + b"\x00\x00\x00\x02{}"
    )
    assert signing_input(b"{}", None, b"X") == signing_input(b"{}", b"", b"X")
    # Moving a byte from one part to the next changes the input.
    assert signing_input(b"b{}", b"K1", b"A") != signing_input(b"{}", b"K1b", b"A")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "unsigned"),
        ("", "malformed"),
        ("keyid=x;ed25519=short", "malformed"),
        ("ed25519=" + "A" * 86 + "==", "malformed"),
    ],
)
def test_missing_or_malformed_signatures(header: str | None, reason: str) -> None:
    verdict = check(header, [registered(vector_key(), "lg-phuket-city")])
    assert isinstance(verdict, Unauthenticated)
    assert verdict.reason == reason


def test_a_changed_byte_of_value_key_or_event_type_breaks_the_signature() -> None:
    keys = [registered(vector_key(), "lg-phuket-city")]
    changed = TEST_VECTOR.value.replace(b'"reason":null', b'"reason":"x"  ')
    for verdict in (
        check(TEST_VECTOR.signature_header, keys, value=changed),
        check(TEST_VECTOR.signature_header, keys, event_type="ProposalSubmitted"),
    ):
        assert isinstance(verdict, Unauthenticated)
        assert verdict.reason == "bad_signature"


def test_another_agencys_key_an_unknown_key_and_an_unknown_agency() -> None:
    other = Ed25519PrivateKey.generate()
    other_key = registered(other, "lg-khon-kaen-city")
    header = sign(other, other_key.key_id, TEST_VECTOR.value, TEST_VECTOR.key, "ProposalWithdrawn")
    assert check(header, [other_key]).reason == "wrong_agency"  # type: ignore[union-attr]
    assert check(header, []).reason == "unknown_key"  # type: ignore[union-attr]
    own = registered(vector_key(), "lg-phuket-city")
    verdict = check(TEST_VECTOR.signature_header, [own], producer="lg-atlantis")
    assert verdict.reason == "unknown_agency"  # type: ignore[union-attr]


def test_a_key_is_current_from_registration_until_revocation() -> None:
    revoked = registered(vector_key(), "lg-phuket-city", revoked_at=NOW)
    before = check(TEST_VECTOR.signature_header, [revoked], at=NOW - dt.timedelta(seconds=1))
    assert isinstance(before, Authenticated)
    after = check(TEST_VECTOR.signature_header, [revoked], at=NOW)
    assert after.reason == "revoked_key"  # type: ignore[union-attr]
    early = check(TEST_VECTOR.signature_header, [revoked], at=T0 - dt.timedelta(days=1))
    assert early.reason == "key_not_yet_valid"  # type: ignore[union-attr]
