"""The Python integrator kit signs signature version 2: for the topic it sends to, at the time it
sends (again on every send), over the exact bytes it sends."""

from __future__ import annotations

import datetime as dt

from smartcity_th.contracts import topics
from smartcity_th.contracts.envelope import new_envelope
from smartcity_th.contracts.proposals import ProposalWithdrawn
from smartcity_th.contracts.signing import (
    HEADER_SIGNATURE,
    HEADER_SIGNED_AT,
    Authenticated,
    ClaimPolicy,
    SigningKey,
    Unauthenticated,
    Verdict,
    parse_signed_at,
    raw_public_key,
    verify,
)
from smartcity_th.kit import SignedRecord
from tests.support import signer_for

AGENCY = "lg-phuket-city"
SIGNER = signer_for(AGENCY)
KEYS = {
    SIGNER.key_id: SigningKey(
        SIGNER.key_id,
        AGENCY,
        raw_public_key(SIGNER.private_key),
        dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )
}


def withdrawal() -> SignedRecord:
    envelope = new_envelope(
        ProposalWithdrawn(applicant=AGENCY, reason="a test"),
        producer=AGENCY,
        proposal_id="HKT-2569-01",
    )
    return SIGNER.sign(envelope)


def judged(record: SignedRecord, topic: str, received_at: dt.datetime) -> Verdict:
    return verify(
        value=record.value,
        key=record.key,
        headers={k: v.encode() for k, v in record.headers.items()},
        topic=topic,
        producer=AGENCY,
        agencies={AGENCY},
        keys=KEYS,
        at=received_at,
        policy=ClaimPolicy(),
        received_at=received_at,
    )


def signed_at(record: SignedRecord) -> dt.datetime:
    at = parse_signed_at(record.headers[HEADER_SIGNED_AT])
    assert at is not None
    return at


def test_a_claim_is_signed_now_for_the_intake_topic_in_version_2() -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=1)
    record = withdrawal()
    assert record.headers[HEADER_SIGNATURE].startswith(f"v=2;keyid={SIGNER.key_id};ed25519=")
    assert before <= signed_at(record) <= dt.datetime.now(dt.UTC)
    assert record.topic == topics.INTAKE
    verdict = judged(record, topics.INTAKE, signed_at(record))
    assert verdict == Authenticated(SIGNER.key_id, 2, signed_at(record))


def test_sending_signs_again_for_the_producers_topic_at_that_moment() -> None:
    """What `IntakeProducer.send` sends: a namespaced deployment's intake topic gets a claim
    signed for it, and a claim sent again after an outage a fresh time."""
    record = withdrawal()
    namespaced = "test-1.smartcity.intake"
    sent = record.for_sending(namespaced)
    assert sent.value == record.value
    assert sent.key == record.key
    assert sent.topic == namespaced
    assert isinstance(judged(sent, namespaced, signed_at(sent)), Authenticated)
    wrong = judged(sent, topics.INTAKE, signed_at(sent))
    assert isinstance(wrong, Unauthenticated)
    assert wrong.reason == "bad_signature"

    an_hour_later = signed_at(record) + dt.timedelta(hours=1)
    stale = judged(record, topics.INTAKE, an_hour_later)
    assert isinstance(stale, Unauthenticated)
    assert stale.reason == "expired"
    again = record.for_sending(topics.INTAKE)
    assert signed_at(again) >= signed_at(record)
    assert isinstance(judged(again, topics.INTAKE, signed_at(again)), Authenticated)


def test_a_record_made_by_hand_is_sent_exactly_as_it_is() -> None:
    record = withdrawal()
    by_hand = SignedRecord(record.envelope, record.value, record.key, dict(record.headers))
    assert by_hand.for_sending("elsewhere") is by_hand
