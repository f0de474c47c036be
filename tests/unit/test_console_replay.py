"""A replay re-publishes the original record exactly as Kafka holds it (value, key, headers in
their order), and only when the dead letter's copy matches it, headers included."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.dead_letters import DeadLetters
from smartcity_th.services.common.kafka import StoredRecord
from smartcity_th.services.common.record import Record
from smartcity_th.services.console.handlers import Replayer, ReplayRefused

TOPICS = Topics("test-r.")
ORIGINAL = StoredRecord(
    b'{"event_type":"ProposalScreened"}',
    b"SC-1",
    (
        ("smartcity-event-type", b"ProposalScreened"),
        ("smartcity-emitted-by", b"svc-approvals"),
        ("smartcity-signed-at", b"2026-12-07T00:00:00.000Z"),
        ("smartcity-signature", b"v=2;keyid=svc-approvals:0123456789abcdef;ed25519=AAAA"),
        ("correlation_id", b"faststream's own"),
    ),
)


@dataclass
class FakeAudit:
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    replays: list[dict[str, Any]] = field(default_factory=list)
    appended: list[dict[str, Any]] = field(default_factory=list)

    async def dead_letter(self, dead_letter_id: str) -> dict[str, Any] | None:
        return self.entries.get(dead_letter_id)

    async def record_replay(self, replay: dict[str, Any]) -> None:
        self.replays.append(replay)

    async def context(self, proposal_id: str | None) -> None:
        return None

    async def append(self, proposal_id: str | None, content: dict[str, Any]) -> None:
        self.appended.append(content)


def letter_of(record: StoredRecord) -> dict[str, Any]:
    raw = Record(TOPICS.decisions, 3, 17, record.key, record.value, record.headers, None, False)
    letter = DeadLetters(None, TOPICS).build(  # type: ignore[arg-type]
        raw,
        consumer="proposals",
        kind="unverified_fact",
        error="revoked_key: ...",
        attempts=1,
    )
    return {"body": json.dumps({"deadletter": json.loads(letter.model_dump_json())})}


async def replay(letter: dict[str, Any], held: StoredRecord) -> list[tuple[StoredRecord, str]]:
    sent: list[tuple[StoredRecord, str]] = []

    async def publish(record: StoredRecord, topic: str) -> None:
        sent.append((record, topic))

    async def fetch(topic: str, partition: int, offset: int) -> StoredRecord | None:
        return held if (topic, partition, offset) == (TOPICS.decisions, 3, 17) else None

    audit = FakeAudit({"d-1": letter})
    await Replayer(audit, publish, TOPICS, fetch).replay("d-1", "depa")  # type: ignore[arg-type]
    return sent


async def test_a_replay_sends_the_record_kafka_holds_byte_for_byte_to_its_topic() -> None:
    assert await replay(letter_of(ORIGINAL), ORIGINAL) == [(ORIGINAL, TOPICS.decisions)]


@pytest.mark.parametrize(
    "tampered",
    [
        ("smartcity-signature", b"v=2;keyid=svc-console:0123456789abcdef;ed25519=AAAA"),
        ("smartcity-emitted-by", b"svc-console"),
    ],
    ids=["a header changed", "the stamp changed"],
)
async def test_a_letter_whose_headers_differ_from_the_original_is_not_replayed(
    tampered: tuple[str, bytes],
) -> None:
    name, value = tampered
    forged = StoredRecord(
        ORIGINAL.value,
        ORIGINAL.key,
        tuple((k, value if k == name else v) for k, v in ORIGINAL.headers),
    )
    with pytest.raises(ReplayRefused, match="headers"):
        await replay(letter_of(forged), ORIGINAL)


async def test_a_letter_with_a_header_the_original_lacks_is_not_replayed() -> None:
    more = StoredRecord(ORIGINAL.value, ORIGINAL.key, (*ORIGINAL.headers, ("x-extra", b"1")))
    with pytest.raises(ReplayRefused):
        await replay(letter_of(more), ORIGINAL)
