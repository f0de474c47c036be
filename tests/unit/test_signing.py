"""Signed claims: the bytes signed, the headers, the test vectors of docs/events.md, and the rule
that decides whether a claim is authenticated and current (pure; no I/O)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from smartcity_th.contracts import topics
from smartcity_th.contracts.signing import (
    AUDIT_POLICY,
    HEADER_SIGNATURE,
    HEADER_SIGNED_AT,
    Authenticated,
    ClaimPolicy,
    SigningKey,
    SigningVector,
    Unauthenticated,
    format_signed_at,
    key_id_for,
    parse_signed_at,
    raw_public_key,
    sign,
    sign_v1,
    signing_input,
    signing_input_v1,
    signing_vectors,
    verify,
)

VECTORS = signing_vectors()
TEST_VECTOR = next(v for v in VECTORS if v.version == 2)
V1_VECTOR = next(v for v in VECTORS if v.version == 1 and v.key == TEST_VECTOR.key)
INTAKE = "smartcity.intake"

T0 = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)
SIGNED_AT = parse_signed_at(TEST_VECTOR.signed_at or "")
assert SIGNED_AT is not None
RECEIVED = SIGNED_AT + dt.timedelta(seconds=2)
NOW = RECEIVED + dt.timedelta(hours=1)  # consumed an hour later (a consumer's lag is no age)
POLICY = ClaimPolicy(
    max_age=dt.timedelta(minutes=10),
    max_skew=dt.timedelta(minutes=2),
    v1_accepted_until=NOW + dt.timedelta(days=1),
)


def vector_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(TEST_VECTOR.private_key_seed_hex))


def registered(private: Ed25519PrivateKey, agency_id: str, **kw: dt.datetime) -> SigningKey:
    public = raw_public_key(private)
    return SigningKey(key_id_for(agency_id, public), agency_id, public, T0, kw.get("revoked_at"))


def vector_headers() -> dict[str, str]:
    assert TEST_VECTOR.signed_at is not None
    return {HEADER_SIGNED_AT: TEST_VECTOR.signed_at, HEADER_SIGNATURE: TEST_VECTOR.signature_header}


def check(
    signed: dict[str, str] | str | None,
    keys: list[SigningKey],
    *,
    producer: str = "lg-phuket-city",
    value: bytes = TEST_VECTOR.value,
    event_type: str = TEST_VECTOR.event_type,
    topic: str = INTAKE,
    at: dt.datetime = NOW,
    received_at: dt.datetime | None = RECEIVED,
    policy: ClaimPolicy = POLICY,
) -> Authenticated | Unauthenticated:
    headers = {topics.HEADER_EVENT_TYPE: event_type.encode()}
    if isinstance(signed, str):
        signed = {HEADER_SIGNATURE: signed}
    for name, text in (signed or {}).items():
        headers[name] = text.encode()
    return verify(
        value=value,
        key=TEST_VECTOR.key,
        headers=headers,
        topic=topic,
        producer=producer,
        agencies={"lg-phuket-city", "lg-khon-kaen-city"},
        keys={k.key_id: k for k in keys},
        at=at,
        policy=policy,
        received_at=received_at,
    )


def reason(verdict: Authenticated | Unauthenticated) -> str:
    assert isinstance(verdict, Unauthenticated), verdict
    return verdict.reason


def own_keys() -> list[SigningKey]:
    return [registered(vector_key(), "lg-phuket-city")]


def test_the_documented_test_vector() -> None:
    private = vector_key()
    key_id = key_id_for(TEST_VECTOR.agency_id, raw_public_key(private))
    assert SIGNED_AT is not None
    headers = sign(
        private,
        key_id,
        TEST_VECTOR.value,
        TEST_VECTOR.key,
        TEST_VECTOR.event_type,
        topic=INTAKE,
        signed_at=SIGNED_AT,
    )
    assert headers == vector_headers()
    assert check(headers, own_keys()) == Authenticated(key_id, 2, SIGNED_AT)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.name)
def test_every_shared_test_vector_the_java_kit_also_signs(vector: SigningVector) -> None:
    """contracts/reference/signing-vectors.json: the same file kit-java's tests read."""
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector.private_key_seed_hex))
    assert raw_public_key(private).hex() == vector.public_key_hex
    assert key_id_for(vector.agency_id, bytes.fromhex(vector.public_key_hex)) == vector.key_id
    assert hashlib.sha256(vector.signing_input()).hexdigest() == vector.signing_input_sha256_hex
    if vector.version == 1:
        header = sign_v1(private, vector.key_id, vector.value, vector.key, vector.event_type)
        assert header == vector.signature_header
        return
    assert vector.topic is not None
    assert vector.signed_at is not None
    at = parse_signed_at(vector.signed_at)
    assert at is not None
    headers = sign(
        private,
        vector.key_id,
        vector.value,
        vector.key,
        vector.event_type,
        topic=vector.topic,
        signed_at=at,
    )
    assert headers == {
        HEADER_SIGNED_AT: vector.signed_at,
        HEADER_SIGNATURE: vector.signature_header,
    }


def test_the_signing_input_is_length_prefixed_parts_after_the_domain_line() -> None:
    data = signing_input(
        b"{}", b"K1", b"ProposalSubmitted", topic=b"t.intake", signed_at=b"2026-01-01T00:00:00Z"
    )
    assert data == (
        b"smartcity-claim-v2\n"
        + b"\x00\x00\x00\x08t.intake"
        + b"\x00\x00\x00\x142026-01-01T00:00:00Z"
        + b"\x00\x00\x00\x02K1"
        + b"\x00\x00\x00\x11ProposalSubmitted"
        + b"\x00\x00\x00\x02{}"
    )
    assert signing_input(b"{}", None, b"X", topic=b"t", signed_at=b"s") == signing_input(
        b"{}", b"", b"X", topic=b"t", signed_at=b"s"
    )
    # Moving a byte from one part to the next changes the input.
    assert signing_input(b"{}", b"K1", b"A", topic=b"ta", signed_at=b"s") != signing_input(
        b"{}", b"K1", b"A", topic=b"t", signed_at=b"as"
    )
    assert signing_input_v1(b"{}", b"K1", b"A").startswith(b"smartcity-claim-v1\n")


def test_the_signed_at_header_is_utc_to_the_millisecond() -> None:
    at = dt.datetime(2026, 12, 6, 16, 30, 5, 123999, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    assert format_signed_at(at) == "2026-12-06T09:30:05.123Z"
    assert parse_signed_at("2026-12-06T09:30:05.123Z") == at.replace(microsecond=123000)
    assert parse_signed_at("2026-12-06T09:30:05Z") == at.replace(microsecond=0)
    assert parse_signed_at("2026-12-06T09:30:05.123456789Z") == at.replace(microsecond=123456)
    for bad in ("", "2026-12-06T09:30:05+07:00", "2026-12-06 09:30:05Z", "2026-13-06T09:30:05Z"):
        assert parse_signed_at(bad) is None


@pytest.mark.parametrize(
    ("signed", "why"),
    [
        (None, "unsigned"),
        ("", "malformed"),
        ("keyid=x;ed25519=short", "malformed"),
        ("ed25519=" + "A" * 86 + "==", "malformed"),
        ("v=3;keyid=lg-phuket-city:56475aa75463474c;ed25519=" + "A" * 86 + "==", "malformed"),
        # Version 2 without its signed-at header, or with one in another form.
        ({HEADER_SIGNATURE: TEST_VECTOR.signature_header}, "malformed"),
        (
            {HEADER_SIGNATURE: TEST_VECTOR.signature_header, HEADER_SIGNED_AT: "yesterday"},
            "malformed",
        ),
    ],
)
def test_missing_or_malformed_signatures(signed: dict[str, str] | str | None, why: str) -> None:
    assert reason(check(signed, own_keys())) == why


def test_a_changed_byte_of_value_key_event_type_or_signed_at_breaks_the_signature() -> None:
    changed = TEST_VECTOR.value.replace(b'"reason":null', b'"reason":"x"  ')
    later = {**vector_headers(), HEADER_SIGNED_AT: "2022-08-01T09:30:06.250Z"}
    for verdict in (
        check(vector_headers(), own_keys(), value=changed),
        check(vector_headers(), own_keys(), event_type="ProposalSubmitted"),
        check(later, own_keys()),
    ):
        assert reason(verdict) == "bad_signature"


def test_a_claim_is_bound_to_its_topic_and_namespace() -> None:
    """The same bytes read from another topic, or from the intake topic of another deployment
    (namespace), do not verify."""
    assert isinstance(check(vector_headers(), own_keys()), Authenticated)
    for elsewhere in ("smartcity.proposals", "test-1.smartcity.intake", "smartcity.intake2"):
        assert reason(check(vector_headers(), own_keys(), topic=elsewhere)) == "bad_signature"


def test_a_claim_signed_too_long_before_it_reached_the_broker_is_expired() -> None:
    assert SIGNED_AT is not None
    limit = SIGNED_AT + POLICY.max_age
    assert isinstance(check(vector_headers(), own_keys(), received_at=limit), Authenticated)
    late = limit + dt.timedelta(milliseconds=1)
    verdict = check(vector_headers(), own_keys(), received_at=late)
    assert reason(verdict) == "expired"
    assert isinstance(verdict, Unauthenticated)
    assert "600 s" in verdict.detail


def test_a_claim_signed_too_far_in_the_future_is_expired() -> None:
    assert SIGNED_AT is not None
    limit = SIGNED_AT - POLICY.max_skew
    assert isinstance(check(vector_headers(), own_keys(), received_at=limit), Authenticated)
    early = limit - dt.timedelta(milliseconds=1)
    assert reason(check(vector_headers(), own_keys(), received_at=early)) == "expired"


def test_age_is_judged_by_when_the_broker_took_the_claim_not_when_it_is_consumed() -> None:
    """A service that was down for a day still accepts what agencies sent on time."""
    day_later = RECEIVED + dt.timedelta(days=1)
    verdict = check(vector_headers(), own_keys(), at=day_later)
    assert isinstance(verdict, Authenticated)


def test_the_audit_re_verifies_a_signature_without_judging_its_age() -> None:
    years = RECEIVED + dt.timedelta(days=800)
    assert isinstance(
        check(vector_headers(), own_keys(), received_at=None, policy=AUDIT_POLICY), Authenticated
    )
    assert reason(check(vector_headers(), own_keys(), received_at=years)) == "expired"


def test_an_expired_claim_with_a_bad_signature_is_refused_for_its_signature() -> None:
    late = RECEIVED + dt.timedelta(days=1)
    verdict = check(vector_headers(), own_keys(), received_at=late, topic="smartcity.proposals")
    assert reason(verdict) == "bad_signature"


def test_version_1_is_accepted_until_the_deprecation_time_and_refused_after_it() -> None:
    assert POLICY.v1_accepted_until is not None
    v1 = V1_VECTOR.signature_header
    before = check(v1, own_keys(), at=POLICY.v1_accepted_until - dt.timedelta(seconds=1))
    assert before == Authenticated(V1_VECTOR.key_id, 1, None)
    after = check(v1, own_keys(), at=POLICY.v1_accepted_until)
    assert reason(after) == "deprecated_version"
    # Its age cannot be judged (it has no signed-at time), so it is never `expired`.
    assert isinstance(check(v1, own_keys(), received_at=NOW + dt.timedelta(days=1)), Authenticated)
    # No deprecation time set: accepted.
    forever = ClaimPolicy(v1_accepted_until=None)
    far = NOW + dt.timedelta(days=3650)
    assert isinstance(check(v1, own_keys(), at=far, policy=forever), Authenticated)


def test_a_version_1_signature_does_not_verify_as_version_2_or_the_reverse() -> None:
    """The domain lines differ: removing `v=2;` (a downgrade) or adding it breaks the
    signature."""
    downgraded = TEST_VECTOR.signature_header.removeprefix("v=2;")
    assert reason(check(downgraded, own_keys())) == "bad_signature"
    upgraded = {HEADER_SIGNATURE: "v=2;" + V1_VECTOR.signature_header, HEADER_SIGNED_AT: "x"}
    assert reason(check(upgraded, own_keys())) == "malformed"
    assert TEST_VECTOR.signed_at is not None
    upgraded[HEADER_SIGNED_AT] = TEST_VECTOR.signed_at
    assert reason(check(upgraded, own_keys())) == "bad_signature"


def test_another_agencys_key_an_unknown_key_and_an_unknown_agency() -> None:
    other = Ed25519PrivateKey.generate()
    other_key = registered(other, "lg-khon-kaen-city")
    assert SIGNED_AT is not None
    headers = sign(
        other,
        other_key.key_id,
        TEST_VECTOR.value,
        TEST_VECTOR.key,
        "ProposalWithdrawn",
        topic=INTAKE,
        signed_at=SIGNED_AT,
    )
    assert reason(check(headers, [other_key])) == "wrong_agency"
    assert reason(check(headers, [])) == "unknown_key"
    assert reason(check(vector_headers(), own_keys(), producer="lg-atlantis")) == "unknown_agency"


def test_a_key_is_current_from_registration_until_revocation() -> None:
    revoked = [registered(vector_key(), "lg-phuket-city", revoked_at=NOW)]
    before = check(vector_headers(), revoked, at=NOW - dt.timedelta(seconds=1))
    assert isinstance(before, Authenticated)
    assert reason(check(vector_headers(), revoked, at=NOW)) == "revoked_key"
    early = check(vector_headers(), revoked, at=T0 - dt.timedelta(days=1))
    assert reason(early) == "key_not_yet_valid"
