"""This service's MongoDB collections: the proposals it has heard of (a read model built from
events) and the delivery log (one document per email, with its outbox)."""

from __future__ import annotations

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
            fields.update({"applicant": payload.applicant,
                           "area_name": content.area_name.model_dump(),
                           "province": content.province.model_dump(),
                           "contact_emails": list(content.contact_emails)})
        if stage is not None:
            fields["stage"] = stage
        if fields:
            update["$set"] = fields
        await self.collection.update_one({"_id": envelope.proposal_id}, update, upsert=True)

    async def get(self, proposal_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": proposal_id})


class DeliveryLog:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.collection: AsyncCollection[Doc] = db["deliveries"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self.collection.create_index([("proposal_id", ASCENDING), ("created_at", ASCENDING)])
        await self.collection.create_index([("created_at", DESCENDING)])

    async def queue(self, doc: Doc) -> bool:
        """Queue one email; False if this (event, recipient) was queued before."""
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def claim_due(self, now: dt.datetime, lease_seconds: float = 60.0,
                        limit: int = 50) -> list[Doc]:
        """Take up to `limit` due emails, each leased to this sender so that no other sender
        process takes it meanwhile; an email whose sender died is due again when the lease
        ends (and is re-sent with the same Message-ID)."""
        claimed: list[Doc] = []
        lease_until = now + dt.timedelta(seconds=lease_seconds)
        for _ in range(limit):
            doc = await self.collection.find_one_and_update(
                {"status": "queued", "next_attempt_at": {"$lte": now}},
                {"$set": {"next_attempt_at": lease_until}},
                sort=[("next_attempt_at", 1)], return_document=ReturnDocument.AFTER)
            if doc is None:
                break
            claimed.append(doc)
        return claimed

    async def mark_sent(self, delivery_id: str, attempts: int, reply: str, now: dt.datetime,
                        event: AnyEnvelope) -> bool:
        result = await self.collection.update_one(
            {"_id": delivery_id, "status": "queued"},
            {"$set": {"status": "sent", "attempts": attempts, "sent_at": now,
                      "smtp_reply": reply[:500], "updated_at": now},
             "$push": {"outbox": outbox_entry(event)}})
        return result.modified_count == 1

    async def mark_retry(self, delivery_id: str, attempts: int, error: str,
                         next_at: dt.datetime, now: dt.datetime) -> None:
        await self.collection.update_one(
            {"_id": delivery_id, "status": "queued"},
            {"$set": {"attempts": attempts, "last_error": error[:500], "next_attempt_at": next_at,
                      "updated_at": now}})

    async def mark_failed(self, delivery_id: str, attempts: int, error: str, now: dt.datetime,
                          event: AnyEnvelope) -> bool:
        result = await self.collection.find_one_and_update(
            {"_id": delivery_id, "status": "queued"},
            {"$set": {"status": "failed", "attempts": attempts, "last_error": error[:500],
                      "failed_at": now, "updated_at": now},
             "$push": {"outbox": outbox_entry(event)}},
            return_document=ReturnDocument.AFTER)
        return result is not None
