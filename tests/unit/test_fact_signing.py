"""Signed facts: a service seals each event when it commits it, every publish sends the stored
bytes and headers, and the one rule (`contracts.signing.verify_fact`) decides whether a record on
a fact topic is its owner's fact, with the cut-over for facts from before signing."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from smartcity_th.contracts import topics
from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.proposals import ProposalWithdrawn
from smartcity_th.contracts.signing import (
    HEADER_SIGNATURE,
    HEADER_SIGNED_AT,
    Authenticated,
    FactVerdict,
    SigningKey,
    Unauthenticated,
    UnsignedBeforeCutOver,
    cut_over,
    raw_public_key,
    sign,
    sign_v1,
    verify_fact,
)
from smartcity_th.kit import ClaimSigner
from smartcity_th.services.common.store import CommitPublisher, record_of

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
SIGNED = T0 + dt.timedelta(days=2)
TOPIC = "test-1.smartcity.proposals"
AGENCIES = {"svc-proposals", "svc-approvals", "svc-console", "lg-phuket-city"}


def signer(agency_id: str) -> ClaimSigner:
    seed = hashlib.sha256(f"facts:{agency_id}".encode()).digest()
    return ClaimSigner(agency_id, Ed25519PrivateKey.from_private_bytes(seed))


PROPOSALS, CONSOLE = signer("svc-proposals"), signer("svc-console")


def key_of(
    s: ClaimSigner, registered: dt.datetime = T0, revoked: dt.datetime | None = None
) -> SigningKey:
    return SigningKey(s.key_id, s.agency_id, raw_public_key(s.private_key), registered, revoked)


def keys(*entries: SigningKey) -> dict[str, SigningKey]:
    return {k.key_id: k for k in entries}


def envelope() -> AnyEnvelope:
    return new_envelope(
        ProposalWithdrawn(applicant="lg-phuket-city"), producer="lg-phuket-city", proposal_id="SC-1"
    )


def fact(by: ClaimSigner = PROPOSALS, topic: str = TOPIC) -> tuple[bytes, bytes, dict[str, bytes]]:
    env = envelope()
    headers = env.headers() | sign(
        by.private_key,
        by.key_id,
        env.to_bytes(),
        env.key,
        env.event_type,
        topic=topic,
        signed_at=SIGNED,
    )
    return env.to_bytes(), env.key, {k: v.encode() for k, v in headers.items()}


def judge(
    value: bytes,
    key: bytes,
    headers: dict[str, bytes],
    known: dict[str, SigningKey],
    received_at: dt.datetime = SIGNED + dt.timedelta(seconds=1),
    topic: str = TOPIC,
) -> FactVerdict:
    return verify_fact(
        value=value,
        key=key,
        headers=headers,
        topic=topic,
        owner="svc-proposals",
        agencies=AGENCIES,
        keys=known,
        received_at=received_at,
    )


def test_a_fact_signed_by_its_owner_verifies_whatever_the_envelope_names_as_producer() -> None:
    verdict = judge(*fact(), keys(key_of(PROPOSALS)))
    assert isinstance(verdict, Authenticated)
    assert verdict.key_id == PROPOSALS.key_id


def test_a_fact_published_hours_after_it_was_signed_still_verifies() -> None:
    """The relay may publish a commit long after it was sealed (a Kafka outage): no max age."""
    verdict = judge(*fact(), keys(key_of(PROPOSALS)), received_at=SIGNED + dt.timedelta(days=3))
    assert isinstance(verdict, Authenticated)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("the console's own key", "wrong_agency"),
        ("value altered", "bad_signature"),
        ("key altered", "bad_signature"),
        ("event type altered", "bad_signature"),
        ("signed for another topic", "bad_signature"),
        ("signed-at altered", "bad_signature"),
        ("unknown key", "unknown_key"),
        ("revoked before the broker took it", "revoked_key"),
        ("registered after the broker took it", "key_not_yet_valid"),
        ("signature version 1", "deprecated_version"),
        ("garbage signature", "malformed"),
        ("unsigned", "unsigned"),
    ],
)
def test_a_fact_its_owner_did_not_sign_is_refused_with_its_reason(case: str, reason: str) -> None:
    value, key, headers = fact(CONSOLE if case == "the console's own key" else PROPOSALS)
    known = keys(key_of(PROPOSALS), key_of(CONSOLE))
    topic = TOPIC
    received = SIGNED + dt.timedelta(seconds=1)
    if case == "value altered":
        value = value.replace(b"lg-phuket-city", b"lg-khon-kaen-city")
    elif case == "key altered":
        key = b"SC-2"
    elif case == "event type altered":
        headers[topics.HEADER_EVENT_TYPE] = b"ProposalSubmitted"
    elif case == "signed for another topic":
        topic = "smartcity.proposals"
    elif case == "signed-at altered":
        headers[HEADER_SIGNED_AT] = b"2026-12-02T23:59:59.000Z"
    elif case == "unknown key":
        known = keys(key_of(CONSOLE))
    elif case == "revoked before the broker took it":
        known = keys(key_of(PROPOSALS, revoked=SIGNED - dt.timedelta(hours=1)))
        received = SIGNED
    elif case == "registered after the broker took it":
        known = keys(key_of(PROPOSALS, registered=SIGNED + dt.timedelta(days=1)))
    elif case == "signature version 1":
        headers[HEADER_SIGNATURE] = sign_v1(
            PROPOSALS.private_key, PROPOSALS.key_id, value, key, "ProposalWithdrawn"
        ).encode()
    elif case == "garbage signature":
        headers[HEADER_SIGNATURE] = b"v=2;keyid=svc-proposals:00;ed25519=AAAA"
    elif case == "unsigned":
        del headers[HEADER_SIGNATURE], headers[HEADER_SIGNED_AT]
    verdict = judge(value, key, headers, known, received_at=received, topic=topic)
    assert isinstance(verdict, Unauthenticated), case
    assert verdict.reason == reason, verdict.detail


def test_the_cut_over_is_the_owners_first_key_revoked_ones_included() -> None:
    first = key_of(signer("svc-proposals"), registered=T0, revoked=T0 + dt.timedelta(days=1))
    second = key_of(signer("svc-proposals2"), registered=T0 + dt.timedelta(days=1))
    second = SigningKey(second.key_id, "svc-proposals", second.public_key, second.registered_at)
    assert cut_over("svc-proposals", keys(first, second)) == T0
    assert cut_over("svc-approvals", keys(first, second)) is None


@pytest.mark.parametrize(
    ("received", "accepted"),
    [(T0 - dt.timedelta(seconds=1), True), (T0, False), (T0 + dt.timedelta(days=30), False)],
)
def test_an_unsigned_fact_is_accepted_only_from_before_the_cut_over(
    received: dt.datetime, accepted: bool
) -> None:
    value, key, headers = fact()
    del headers[HEADER_SIGNATURE], headers[HEADER_SIGNED_AT]
    verdict = judge(value, key, headers, keys(key_of(PROPOSALS)), received_at=received)
    assert bool(verdict) is accepted
    if accepted:
        assert verdict == UnsignedBeforeCutOver("svc-proposals", T0)


def test_an_owner_without_any_key_has_not_cut_over() -> None:
    value, key, headers = fact()
    del headers[HEADER_SIGNATURE], headers[HEADER_SIGNED_AT]
    verdict = judge(value, key, headers, keys(key_of(CONSOLE)))
    assert verdict == UnsignedBeforeCutOver("svc-proposals", None)


# ---- sealing at commit, publishing the stored bytes ----


@dataclass
class FakeBroker:
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def publish(
        self, value: bytes, topic: str, *, key: bytes, headers: dict[str, str]
    ) -> None:
        self.sent.append({"value": value, "topic": topic, "key": key, "headers": headers})


@dataclass
class FakeCommits:
    docs: dict[str, dict[str, Any]]

    async def find_one(self, query: dict[str, Any]) -> dict[str, Any] | None:
        return self.docs.get(query["_id"])

    async def update_one(self, query: dict[str, Any], change: dict[str, Any]) -> None:
        self.docs[query["_id"]].update(change["$set"])


def publisher(broker: FakeBroker, by: ClaimSigner | None = PROPOSALS) -> CommitPublisher:
    return CommitPublisher(
        broker,  # type: ignore[arg-type]
        topics.Topics("test-1."),
        "proposals",
        by,
        clock=lambda: SIGNED,
    )


def test_a_sealed_record_carries_the_stamp_and_the_owners_signature_for_the_namespaced_topic() -> (
    None
):
    record = publisher(FakeBroker()).seal(record_of(envelope()))
    headers = {k: v.encode() for k, v in record["headers"].items()}
    assert headers[topics.HEADER_EMITTED_BY] == b"svc-proposals"
    assert headers[HEADER_SIGNED_AT] == b"2026-12-03T00:00:00.000Z"
    verdict = judge(
        record["value"].encode(), record["key"].encode(), headers, keys(key_of(PROPOSALS))
    )
    assert isinstance(verdict, Authenticated)


def test_sealing_again_keeps_the_first_signature() -> None:
    once = publisher(FakeBroker()).seal(record_of(envelope()))
    again = CommitPublisher(
        FakeBroker(),  # type: ignore[arg-type]
        topics.Topics("test-1."),
        "proposals",
        PROPOSALS,
        clock=lambda: SIGNED + dt.timedelta(days=9),
    ).seal(once)
    assert again["headers"] == once["headers"]


async def test_every_publish_sends_the_stored_bytes_and_headers_as_they_are() -> None:
    broker = FakeBroker()
    sealed = publisher(broker).seal(record_of(envelope()))
    commits = FakeCommits({"SC-1@00000001": {"_id": "SC-1@00000001", "events": [sealed]}})
    later = CommitPublisher(
        broker,  # type: ignore[arg-type]
        topics.Topics("test-1."),
        "proposals",
        PROPOSALS,
        clock=lambda: SIGNED + dt.timedelta(hours=5),
    )  # the relay, hours later
    assert await later.publish_through(commits, "SC-1", 1) == 1  # type: ignore[arg-type]
    [sent] = broker.sent
    assert sent == {
        "value": sealed["value"].encode(),
        "topic": TOPIC,
        "key": b"SC-1",
        "headers": sealed["headers"],
    }
    assert commits.docs["SC-1@00000001"]["published"] is True


async def test_a_commit_stored_before_signing_is_signed_when_published() -> None:
    broker = FakeBroker()
    legacy = record_of(envelope())  # as commits were stored before: no stamp, no signature
    commits = FakeCommits({"SC-1@00000001": {"_id": "SC-1@00000001", "events": [legacy]}})
    await publisher(broker).publish_through(commits, "SC-1", 1)  # type: ignore[arg-type]
    [sent] = broker.sent
    headers = {k: v.encode() for k, v in sent["headers"].items()}
    assert headers[topics.HEADER_EMITTED_BY] == b"svc-proposals"
    assert isinstance(
        judge(sent["value"], sent["key"], headers, keys(key_of(PROPOSALS))), Authenticated
    )


def test_a_service_without_a_key_stamps_but_does_not_sign() -> None:
    record = publisher(FakeBroker(), by=None).seal(record_of(envelope()))
    assert record["headers"][topics.HEADER_EMITTED_BY] == "svc-proposals"
    assert HEADER_SIGNATURE not in record["headers"]
