"""The failure policy every consumer applies (services/common/consumer.py), with fakes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from contracts.envelope import AnyEnvelope, new_envelope
from contracts.proposals import ProposalWithdrawn
from contracts.topics import HEADER_EMITTED_BY, Topics
from services.common.consumer import EventConsumer, Record, Unprocessable


@dataclass
class FakeRaw:
    value: bytes
    topic: str = "smartcity.proposals"
    partition: int = 2
    offset: int = 41
    key: bytes | None = b"SC-1"
    headers: tuple[tuple[str, bytes], ...] = ((HEADER_EMITTED_BY, b"svc-proposals"),)


@dataclass
class FakeDeadLetters:
    sent: list[dict[str, Any]] = field(default_factory=list)
    topics: Topics = field(default_factory=Topics)

    async def send(self, record: Record, **kwargs: Any) -> None:
        self.sent.append({"record": record, **kwargs})


def event() -> bytes:
    env = new_envelope(
        ProposalWithdrawn(applicant="lg-phuket-city"), producer="lg-phuket-city", proposal_id="SC-1"
    )
    return env.to_bytes()


def consumer(letters: FakeDeadLetters, attempts: int = 3) -> EventConsumer:
    return EventConsumer(
        "test",
        letters,  # type: ignore[arg-type]
        max_attempts=attempts,
        base_delay=0.001,
        max_delay=0.002,
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


@pytest.mark.parametrize(
    ("topic", "headers", "says"),
    [
        ("smartcity.proposals", (), "smartcity-emitted-by is (missing)"),
        ("smartcity.proposals", ((HEADER_EMITTED_BY, b"lg-phuket-city"),), "is lg-phuket-city"),
        ("smartcity.decisions", ((HEADER_EMITTED_BY, b"svc-proposals"),), "not a fact of svc-ap"),
        ("smartcity.decisions", ((HEADER_EMITTED_BY, b"svc-approvals"),), "is not a fact of"),
    ],
)
async def test_a_fact_its_owning_service_did_not_publish_is_dead_lettered_not_handled(
    topic: str, headers: tuple[tuple[str, bytes], ...], says: str
) -> None:
    letters = FakeDeadLetters()
    calls: list[AnyEnvelope] = []

    async def handler(env: AnyEnvelope) -> None:
        calls.append(env)

    await consumer(letters).process(FakeRaw(event(), topic=topic, headers=headers), handler)
    assert calls == []
    [letter] = letters.sent
    assert letter["kind"] == "unauthenticated"
    assert says in letter["error"]


async def test_claims_on_the_intake_topic_need_no_stamp() -> None:
    letters = FakeDeadLetters()
    calls: list[AnyEnvelope] = []

    async def handler(env: AnyEnvelope) -> None:
        calls.append(env)

    await consumer(letters).process(FakeRaw(event(), topic="smartcity.intake", headers=()), handler)
    assert len(calls) == 1
    assert letters.sent == []
