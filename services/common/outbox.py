"""The single-write outbox.

An aggregate document carries an `outbox` array. The write that changes the aggregate's state
appends, in the same single-document write, the events that change causes. Then:

- the writer publishes the pending entries of that document right away, in order, and removes
  each one once Kafka has acknowledged it (so a request never waits for a poll);
- the relay sweeps for entries a crash (or a Kafka outage) left behind, older than a grace
  period, and publishes them the same way.

Publishing is at-least-once (a crash between the Kafka ack and the removal re-publishes the same
event id); consumers deduplicate by event id. Entries of one document are published strictly in
order, and one in-process lock per document keeps the writer and the relay from interleaving.
FerretDB 1.x has neither transactions nor change streams; this needs neither.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import weakref
from collections.abc import Sequence
from typing import Any

import structlog
from faststream.kafka import KafkaBroker
from prometheus_client import Counter, Gauge
from pymongo.asynchronous.collection import AsyncCollection

from contracts.access import service_principal
from contracts.catalogue import EVENTS
from contracts.envelope import AnyEnvelope
from contracts.topics import HEADER_EMITTED_BY, Topics

log = structlog.get_logger(__name__)

EVENTS_PUBLISHED = Counter(
    "smartcity_events_published_total", "Events published to Kafka", ["service", "event_type"]
)
OUTBOX_PENDING = Gauge(
    "smartcity_outbox_pending", "Outbox entries not yet published (at the last sweep)", ["service"]
)
OUTBOX_OLDEST_AGE = Gauge(
    "smartcity_outbox_oldest_age_seconds",
    "Age of the oldest unpublished outbox entry (at the last sweep)",
    ["service"],
)

Doc = dict[str, Any]


def outbox_entry(envelope: AnyEnvelope, *, topic: str | None = None) -> Doc:
    """What goes into an aggregate's `outbox` array for one event (the bare topic name)."""
    return {
        "event_id": str(envelope.event_id),
        "event_type": envelope.event_type,
        "topic": topic or EVENTS[envelope.event_type].fact_topic,
        "key": envelope.proposal_id,
        "value": envelope.model_dump_json(),
        "headers": envelope.headers(),
        "queued_at": dt.datetime.now(dt.UTC),
    }


class OutboxPublisher:
    """Publishes a document's pending outbox entries in order and removes each one."""

    def __init__(
        self, broker: KafkaBroker, topics: Topics, service: str, *, publish_on_write: bool = True
    ) -> None:
        self._broker = broker
        self.publish_on_write = publish_on_write
        self._topics = topics
        self._service = service
        self._emitter = service_principal(service)
        self._locks: weakref.WeakValueDictionary[tuple[str, Any], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def _lock(self, collection: AsyncCollection[Doc], doc_id: Any) -> asyncio.Lock:
        key = (collection.full_name, doc_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    def lock(self, collection: AsyncCollection[Doc], doc_id: Any) -> asyncio.Lock:
        """The lock that serialises this process's writes to one document, the outbox's
        included. Writers hold it around load-change-save (not around `try_flush`, which takes
        it itself): FerretDB 1.24 applies concurrent conditional updates of one document as
        read-modify-write, so the last writer wins even with a version guard."""
        return self._lock(collection, doc_id)

    async def flush(self, collection: AsyncCollection[Doc], doc_id: Any) -> int:
        """Publish every pending entry of one document; returns how many were published."""
        lock = self._lock(collection, doc_id)
        async with lock:
            doc = await collection.find_one({"_id": doc_id}, {"outbox": 1})
            entries: Sequence[Doc] = (doc or {}).get("outbox") or []
            for entry in entries:
                await self._broker.publish(
                    entry["value"].encode("utf-8"),
                    self._topics.name(entry["topic"]),
                    key=entry["key"].encode("utf-8"),
                    headers={**entry["headers"], HEADER_EMITTED_BY: self._emitter},
                )
                EVENTS_PUBLISHED.labels(self._service, entry["event_type"]).inc()
                # Remove the head entry, guarded by its id. ($pull with a condition would read
                # better, but FerretDB 1.24 compares a $pull condition as a whole value.)
                await collection.update_one(
                    {"_id": doc_id, "outbox.0.event_id": entry["event_id"]},
                    {"$pop": {"outbox": -1}},
                )
            return len(entries)

    async def try_flush(self, collection: AsyncCollection[Doc], doc_id: Any) -> None:
        """Publish now if Kafka is reachable; otherwise leave it to the relay. Never raises
        (the events are safe in the document either way)."""
        if not self.publish_on_write:
            return
        try:
            await self.flush(collection, doc_id)
        except Exception as exc:
            log.warning("outbox.publish_deferred", doc_id=str(doc_id), error=repr(exc))


class OutboxRelay:
    """Sweeps the given collections for outbox entries the writers left behind."""

    def __init__(
        self,
        publisher: OutboxPublisher,
        collections: Sequence[AsyncCollection[Doc]],
        service: str,
        *,
        sweep_seconds: float = 1.0,
        grace_seconds: float = 2.0,
    ) -> None:
        self._publisher = publisher
        self._collections = collections
        self._service = service
        self._sweep = sweep_seconds
        self._grace = grace_seconds

    async def sweep_once(self, *, grace_seconds: float | None = None) -> int:
        """One pass; returns how many entries it published."""
        grace = self._grace if grace_seconds is None else grace_seconds
        now = dt.datetime.now(dt.UTC)
        cutoff = now - dt.timedelta(seconds=grace)
        published = pending = 0
        oldest: dt.datetime | None = None
        for collection in self._collections:
            cursor = collection.find({"outbox.0": {"$exists": True}}, {"outbox.queued_at": 1}).sort(
                "_id", 1
            )
            async for doc in cursor:
                stamps = [e["queued_at"] for e in doc.get("outbox", []) if "queued_at" in e]
                pending += len(stamps)
                if stamps:
                    first = min(stamps)
                    oldest = first if oldest is None else min(oldest, first)
                    if first <= cutoff:
                        published += await self._publisher.flush(collection, doc["_id"])
        OUTBOX_PENDING.labels(self._service).set(max(pending - published, 0))
        OUTBOX_OLDEST_AGE.labels(self._service).set(
            0 if oldest is None or published >= pending else (now - oldest).total_seconds()
        )
        return published

    async def run(self) -> None:
        while True:
            try:
                count = await self.sweep_once()
                if count:
                    log.info("outbox.relayed", count=count)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox.sweep_failed", error=repr(exc))
            await asyncio.sleep(self._sweep)
