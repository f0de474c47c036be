"""This service's MongoDB collections: the proposals it has heard of (a read model built from
events) and the delivery log (one document per email, with its outbox)."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.envelope import AnyEnvelope
from services.common.outbox import outbox_entry

Doc = dict[str, Any]


class ProposalsView:
    """What an email needs to say about a proposal, kept from the events."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.collection: AsyncCollection[Doc] = db["proposals"]

    async def record(self, envelope: AnyEnvelope, stage: str | None) -> None:
        update: Doc = {"$addToSet": {"seen": str(envelope.event_id)}}
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
        # Only an event not seen before changes the view: a redelivered old event must not
        # move the stage back. (Seen before: the filter misses, the upsert hits the _id.)
        with contextlib.suppress(DuplicateKeyError):
            await self.collection.update_one(
                {"_id": envelope.proposal_id, "seen": {"$ne": str(envelope.event_id)}},
                update,
                upsert=True,
            )

    async def get(self, proposal_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": proposal_id})


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

    async def claim_due(
        self, now: dt.datetime, lease_seconds: float = 60.0, limit: int = 50
    ) -> list[Doc]:
        """Take up to `limit` due emails, each leased to this sender so that no other sender
        process takes it meanwhile; an email whose sender died is due again when the lease
        ends (and is re-sent with the same Message-ID).

        One unsorted query finds candidates and each is then claimed by `_id`: on FerretDB
        1.24 a findAndModify with a sort scans the whole collection (about 170 ms at 900
        deliveries), a write by `_id` takes a few milliseconds."""
        lease_until = now + dt.timedelta(seconds=lease_seconds)
        due = {"status": "queued", "next_attempt_at": {"$lte": now}}
        candidates = await self.collection.find(due, {"_id": 1}).limit(limit).to_list(None)
        claimed: list[Doc] = []
        for candidate in candidates:
            doc = await self.collection.find_one_and_update(
                {"_id": candidate["_id"], **due},
                {"$set": {"next_attempt_at": lease_until}},
                return_document=ReturnDocument.AFTER,
            )
            if doc is not None:
                claimed.append(doc)
        return claimed

    async def mark_sent(
        self,
        delivery_id: str,
        attempts: int,
        reply: str,
        now: dt.datetime,
        events: list[AnyEnvelope],
    ) -> bool:
        result = await self.collection.update_one(
            {"_id": delivery_id, "status": "queued"},
            {
                "$set": {
                    "status": "sent",
                    "attempts": attempts,
                    "sent_at": now,
                    "smtp_reply": reply[:500],
                    "updated_at": now,
                    "outbox": [outbox_entry(e) for e in events],
                }
            },
        )
        return result.modified_count == 1

    async def mark_retry(
        self, delivery_id: str, attempts: int, error: str, next_at: dt.datetime, now: dt.datetime
    ) -> None:
        await self.collection.update_one(
            {"_id": delivery_id, "status": "queued"},
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
    ) -> bool:
        result = await self.collection.update_one(
            {"_id": delivery_id, "status": "queued"},
            {
                "$set": {
                    "status": "failed",
                    "attempts": attempts,
                    "last_error": error[:500],
                    "failed_at": now,
                    "updated_at": now,
                    "outbox": [outbox_entry(e) for e in events],
                }
            },
        )
        return result.modified_count == 1

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
        oldest = await self.collection.find_one(
            {"status": "queued"}, {"created_at": 1}, sort=[("created_at", ASCENDING)]
        )
        return {
            "retrying": await self.collection.count_documents(
                {"status": "queued", "attempts": {"$gt": 0}}
            ),
            "queued": await self.collection.count_documents({"status": "queued"}),
            "held": await self.collection.count_documents({"status": "held"}),
            "oldest_queued_age_seconds": 0.0
            if oldest is None
            else max(0.0, (now - oldest["created_at"]).total_seconds()),
        }
