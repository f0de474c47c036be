"""The failure policy every consumer applies (services/common/consumer.py), with fakes."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pymongo.errors import AutoReconnect

from smartcity_th.contracts.agencies import agency
from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.proposals import ProposalWithdrawn
from smartcity_th.contracts.registry import Registry
from smartcity_th.contracts.signing import SigningKey, raw_public_key, sign
from smartcity_th.contracts.topics import HEADER_EMITTED_BY, HEADER_EVENT_TYPE, Topics
from smartcity_th.kit import ClaimSigner
from smartcity_th.services.common.consumer import EventConsumer
from smartcity_th.services.common.dead_letters import Unprocessable
from smartcity_th.services.common.facts import FactCheck
from smartcity_th.services.common.record import Record

SIGNERS = {
    name: ClaimSigner(
        name, Ed25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest())
    )
    for name in ("svc-proposals", "svc-approvals", "svc-console")
}
KEYS_FROM = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass
class FakeRaw:
    value: bytes
    topic: str = "smartcity.proposals"
    partition: int = 2
    offset: int = 41
    key: bytes | None = b"SC-1"
    headers: tuple[tuple[str, bytes], ...] = ((HEADER_EMITTED_BY, b"svc-proposals"),)
    timestamp: int | None = None
    timestamp_type: int = 1


@dataclass
class FakeDeadLetters:
    topic = "smartcity.deadletter"
    sent: list[dict[str, Any]] = field(default_factory=list)
    topics: Topics = field(default_factory=Topics)

    async def send(self, record: Record, **kwargs: Any) -> None:
        self.sent.append({"record": record, **kwargs})


def event() -> bytes:
    env = new_envelope(
        ProposalWithdrawn(applicant="lg-phuket-city"), producer="lg-phuket-city", proposal_id="SC-1"
    )
    return env.to_bytes()


def consumer(
    letters: FakeDeadLetters, attempts: int = 3, facts: FactCheck | None = None
) -> EventConsumer:
    return EventConsumer(
        "test",
        letters,  # type: ignore[arg-type]
        max_attempts=attempts,
        base_delay=0.001,
        max_delay=0.002,
        facts=facts,
    )


async def test_an_unparseable_record_is_dead_lettered_with_its_bytes_and_reason() -> None:
    letters = FakeDeadLetters()
    calls: list[AnyEnvelope] = []

    async def handler(env: AnyEnvelope) -> None:
        calls.append(env)

    await consumer(letters).process(FakeRaw(b"{oops"), handler)
    assert calls == []
    [letter] = letters.sent
    assert letter["kind"] == "parse"
    assert "not JSON" in letter["error"]
    assert letter["record"].value == b"{oops"
    assert (letter["record"].partition, letter["record"].offset) == (2, 41)


async def test_a_schema_violation_names_the_field() -> None:
    letters = FakeDeadLetters()
    body = event().replace(b'"producer":"lg-phuket-city"', b'"producer":"NOT VALID"')

    async def handler(env: AnyEnvelope) -> None:
        raise AssertionError("must not be called")

    await consumer(letters).process(FakeRaw(body), handler)
    [letter] = letters.sent
    assert letter["kind"] == "validation"
    assert letter["error"].startswith("producer:")


async def test_unprocessable_is_dead_lettered_at_once() -> None:
    letters = FakeDeadLetters()
    calls = 0

    async def handler(env: AnyEnvelope) -> None:
        nonlocal calls
        calls += 1
        raise Unprocessable("unauthorised", "lg-x may not do that")

    await consumer(letters).process(FakeRaw(event()), handler)
    assert calls == 1
    assert [(m["kind"], m["error"]) for m in letters.sent] == [
        ("unauthorised", "lg-x may not do that")
    ]


async def test_transient_errors_are_retried_until_they_pass_and_nothing_is_dead_lettered() -> None:
    letters = FakeDeadLetters()
    calls = 0

    async def handler(env: AnyEnvelope) -> None:
        nonlocal calls
        calls += 1
        if calls < 12:  # more than max_attempts: transient errors are not counted
            raise AutoReconnect("FerretDB restarting")

    await consumer(letters, attempts=3).process(FakeRaw(event()), handler)
    assert calls == 12
    assert letters.sent == []


@pytest.mark.parametrize("attempts", [1, 3])
async def test_other_errors_are_retried_a_bounded_number_of_times_then_dead_lettered(
    attempts: int,
) -> None:
    letters = FakeDeadLetters()
    calls = 0

    async def handler(env: AnyEnvelope) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("bug")

    await consumer(letters, attempts=attempts).process(FakeRaw(event()), handler)
    assert calls == attempts
    [letter] = letters.sent
    assert letter["kind"] == "processing"
    assert letter["attempts"] == attempts
    assert letter["error"] == "ValueError: bug"
    assert letter["event_type"] == "ProposalWithdrawn"


def fact_check(*owners: str, registered: dt.datetime = KEYS_FROM) -> FactCheck:
    """A fact check whose registry knows the tests' keys of `owners` (from `registered`)."""
    registry = Registry()
    for owner in owners:
        registry.signing_keys[SIGNERS[owner].key_id] = SigningKey(
            SIGNERS[owner].key_id, owner, raw_public_key(SIGNERS[owner].private_key), registered
        )
        registry.agencies[owner] = agency("svc-proposals")
    return FactCheck("test", SimpleNamespace(state=registry))  # type: ignore[arg-type]


def signed_fact(topic: str, signer: str, signed_for: str | None = None) -> FakeRaw:
    body = event()
    by = SIGNERS[signer]
    headers = sign(
        by.private_key,
        by.key_id,
        body,
        b"SC-1",
        "ProposalWithdrawn",
        topic=signed_for or topic,
        signed_at=dt.datetime.now(dt.UTC),
    )
    return FakeRaw(
        body,
        topic=topic,
        headers=(
            (HEADER_EVENT_TYPE, b"ProposalWithdrawn"),
            (HEADER_EMITTED_BY, b"svc-proposals"),
            *((k, v.encode()) for k, v in headers.items()),
        ),
        timestamp=int(time.time() * 1000),
    )


async def test_a_fact_signed_by_its_owner_is_handled() -> None:
    letters = FakeDeadLetters()
    calls: list[AnyEnvelope] = []

    async def handler(env: AnyEnvelope) -> None:
        calls.append(env)

    check = fact_check("svc-proposals")
    await consumer(letters, facts=check).process(
        signed_fact("smartcity.proposals", "svc-proposals"), handler
    )
    assert len(calls) == 1
    assert letters.sent == []


def unsigned(raw: FakeRaw) -> FakeRaw:
    raw.headers = tuple((k, v) for k, v in raw.headers if not k.startswith("smartcity-sign"))
    return raw


def mis_signed(raw: FakeRaw) -> FakeRaw:
    raw.value = raw.value.replace(b"lg-phuket-city", b"lg-khon-kaen-city")
    return raw


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (unsigned(signed_fact("smartcity.proposals", "svc-proposals")), "unsigned: "),
        (signed_fact("smartcity.proposals", "svc-console"), "wrong_agency: "),
        (mis_signed(signed_fact("smartcity.proposals", "svc-proposals")), "bad_signature: "),
        (
            signed_fact("smartcity.proposals", "svc-proposals", "test.smartcity.proposals"),
            "bad_signature: ",
        ),
        (signed_fact("smartcity.decisions", "svc-approvals"), "not_owned: "),
    ],
    ids=["unsigned", "the console's key", "altered", "signed for another topic", "not its fact"],
)
async def test_a_fact_its_owner_did_not_sign_is_dead_lettered_not_handled(
    raw: FakeRaw, says: str
) -> None:
    """The stamp header says svc-proposals every time: it is not what is trusted."""
    letters = FakeDeadLetters()
    calls: list[AnyEnvelope] = []

    async def handler(env: AnyEnvelope) -> None:
        calls.append(env)

    check = fact_check("svc-proposals", "svc-approvals", "svc-console")
    outcome = await consumer(letters, facts=check).process(raw, handler)
    assert calls == []
    assert outcome == "unverified_fact"
    [letter] = letters.sent
    assert letter["kind"] == "unverified_fact"
    assert letter["error"].startswith(says)


async def test_an_unsigned_fact_from_before_the_owners_first_key_is_handled() -> None:
    """The cut-over: what the broker took before the owner's first key was registered."""
    letters = FakeDeadLetters()
    calls: list[AnyEnvelope] = []

    async def handler(env: AnyEnvelope) -> None:
        calls.append(env)

    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    check = fact_check("svc-proposals", registered=later)
    await consumer(letters, facts=check).process(
        unsigned(signed_fact("smartcity.proposals", "svc-proposals")), handler
    )
    assert len(calls) == 1
    assert letters.sent == []


async def test_claims_on_the_intake_topic_need_no_stamp() -> None:
    letters = FakeDeadLetters()
    calls: list[AnyEnvelope] = []

    async def handler(env: AnyEnvelope) -> None:
        calls.append(env)

    await consumer(letters).process(FakeRaw(event(), topic="smartcity.intake", headers=()), handler)
    assert len(calls) == 1
    assert letters.sent == []


# --- hostile records (issue 13): nothing about one record may stop the consumer ---------------


@dataclass
class BrokenDeadLetters(FakeDeadLetters):
    """Refuses every full letter, as a letter built from a poisonous record would be refused."""

    topic: str = "smartcity.deadletter"
    refused: int = 0

    async def send(self, record: Record, **kwargs: Any) -> None:
        if not kwargs.get("minimal"):
            self.refused += 1
            raise ValueError("cannot encode the letter")
        self.sent.append({"record": record, **kwargs})


async def test_a_lone_surrogate_is_refused_at_parsing_and_never_becomes_an_id() -> None:
    letters = FakeDeadLetters()

    async def handler(env: AnyEnvelope) -> None:
        raise AssertionError("must not be called")

    await consumer(letters).process(FakeRaw(b'{"event_id":"\\ud800","event_type":"X"}'), handler)
    [letter] = letters.sent
    assert letter["kind"] == "validation"
    assert letter["error"].startswith("event_id: ")
    assert "surrogate" in letter["error"]
    assert letter["event_id"] is None


async def test_a_dead_letter_that_cannot_be_sent_whole_falls_back_to_the_minimal_one() -> None:
    letters = BrokenDeadLetters()

    async def handler(env: AnyEnvelope) -> None:
        raise Unprocessable("unauthorised", "no")

    body = event()
    await consumer(letters).process(FakeRaw(body), handler)
    assert letters.refused == 1
    [letter] = letters.sent
    assert letter["minimal"] is True
    assert letter["record"].value == body


async def test_a_producer_answer_that_fails_still_dead_letters_the_record() -> None:
    letters = FakeDeadLetters()

    async def handler(env: AnyEnvelope) -> None:
        return None

    async def answer(value: bytes | None, error: Exception) -> None:
        raise ValueError("cannot build the refusal")

    body = event().replace(b'"proposal_id":"SC-1"', b'"proposal_id":"SC-ABCDEFGH\\n"')
    await consumer(letters).process(FakeRaw(body), handler, on_invalid=answer)
    [letter] = letters.sent
    assert letter["kind"] == "validation"
    assert "answering the producer failed" in letter["error"]


async def test_a_record_handler_that_keeps_failing_is_dead_lettered_then_left() -> None:
    letters = BrokenDeadLetters()
    seen: list[Record] = []

    async def handler(record: Record) -> None:
        seen.append(record)
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

    await consumer(letters, attempts=2).process_record(FakeRaw(b"x"), handler)
    assert len(seen) == 2
    [letter] = letters.sent
    assert letter["kind"] == "processing"


async def test_odd_headers_and_values_are_coerced_never_raised() -> None:
    raw = FakeRaw(b"{}", headers=((b"\xff", None), ("ok", "\ud800")))  # type: ignore[arg-type]
    record = Record.from_consumer_record(raw)
    assert record.headers == (("\ufffd", b""), ("ok", "\ufffd".encode()))


def test_every_dead_letter_fits_in_one_kafka_record() -> None:
    from smartcity_th.contracts.topics import Topics
    from smartcity_th.services.common.dead_letters import MAX_LETTER_BYTES, DeadLetters

    big = Record("smartcity.intake", 0, 1, b"k" * 5000, b"\xff" * 900_000, (("h", b"v" * 5000),))
    builder = DeadLetters(None, Topics())  # type: ignore[arg-type]
    letter = builder.build(big, consumer="test", kind="parse", error="\ud800 too big", attempts=1)
    assert letter.value_truncated
    assert len(letter.model_dump_json()) <= MAX_LETTER_BYTES
    assert letter.error == "\ufffd too big"
    small = Record("smartcity.intake", 0, 1, b"SC-1", b"{}", ())
    whole = builder.build(small, consumer="t", kind="parse", error="e", attempts=1, event_id="x")
    assert not whole.value_truncated
    assert whole.event_id is None
    assert whole.value == b"{}"
