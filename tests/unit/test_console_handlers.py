"""The console's handlers (services/console/handlers.py) on the in-memory audit log
(`tests/unit/fakes/audit.py`, kept honest by `tests/audit_contract.py`): what each consumed record
becomes in the log, and the replay of a dead letter, which re-publishes the original record
exactly as Kafka holds it (value, key, headers in their order), and only when the dead letter's
copy matches it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pytest

from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.proposals import ProposalSubmitted, ProposalWithdrawn
from smartcity_th.contracts.refusal import Refusal, RefusalKind
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.dead_letters import CUT_VALUE_BYTES, DeadLetters
from smartcity_th.services.common.kafka import StoredRecord
from smartcity_th.services.common.record import Record
from smartcity_th.services.console.chain import Verifier
from smartcity_th.services.console.handlers import NotFound, Recorder, Replayer, ReplayResult
from tests.builders import content, new_proposal_id, submission
from tests.unit.fakes.audit import InMemoryAuditLog

TOPICS = Topics("test-h.")
NOW = dt.datetime(2026, 12, 7, 9, 30, 15, 123_000, tzinfo=dt.UTC)
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
"""A fact as Kafka holds it at decisions:3:17."""


def as_record(env: AnyEnvelope, topic: str, offset: int) -> Record:
    headers = tuple((k, v.encode()) for k, v in env.headers().items())
    return Record(topic, 0, offset, env.key, env.to_bytes(), headers)


def dead_letter(
    original: StoredRecord,
    offset: int,
    *,
    consumer: str = "proposals",
    at: str | None = None,
    whole: bool = True,
) -> Record:
    """The dead-letter record a consumer writes about `original` (read at decisions:3:17;
    `whole=False`: the short letter, which cuts what is too large to keep)."""
    raw = Record(
        at or TOPICS.decisions, 3, 17, original.key, original.value, original.headers, None, False
    )
    letter = DeadLetters(None, TOPICS).build(  # type: ignore[arg-type]  # (only building)
        raw,
        consumer=consumer,
        kind="unverified_fact",
        error="revoked_key: ...",
        attempts=1,
        minimal=not whole,
    )
    return Record(TOPICS.deadletter, 0, offset, original.key, letter.model_dump_json().encode(), ())


class Kafka:
    """What the replayer reads back and publishes: the original records by their place, and
    what was sent."""

    def __init__(self, held: dict[tuple[str, int, int], StoredRecord]) -> None:
        self.held = held
        self.sent: list[tuple[StoredRecord, str]] = []

    async def fetch(self, topic: str, partition: int, offset: int) -> StoredRecord | None:
        return self.held.get((topic, partition, offset))

    async def publish(self, record: StoredRecord, topic: str) -> None:
        self.sent.append((record, topic))


def console(
    held: StoredRecord | None = ORIGINAL,
) -> tuple[InMemoryAuditLog, Recorder, Replayer, Kafka]:
    log = InMemoryAuditLog()
    kafka = Kafka({(TOPICS.decisions, 3, 17): held} if held is not None else {})
    recorder = Recorder(log, TOPICS, clock=lambda: NOW)
    replayer = Replayer(log, kafka.publish, TOPICS, kafka.fetch, clock=lambda: NOW)
    return log, recorder, replayer, kafka


async def letter_id(log: InMemoryAuditLog, seq: int) -> str:
    (entry,) = await log.page({"seq": seq})
    return str(entry["dead_letter_id"])


# ---- Recorder ----


async def test_a_fact_is_stored_with_its_stage_and_what_carries_forward_to_later_entries() -> None:
    _, recorder, _, _ = console()
    pid = new_proposal_id()
    submitted = new_envelope(
        ProposalSubmitted(applicant="lg-phuket-city", content=content()),
        producer="svc-proposals",
        proposal_id=pid,
    )
    withdrawn = new_envelope(
        ProposalWithdrawn(applicant="lg-phuket-city"), producer="svc-proposals", proposal_id=pid
    )
    first = await recorder.record(as_record(submitted, TOPICS.proposals, 1))
    later = await recorder.record(as_record(withdrawn, TOPICS.proposals, 2))
    assert first is not None
    assert later is not None
    assert (first["kind"], first["stage"], first["event_type"]) == (
        "event",
        "submitted",
        "ProposalSubmitted",
    )
    assert (first["proposal_id"], first["province_code"], first["agency"]) == (
        pid,
        "83",
        "lg-phuket-city",
    )
    assert (later["stage"], later["province_code"], later["agency"]) == (
        "withdrawn",
        "83",
        "lg-phuket-city",
    )
    assert (later["proposal_seq"], later["proposal_prev_hash"]) == (2, first["hash"])
    body = json.loads(later["body"])
    assert (body["source"], body["recorded_at"]) == ("smartcity.proposals:0:2", NOW.isoformat())
    assert body["envelope"]["event_id"] == str(withdrawn.event_id)


async def test_a_claim_is_stored_as_what_an_agency_asked_for_with_no_stage() -> None:
    _, recorder, _, _ = console()
    claim = submission("lg-phuket-city")
    entry = await recorder.record(as_record(claim, TOPICS.intake, 7))
    assert entry is not None
    assert (entry["kind"], entry["stage"], entry["producer"]) == ("claim", None, "lg-phuket-city")
    assert entry["proposal_id"] == claim.proposal_id
    assert json.loads(entry["body"])["summary"].startswith("claim (not yet accepted): ")


async def test_a_record_that_is_not_an_event_is_stored_raw_once_however_often_it_comes() -> None:
    log, recorder, _, _ = console()
    record = Record(TOPICS.intake, 2, 9, b"SC-raw-1", b"{not json", ())
    entry = await recorder.record(record)
    assert entry is not None
    assert (entry["kind"], entry["proposal_id"]) == ("raw", "SC-raw-1")
    assert entry["error"].startswith("(value): not JSON")
    assert await recorder.record(record) is None  # redelivered
    assert [e["source"] for e in await log.page({})] == ["smartcity.intake:2:9"]


async def test_a_dead_letter_is_stored_with_its_id_and_everything_recorded_chains() -> None:
    log, recorder, _, _ = console()
    await recorder.record(as_record(submission("lg-phuket-city"), TOPICS.intake, 1))
    entry = await recorder.record(dead_letter(ORIGINAL, 1))
    assert entry is not None
    assert (entry["kind"], entry["proposal_id"]) == ("deadletter", "SC-1")  # by its key
    assert entry["dead_letter_id"]
    assert (await log.dead_letter(entry["dead_letter_id"]) or {}).get("seq") == 2
    assert Verifier().feed(await log.page({})) is None


# ---- Replayer ----


async def test_a_replay_sends_the_record_kafka_holds_and_records_who_did_it() -> None:
    log, recorder, replayer, kafka = console()
    await recorder.record(dead_letter(ORIGINAL, 1))
    letter = await letter_id(log, 1)
    result = await replayer.replay(letter, "depa (somchai)")
    assert isinstance(result, ReplayResult)
    assert kafka.sent == [(ORIGINAL, TOPICS.decisions)]
    assert (result.dead_letter_id, result.topic, result.replayed_by, result.at) == (
        letter,
        TOPICS.decisions,
        "depa (somchai)",
        NOW,
    )
    replays = await log.replays_of([letter])
    assert [(r["replayed_by"], r["at"], r["topic"], r["offset"]) for r in replays[letter]] == [
        ("depa (somchai)", NOW, TOPICS.decisions, 17)
    ]
    entries = await log.page({})
    assert [(e["kind"], e["dead_letter_id"], e["producer"]) for e in entries] == [
        ("deadletter", letter, None),
        ("replay", letter, "depa (somchai)"),
    ]
    assert entries[1]["source"] == f"replay:{result.replay_id}"
    assert Verifier().feed(entries) is None


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
    forged = replace(
        ORIGINAL, headers=tuple((k, value if k == name else v) for k, v in ORIGINAL.headers)
    )
    log, recorder, replayer, kafka = console()
    await recorder.record(dead_letter(forged, 1))
    refused = await replayer.replay(await letter_id(log, 1), "depa")
    assert isinstance(refused, Refusal)
    assert "headers" in refused.reason.en
    assert kafka.sent == []


async def test_a_letter_with_a_header_the_original_lacks_is_not_replayed() -> None:
    more = replace(ORIGINAL, headers=(*ORIGINAL.headers, ("x-extra", b"1")))
    log, recorder, replayer, kafka = console()
    await recorder.record(dead_letter(more, 1))
    assert isinstance(await replayer.replay(await letter_id(log, 1), "depa"), Refusal)
    assert kafka.sent == []


@pytest.mark.parametrize(
    ("letter", "held", "why"),
    [
        (dead_letter(ORIGINAL, 1, at="test-h.elsewhere"), ORIGINAL, "not one of the project's"),
        (dead_letter(ORIGINAL, 1, at=TOPICS.deadletter), ORIGINAL, "not one of the project's"),
        (dead_letter(ORIGINAL, 1, consumer="someone"), ORIGINAL, "not written by one of"),
        (dead_letter(ORIGINAL, 1), None, "not at the topic, partition and offset"),
        (
            dead_letter(replace(ORIGINAL, value=b'{"event_type":"CabinetEndorsed"}'), 1),
            ORIGINAL,
            "differs from it",
        ),
    ],
    ids=["another topic", "the dead-letter topic", "not a service", "gone", "other bytes"],
)
async def test_a_replay_that_is_not_safe_is_refused_as_a_conflict_and_changes_nothing(
    letter: Record, held: StoredRecord | None, why: str
) -> None:
    log, recorder, replayer, kafka = console(held)
    await recorder.record(letter)
    refused = await replayer.replay(await letter_id(log, 1), "depa")
    assert isinstance(refused, Refusal)
    assert refused.kind is RefusalKind.CONFLICT
    assert why in refused.reason.en
    assert refused.reason.th  # the reason in Thai too
    assert kafka.sent == []
    assert await log.replays_of([await letter_id(log, 1)]) == {}
    assert (await log.head())["seq"] == 1


async def test_a_letter_too_large_to_keep_whole_is_not_replayed() -> None:
    large = replace(ORIGINAL, value=b'{"pad":"' + b"x" * CUT_VALUE_BYTES + b'"}')
    log, recorder, replayer, kafka = console(large)
    await recorder.record(dead_letter(large, 1, whole=False))
    refused = await replayer.replay(await letter_id(log, 1), "depa")
    assert isinstance(refused, Refusal)
    assert "too large" in refused.reason.en
    assert kafka.sent == []


async def test_replaying_an_unknown_dead_letter_is_not_found() -> None:
    _, _, replayer, kafka = console()
    with pytest.raises(NotFound):
        await replayer.replay("dl-none", "depa")
    assert kafka.sent == []


async def test_replay_all_chooses_one_letter_per_original_message_by_its_error() -> None:
    log, recorder, replayer, _ = console()
    await recorder.record(dead_letter(ORIGINAL, 1, consumer="proposals"))
    await recorder.record(dead_letter(ORIGINAL, 2, consumer="notifications"))  # same original
    other = replace(ORIGINAL, value=b'{"event_type":"CabinetEndorsed"}')
    await recorder.record(dead_letter(other, 3, at=TOPICS.proposals))
    first, third = await letter_id(log, 1), await letter_id(log, 3)
    assert sorted(await replayer.matching("REVOKED_KEY")) == sorted([first, third])
    assert await replayer.matching("no such error") == []
