"""This service's MongoDB collections: the proposals it has heard of (a read model built from
events), the delivery log (one small document per email, with its outbox) and the message
bodies (the rendered email and the event it is about, written once when the email is queued and
read once when it is sent).

Why two collections for one email: on FerretDB 1.24 every query parses each document it scans
and every update rewrites the whole document. The delivery documents are scanned by every claim,
stats and relay pass and rewritten by every status change; the bodies (~10 KB) are not needed
for any of that, so they live apart and are touched by `_id` only.

And why every per-email read and write filters on `_id` alone: FerretDB 1.24 (SQLite) pushes a
filter down to SQL only when it is exactly `{"_id": value}`; any other filter, `{"_id": x,
"status": "queued"}` included, parses every document of the collection. So conditions are
checked on the document read by `_id` (the claim returns the document as it was), and the claim
(a lease) is what makes this sender the only writer of a delivery until it records the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import OrderedDict
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from contracts.approvals import decided_on
from contracts.envelope import AnyEnvelope
from services.common.outbox import outbox_entry
from services.notifications.links import new_secret

Doc = dict[str, Any]

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


async def load_or_create_secret(db: AsyncDatabase[Doc], name: str) -> str:
    """A random key kept in this service's database under `name`: made by whichever instance
    starts first (an insert of a fixed `_id` is atomic), read by every other."""
    secrets_ = db["secrets"]
    with contextlib.suppress(DuplicateKeyError):
        await secrets_.insert_one({"_id": name, "value": new_secret()})
    doc = await secrets_.find_one({"_id": name})
    if doc is None:  # pragma: no cover - the insert above or another instance's made it
        raise RuntimeError(f"secret {name!r} could not be stored")
    return str(doc["value"])


def history_entry(envelope: AnyEnvelope, stage: str | None) -> Doc:
    """One line of a proposal's public history: what happened, when it was decided (the
    meeting's or resolution's date, when there is one), by which meeting, and where it led."""
    payload = envelope.payload
    decided = decided_on(payload)
    entry: Doc = {
        "event_id": str(envelope.event_id),
        "event_type": envelope.event_type,
        "recorded_at": envelope.occurred_at,
        "decided_on": decided.isoformat() if decided else None,
        "stage": stage,
    }
    meeting = getattr(payload, "meeting", None)
    if meeting is not None:
        entry["meeting"] = meeting.model_dump(mode="json")
    for name in ("resolution_number", "certificate_number", "subcommittee_meeting_id"):
        value = getattr(payload, name, None)
        if value is not None:
            entry[name] = value
    return entry


class ProposalsView:
    """What an email needs to say about a proposal, kept from the events."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.collection: AsyncCollection[Doc] = db["proposals"]

    async def record(self, envelope: AnyEnvelope, stage: str | None) -> Doc | None:
        """Apply one event to the view and return the proposal as it is now. Only an event
        not seen before changes the view: a redelivered old event must not move the stage
        back. (Read, check, write, each by `_id`: the events of one proposal come from one
        partition, so one consumer applies them one at a time.)"""
        doc = await self.collection.find_one({"_id": envelope.proposal_id})
        if doc is not None and str(envelope.event_id) in doc.get("seen", []):
            return doc
        with contextlib.suppress(DuplicateKeyError):  # two first events at once: one upserts
            return await self.collection.find_one_and_update(
                {"_id": envelope.proposal_id},
                self._update(envelope, stage),
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        return await self.get(envelope.proposal_id)

    @staticmethod
    def _update(envelope: AnyEnvelope, stage: str | None) -> Doc:
        update: Doc = {"$addToSet": {"seen": str(envelope.event_id)}}
        if stage is not None:
            update["$push"] = {"history": history_entry(envelope, stage)}
        payload = envelope.payload
        content = getattr(payload, "content", None)
        fields: Doc = {}
        if content is not None:
            fields.update(
                {
                    "applicant": payload.applicant,
                    "area_name": content.area_name.model_dump(),
                    "province": content.province.model_dump(),
                    "contact_emails": list(content.contact_emails),
                }
            )
        if stage is not None:
            fields["stage"] = stage
        if fields:
            update["$set"] = fields
        return update

    async def get(self, proposal_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": proposal_id})


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
        self._recent: OrderedDict[str, Doc] = OrderedDict()
        self._keep = keep

    async def put_many(self, docs: list[Doc]) -> None:
        """Store bodies; one stored before under the same id (a redelivery) is kept as is."""
        stored = await insert_new(self.collection, docs)
        for doc in docs:
            if doc["_id"] in stored:  # (not one that was there before: that one is the body)
                self._recent[doc["_id"]] = doc
        while len(self._recent) > self._keep:
            self._recent.popitem(last=False)

    async def take(self, delivery_id: str) -> Doc | None:
        """The body of an email about to be sent: from memory if this process stored it
        (and forgotten there), else read from the store."""
        recent = self._recent.pop(delivery_id, None)
        if recent is not None:
            return recent
        return await self.collection.find_one({"_id": delivery_id})

    async def get(self, delivery_id: str, fields: list[str] | None = None) -> Doc | None:
        projection = None if fields is None else dict.fromkeys(fields, 1)
        return await self.collection.find_one({"_id": delivery_id}, projection)


class DeliveryLog:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.collection: AsyncCollection[Doc] = db["deliveries"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self.collection.create_index([("proposal_id", ASCENDING), ("created_at", ASCENDING)])
        await self.collection.create_index([("created_at", DESCENDING)])
        await self.collection.create_index([("status", ASCENDING), ("digest_id", ASCENDING)])

    async def queue(self, doc: Doc) -> bool:
        """Queue one email; False if this (event, recipient) was queued before."""
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def queue_many(self, docs: list[Doc]) -> set[str]:
        """Queue the emails of one event in one write; returns the ids queued now (an id
        queued before, by an earlier delivery of the same event, is skipped)."""
        return await insert_new(self.collection, docs)

    async def claim_due(
        self, now: dt.datetime, lease_seconds: float = 60.0, limit: int = 50
    ) -> list[Doc]:
        """Take up to `limit` due emails, each leased to this sender so that no other sender
        process takes it meanwhile; an email whose sender died is due again when the lease
        ends (and is re-sent with the same Message-ID).

        One query (a scan) finds the candidates; each is then claimed by a findAndModify on
        its `_id` alone (pushed down to SQL) that sets the lease and returns the document as
        it was: the claim is ours only if it was queued and due then. A sender that loses the
        race has still written its own lease end: on a leased email that changes nothing that
        matters, on an email just rescheduled by another process it delays that retry to the
        lease end at worst (only with several sender processes; nothing is lost or sent
        twice because of it)."""
        lease_until = now + dt.timedelta(seconds=lease_seconds)
        due = {"status": "queued", "next_attempt_at": {"$lte": now}}
        candidates = await self.collection.find(due, {"_id": 1}).limit(limit).to_list(None)

        async def claim(delivery_id: str) -> Doc | None:
            before = await self.collection.find_one_and_update(
                {"_id": delivery_id},
                {"$set": {"next_attempt_at": lease_until}},
                return_document=ReturnDocument.BEFORE,
            )
            if before is None or before.get("status") != "queued":
                return None
            if before["next_attempt_at"] > now:
                return None
            return {**before, "next_attempt_at": lease_until}

        found = await asyncio.gather(*(claim(c["_id"]) for c in candidates))
        return [d for d in found if d is not None]

    async def mark_sent(
        self,
        delivery_id: str,
        attempts: int,
        reply: str,
        now: dt.datetime,
        events: list[AnyEnvelope],
    ) -> list[Doc]:
        """Record a claimed email as sent, with its NotificationSent events in the same write;
        returns the outbox entries written."""
        entries = [outbox_entry(e) for e in events]
        await self.collection.update_one(
            {"_id": delivery_id},
            {
                "$set": {
                    "status": "sent",
                    "attempts": attempts,
                    "sent_at": now,
                    "smtp_reply": reply[:500],
                    "updated_at": now,
                    "outbox": entries,
                }
            },
        )
        return entries

    async def mark_retry(
        self, delivery_id: str, attempts: int, error: str, next_at: dt.datetime, now: dt.datetime
    ) -> None:
        await self.collection.update_one(
            {"_id": delivery_id},
            {
                "$set": {
                    "attempts": attempts,
                    "last_error": error[:500],
                    "next_attempt_at": next_at,
                    "updated_at": now,
                }
            },
        )

    async def mark_failed(
        self,
        delivery_id: str,
        attempts: int,
        error: str,
        now: dt.datetime,
        events: list[AnyEnvelope],
    ) -> list[Doc]:
        """Record a claimed email as failed, with its NotificationFailed events in the same
        write; returns the outbox entries written."""
        entries = [outbox_entry(e) for e in events]
        await self.collection.update_one(
            {"_id": delivery_id},
            {
                "$set": {
                    "status": "failed",
                    "attempts": attempts,
                    "last_error": error[:500],
                    "failed_at": now,
                    "updated_at": now,
                    "outbox": entries,
                }
            },
        )
        return entries

    # Digests: emails held for a digest recipient ("held") are claimed by a digest id, then
    # queued as one digest email, then settled ("digested"). A crash between the steps leaves
    # them claimed, and the next run finishes that digest.

    async def held_recipients(self) -> list[str]:
        docs = await self.collection.find(
            {"status": "held", "digest_id": None}, {"email": 1}
        ).to_list(None)
        return sorted({d["email"] for d in docs})

    async def claim_held(self, email: str, digest_id: str) -> None:
        await self.collection.update_many(
            {"status": "held", "email": email, "digest_id": None},
            {"$set": {"digest_id": digest_id}},
        )

    async def claimed_items(self) -> dict[str, list[Doc]]:
        docs = (
            await self.collection.find(
                {"status": "held", "digest_id": {"$ne": None}}, {"html": 0, "text": 0}
            )
            .sort("occurred_at", ASCENDING)
            .to_list(None)
        )
        out: dict[str, list[Doc]] = {}
        for d in docs:
            out.setdefault(d["digest_id"], []).append(d)
        return out

    async def settle_claimed(self, digest_id: str, included: set[str]) -> None:
        if included:
            await self.collection.update_many(
                {"digest_id": digest_id, "status": "held", "_id": {"$in": sorted(included)}},
                {"$set": {"status": "digested"}},
            )
        await self.collection.update_many(
            {"digest_id": digest_id, "status": "held"}, {"$set": {"digest_id": None}}
        )

    async def stats(self, now: dt.datetime) -> dict[str, float]:
        """Queue figures from one scan (each query is a full scan on FerretDB)."""
        docs = await self.collection.find(
            {"status": {"$in": ["queued", "held"]}},
            {"_id": 0, "status": 1, "attempts": 1, "created_at": 1},
        ).to_list(None)
        queued = [d for d in docs if d["status"] == "queued"]
        oldest = min((d["created_at"] for d in queued), default=None)
        return {
            "retrying": sum(1 for d in queued if d.get("attempts", 0) > 0),
            "queued": len(queued),
            "held": len(docs) - len(queued),
            "oldest_queued_age_seconds": 0.0
            if oldest is None
            else max(0.0, (now - oldest).total_seconds()),
        }
