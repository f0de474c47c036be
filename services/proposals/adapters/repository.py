"""MongoDB repository of proposals: one document per proposal, with its outbox and the ids of
the commands and events it has processed, written together in one single-document write."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.proposals import ProposalContent
from services.common.outbox import outbox_entry
from services.proposals.domain import Proposal

Doc = dict[str, Any]

HISTORY = ("revisions", "revision_requests", "processed")


class ConcurrentUpdate(Exception):
    """Someone else changed the proposal since it was loaded; load it again and retry."""


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class ListFilter:
    applicant: str | None = None
    province_code: str | None = None
    status: str | None = None
    submitted_from: dt.datetime | None = None
    submitted_to: dt.datetime | None = None


def encode_cursor(submitted_at: dt.datetime, proposal_id: str) -> str:
    raw = json.dumps([submitted_at.isoformat(), proposal_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, proposal_id = json.loads(raw)
        when = dt.datetime.fromisoformat(at)
        if when.tzinfo is None or not isinstance(proposal_id, str):
            raise ValueError(cursor)
    except (ValueError, TypeError) as exc:
        raise BadCursor(cursor) from exc
    return when, proposal_id


class MongoProposalRepository:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.collection: AsyncCollection[Doc] = db["proposals"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("applicant", ASCENDING), ("submitted_at", DESCENDING)])
        await self.collection.create_index(
            [("province_code", ASCENDING), ("submitted_at", DESCENDING)]
        )
        await self.collection.create_index([("status", ASCENDING), ("submitted_at", DESCENDING)])
        await self.collection.create_index([("submitted_at", DESCENDING), ("_id", DESCENDING)])

    async def add(self, proposal: Proposal) -> bool:
        """Store a new proposal with its events in one write; False if the id exists."""
        doc: Doc = {
            "_id": proposal.proposal_id,
            "applicant": proposal.applicant,
            "province_code": proposal.content.province.code,
            "status": proposal.status,
            "revision": proposal.revision,
            "content": proposal.content.model_dump(mode="json"),
            "revisions": proposal.revisions,
            "revision_requests": proposal.revision_requests,
            "withdrawal_reason": proposal.withdrawal_reason,
            "submitted_at": proposal.submitted_at,
            "updated_at": proposal.updated_at or proposal.submitted_at,
            "idempotency_key": proposal.idempotency_key,
            "processed": proposal.processed,
            "outbox": [outbox_entry(e) for e in proposal.pending_events],
            "events": [_event_row(e) for e in proposal.pending_events],
            "version": 1,
        }
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def save(self, proposal: Proposal) -> None:
        """Store the changes of a loaded proposal and the events they cause in one write, if
        nobody changed it since it was loaded (optimistic concurrency on `version`)."""
        push: Doc = {
            name: {"$each": getattr(proposal, name)[proposal.loaded.get(name, 0) :]}
            for name in HISTORY
        }
        push["outbox"] = {"$each": [outbox_entry(e) for e in proposal.pending_events]}
        push["events"] = {"$each": [_event_row(e) for e in proposal.pending_events]}
        push = {k: v for k, v in push.items() if v["$each"]}
        update: Doc = {
            "$set": {
                "status": proposal.status,
                "revision": proposal.revision,
                "content": proposal.content.model_dump(mode="json"),
                "province_code": proposal.content.province.code,
                "withdrawal_reason": proposal.withdrawal_reason,
                "updated_at": proposal.updated_at,
            },
            "$inc": {"version": 1},
        }
        if push:
            update["$push"] = push
        result = await self.collection.update_one(
            {"_id": proposal.proposal_id, "version": proposal.version}, update
        )
        if result.matched_count != 1:
            raise ConcurrentUpdate(proposal.proposal_id)

    async def get(self, proposal_id: str) -> Proposal | None:
        doc = await self.collection.find_one({"_id": proposal_id}, {"outbox": 0})
        return None if doc is None else to_proposal(doc)

    async def get_document(self, proposal_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": proposal_id}, {"outbox": 0})

    async def list(
        self, where: ListFilter, *, limit: int, cursor: str | None = None
    ) -> tuple[list[Doc], str | None]:
        """Newest first, by (submitted_at, _id); returns a page and the next page's cursor."""
        query: Doc = {}
        if where.applicant:
            query["applicant"] = where.applicant
        if where.province_code:
            query["province_code"] = where.province_code
        if where.status:
            query["status"] = where.status
        span: Doc = {}
        if where.submitted_from:
            span["$gte"] = where.submitted_from
        if where.submitted_to:
            span["$lt"] = where.submitted_to
        if span:
            query["submitted_at"] = span
        if cursor:
            at, last_id = decode_cursor(cursor)
            after = {
                "$or": [
                    {"submitted_at": {"$lt": at}},
                    {"submitted_at": at, "_id": {"$lt": last_id}},
                ]
            }
            query = {"$and": [query, after]} if query else after
        docs = (
            await self.collection.find(query, {"outbox": 0})
            .sort([("submitted_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit + 1)
            .to_list(None)
        )
        more = len(docs) > limit
        docs = docs[:limit]
        next_cursor = (
            encode_cursor(docs[-1]["submitted_at"], docs[-1]["_id"]) if more and docs else None
        )
        return docs, next_cursor


def _event_row(envelope: Any) -> Doc:
    return {
        "event_id": str(envelope.event_id),
        "event_type": envelope.event_type,
        "at": envelope.occurred_at,
    }


def to_proposal(doc: Doc) -> Proposal:
    proposal = Proposal(
        proposal_id=doc["_id"],
        applicant=doc["applicant"],
        status=doc["status"],
        revision=doc["revision"],
        content=ProposalContent.model_validate(doc["content"]),
        submitted_at=doc["submitted_at"],
        updated_at=doc.get("updated_at"),
        idempotency_key=doc["idempotency_key"],
        revisions=list(doc.get("revisions", [])),
        revision_requests=list(doc.get("revision_requests", [])),
        processed=list(doc.get("processed", [])),
        withdrawal_reason=doc.get("withdrawal_reason"),
        version=doc.get("version", 1),
    )
    proposal.loaded = {name: len(getattr(proposal, name)) for name in HISTORY}
    return proposal
