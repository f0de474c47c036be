"""Thin orchestration: record what was consumed; replay a dead letter."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import Counter

from smartcity_th.contracts.refusal import Refusal
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.kafka import StoredRecord
from smartcity_th.services.common.record import Record
from smartcity_th.services.console.domain import record_to_replay, replay_refusal
from smartcity_th.services.console.ports import AuditLog
from smartcity_th.services.console.projection import Projections, is_stage_entry
from smartcity_th.services.console.records import describe, proposal_of_key, replay_content

log = structlog.get_logger(__name__)

RECORDED = Counter("smartcity_console_records_total", "Records the console consumed", ["outcome"])

Publish = Callable[[StoredRecord, str], Awaitable[None]]
"""Send a record's exact bytes and headers to a topic."""


class Recorder:
    """Appends every consumed record to the audit log, once (a redelivery appends nothing),
    and folds a stage event into the projections (`projection.Projections`; idempotent).
    The failure policy around it is the common one (`EventConsumer.process_record`): outages are
    retried for as long as they last, anything else a bounded number of times, then the record
    is dead-lettered (and comes back to the log as a dead letter)."""

    def __init__(
        self,
        audit: AuditLog,
        topics: Topics,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        projections: Projections | None = None,
    ) -> None:
        self._audit = audit
        self._topics = topics
        self._clock = clock
        self._projections = projections

    async def record(self, record: Record) -> dict[str, Any] | None:
        return await self._record_once(record)

    async def _record_once(self, record: Record) -> dict[str, Any] | None:
        proposal_id = proposal_of_key(record.key)
        previous = await self._audit.context(proposal_id)
        content = describe(record, self._topics, previous, self._clock())
        if proposal_id is None and isinstance(content.get("envelope"), dict):
            proposal_id = content["envelope"].get("proposal_id")
        entry = await self._audit.append(proposal_id, content)
        RECORDED.labels("appended" if entry else "duplicate").inc()
        if self._projections is not None and proposal_id and is_stage_entry(content):
            # Also for a redelivery: the crash that caused it may have come before this.
            await self._projections.project(proposal_id)
        return entry


class NotFound(LookupError):
    pass


FetchOriginal = Callable[[str, int, int], Awaitable[StoredRecord | None]]


@dataclass(frozen=True)
class ReplayResult:
    replay_id: str
    dead_letter_id: str
    topic: str
    replayed_by: str
    at: dt.datetime


class Replayer:
    """Re-publishes a dead letter's original record to its original topic, exactly as Kafka
    holds it (the bytes of its value and key, its headers in their order: a fact keeps its
    owner's signature, a claim its agency's), and records who did it (replays collection and
    an audit entry). The services are idempotent, so replaying something already processed
    changes nothing.

    Only what a service really dead-lettered is replayed (the rules: `replay_refusal` and
    `record_to_replay` in services/console/domain.py): the letter names one of the services'
    consumers and one of the project's topics (never the dead-letter topic), it carries the
    original whole, and the original is read back from Kafka at its topic, partition and offset
    and must have the same value, key and headers as the letter. A forged dead letter (anyone
    who can write the topic can write one) therefore cannot make the console publish bytes that
    were never there, and what is published is the record read back, never the letter's copy.
    Otherwise the replay is refused (a `Refusal`, returned) and nothing is sent or recorded."""

    def __init__(
        self,
        audit: AuditLog,
        publish: Publish,
        topics: Topics,
        fetch_original: FetchOriginal,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._audit = audit
        self._publish = publish
        self._topics = topics
        self._fetch = fetch_original
        self._clock = clock

    async def replay(self, dead_letter_id: str, who: str) -> ReplayResult | Refusal:
        entry = await self._audit.dead_letter(dead_letter_id)
        if entry is None:
            raise NotFound(dead_letter_id)
        letter = json.loads(entry["body"])["deadletter"]
        refused = replay_refusal(letter, self._topics)
        if refused is not None:
            return refused
        original = await self._fetch(
            str(letter["topic"]), int(letter["partition"]), int(letter["offset"])
        )
        chosen = record_to_replay(letter, original)
        if isinstance(chosen, Refusal):
            return chosen
        await self._publish(chosen, letter["topic"])
        at = self._clock()
        replay_id = str(uuid.uuid4())
        await self._audit.record_replay(
            {
                "_id": replay_id,
                "dead_letter_id": dead_letter_id,
                "replayed_by": who,
                "at": at,
                "topic": letter["topic"],
                "partition": letter["partition"],
                "offset": letter["offset"],
            }
        )
        await self._audit.append(
            entry.get("proposal_id"),
            replay_content(
                letter,
                replay_id=replay_id,
                who=who,
                at=at,
                previous=await self._audit.context(entry.get("proposal_id")),
            ),
        )
        log.info("console.replayed", dead_letter_id=dead_letter_id, by=who, topic=letter["topic"])
        return ReplayResult(replay_id, dead_letter_id, letter["topic"], who, at)

    async def matching(self, error: str) -> list[str]:
        """Dead letters whose error contains `error`, one per original message."""
        docs = await self._audit.page({"kind": "deadletter"}, limit=100_000)
        chosen: dict[str, str] = {}
        for doc in docs:
            if error.lower() in (doc.get("error") or "").lower():
                chosen.setdefault(_original(doc), doc["dead_letter_id"])
        return list(chosen.values())


def _original(doc: dict[str, Any]) -> str:
    letter = json.loads(doc["body"])["deadletter"]
    return f"{letter['topic']}:{letter['partition']}:{letter['offset']}"
