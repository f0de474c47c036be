"""The message bodies: the rendered email (`text`, `html`) and the event it is about, written
once when the email is queued and read once when it is sent, by the delivery's `_id`.

Why the bodies live apart from the delivery log: the delivery states are written at every step
(queued, leased, sent), and each commit carries the whole state; the bodies (~10 KB) are not
needed for any of that, so they are written once and touched by `_id` only, which FerretDB
pushes down to its backend."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from smartcity_th.services.common.documents import Doc
from smartcity_th.services.notifications.domain import Body

# How many just-stored message bodies a process keeps in memory for its sender (~10 KB each).
RECENT_BODIES = 1000
# FerretDB 1.24 hangs on large bulk writes: never send more than this many documents at once.
BULK_BATCH = 50
DUPLICATE_KEY = 11000


async def insert_new(collection: AsyncCollection[Doc], docs: list[Doc]) -> set[Any]:
    """Insert documents whose `_id` may exist already (a redelivered event); returns the ids
    inserted now. Duplicates are skipped, any other error raises. In batches of BULK_BATCH."""
    inserted: set[Any] = set()
    for start in range(0, len(docs), BULK_BATCH):
        batch = docs[start : start + BULK_BATCH]
        ids = [d["_id"] for d in batch]
        try:
            await collection.insert_many(batch, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            duplicates = {e["index"] for e in errors}
            inserted |= {i for n, i in enumerate(ids) if n not in duplicates}
        else:
            inserted |= set(ids)
    return inserted


def body_doc(body: Body) -> Doc:
    doc: Doc = {"_id": body.delivery_id}
    if body.text is not None:
        doc |= {"text": body.text, "html": body.html}
    return doc | {"event_value": body.event_value, "created_at": body.created_at}


def body_from(doc: Doc) -> Body:
    return Body(
        doc["_id"], doc.get("event_value"), doc["created_at"], doc.get("text"), doc.get("html")
    )


class MessageBodies:
    """The rendered email's body (`text`, `html`) and the original event (`event_value`) of
    each delivery, under the delivery's `_id` (the subject stays in the delivery document).
    Written before the delivery document, so a crash in between leaves at worst a body without
    a delivery (kept and used when the event is redelivered), never a delivery without its
    body."""

    def __init__(self, db: AsyncDatabase[Doc], keep: int = RECENT_BODIES) -> None:
        self.collection: AsyncCollection[Doc] = db["messages"]
        # The bodies this process stored last: the sender of this process usually sends them
        # within a second, so it takes them from here instead of reading them back.
        self._recent: OrderedDict[str, Body] = OrderedDict()
        self._keep = keep

    async def put_many(self, bodies: list[Body]) -> None:
        """Store bodies; one stored before under the same id (a redelivery) is kept as is."""
        stored = await insert_new(self.collection, [body_doc(b) for b in bodies])
        for body in bodies:
            if body.delivery_id in stored:  # (not one there before: that one is the body)
                self._recent[body.delivery_id] = body
        while len(self._recent) > self._keep:
            self._recent.popitem(last=False)

    async def take(self, delivery_id: str) -> Body | None:
        """The body of an email about to be sent: from memory if this process stored it
        (and forgotten there), else read from the store."""
        recent = self._recent.pop(delivery_id, None)
        if recent is not None:
            return recent
        doc = await self.collection.find_one({"_id": delivery_id})
        return None if doc is None else body_from(doc)

    async def replace_many(self, bodies: list[Body]) -> None:
        """Store bodies over the ones stored under the same ids (a held letter rendered again
        after its data was fixed)."""
        for body in bodies:
            await self.collection.replace_one(
                {"_id": body.delivery_id}, body_doc(body), upsert=True
            )
            self._recent.pop(body.delivery_id, None)

    async def event_value(self, delivery_id: str) -> str | None:
        """The event a delivery is about, as it was read."""
        doc = await self.collection.find_one({"_id": delivery_id}, {"event_value": 1})
        return None if doc is None else doc.get("event_value")
