"""MongoDB repository of proposals: one document per proposal, with its outbox and the ids of
the events it has processed, written together."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.proposals import ProposalContent
from services.common.outbox import outbox_entry
from services.proposals.domain import Proposal

Doc = dict[str, Any]


class MongoProposalRepository:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.collection: AsyncCollection[Doc] = db["proposals"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("applicant", ASCENDING), ("submitted_at", DESCENDING)])
        await self.collection.create_index([("province_code", ASCENDING),
                                            ("submitted_at", DESCENDING)])
        await self.collection.create_index([("status", ASCENDING), ("submitted_at", DESCENDING)])
        await self.collection.create_index([("submitted_at", DESCENDING), ("_id", DESCENDING)])

    async def add(self, proposal: Proposal, *, processed_event_id: str | None = None) -> bool:
        """Store a new proposal with its events in one write; False if the id exists."""
        doc: Doc = {
            "_id": proposal.proposal_id,
            "applicant": proposal.applicant,
            "province_code": proposal.content.province.code,
            "status": proposal.status,
            "revision": proposal.revision,
            "content": proposal.content.model_dump(mode="json"),
            "revisions": proposal.revisions,
            "submitted_at": proposal.submitted_at,
            "updated_at": proposal.submitted_at,
            "idempotency_key": proposal.idempotency_key,
            "processed": [processed_event_id] if processed_event_id else [],
            "outbox": [outbox_entry(e) for e in proposal.pending_events],
            "events": [{"event_id": str(e.event_id), "event_type": e.event_type,
                        "at": e.occurred_at} for e in proposal.pending_events],
            "version": 1,
        }
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def get(self, proposal_id: str) -> Proposal | None:
        doc = await self.collection.find_one({"_id": proposal_id})
        return None if doc is None else to_proposal(doc)

    async def get_document(self, proposal_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": proposal_id}, {"outbox": 0})


def to_proposal(doc: Doc) -> Proposal:
    return Proposal(
        proposal_id=doc["_id"],
        applicant=doc["applicant"],
        status=doc["status"],
        revision=doc["revision"],
        content=ProposalContent.model_validate(doc["content"]),
        submitted_at=doc["submitted_at"],
        idempotency_key=doc["idempotency_key"],
        revisions=doc.get("revisions", []),
    )
