"""Publishing the events a delivery's final write just stored in its outbox.

The delivery log uses the single-write outbox (services.common.outbox): the status change and
its NotificationSent/NotificationFailed events are one document write, and the relay publishes
whatever is left behind. Right after that write this publishes the entries it wrote, then
empties the outbox with a write by `_id` alone: on FerretDB 1.24 only a filter that is exactly
`{"_id": value}` is pushed down to SQL, so the relay's guarded `$pop` (`{"_id": x,
"outbox.0.event_id": y}`) would parse every delivery document for every email sent.

A delivery's outbox is written once (by the write that settles it) and holds exactly these
entries, so emptying it after publishing them loses nothing. The relay takes the same
per-document lock; if it published the entries first (they are older than its grace period),
they are published twice: at least once, with the same event ids, which consumers deduplicate.
"""

from __future__ import annotations

from typing import Any

import structlog
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.collection import AsyncCollection

from contracts.topics import Topics
from services.common.outbox import EVENTS_PUBLISHED, OutboxPublisher

log = structlog.get_logger(__name__)

Doc = dict[str, Any]


class SettledEvents:
    def __init__(
        self, broker: KafkaBroker, topics: Topics, outbox: OutboxPublisher, service: str
    ) -> None:
        self._broker = broker
        self._topics = topics
        self._outbox = outbox
        self._service = service

    async def publish(
        self, collection: AsyncCollection[Doc], doc_id: str, entries: list[Doc]
    ) -> None:
        """Publish `entries` (just written as the document's whole outbox) in order, then
        empty the outbox. Never raises: on any error the relay publishes them later."""
        if not self._outbox.publish_on_write or not entries:
            return
        try:
            async with self._outbox.lock(collection, doc_id):
                for entry in entries:
                    await self._broker.publish(
                        entry["value"].encode("utf-8"),
                        self._topics.name(entry["topic"]),
                        key=entry["key"].encode("utf-8"),
                        headers=dict(entry["headers"]),
                    )
                    EVENTS_PUBLISHED.labels(self._service, entry["event_type"]).inc()
                await collection.update_one({"_id": doc_id}, {"$set": {"outbox": []}})
        except Exception as exc:
            log.warning("outbox.publish_deferred", doc_id=doc_id, error=repr(exc))
