"""Proposals in the aggregate store (services/common/store.py): a change is one commit carrying
the proposal's state, the events it causes and the ids of the commands and events it consumed."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from smartcity_th.contracts.common import as_words
from smartcity_th.contracts.proposals import SubmittedContent
from smartcity_th.services.common.documents import Doc
from smartcity_th.services.common.store import (
    Aggregates,
    AggregateStore,
    Commit,
    CommitPublisher,
    Decision,
    Loaded,
)
from smartcity_th.services.proposals.domain import Proposal

R = TypeVar("R")

HISTORY = ("revisions", "revision_requests", "processed")


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


class ProposalRepository:
    """Proposals in an aggregate store (the port the handlers use): each change is one commit
    (state, events, processed ids)."""

    def __init__(self, store: Aggregates) -> None:
        self.store = store

    async def add(self, proposal: Proposal) -> bool:
        """Commit a new proposal with its events; False if the id exists."""
        return await self.store.create(proposal.proposal_id, commit_of(proposal))

    async def change(self, proposal_id: str, decide: Callable[[Proposal | None], R]) -> R:
        """Load the proposal, let `decide` change it (or not), commit what it recorded;
        decided again on a lost race."""

        def step(loaded: Loaded | None) -> Decision[R]:
            proposal = None if loaded is None else to_proposal(loaded.state, loaded.version)
            result = decide(proposal)
            if proposal is None or not (proposal.pending_events or _consumed(proposal)):
                return None, result  # nothing happened: no commit
            return commit_of(proposal), result

        return await self.store.change(proposal_id, step)

    async def get(self, proposal_id: str) -> Proposal | None:
        loaded = await self.store.load(proposal_id)
        return None if loaded is None else to_proposal(loaded.state, loaded.version)

    async def get_document(self, proposal_id: str) -> Doc | None:
        loaded = await self.store.load(proposal_id)
        return None if loaded is None else {**loaded.state, "_id": proposal_id}


class MongoProposalRepository(ProposalRepository):
    """Proposals in the MongoDB aggregate store; the `proposals` collection is the projection
    that lists use."""

    def __init__(self, db: AsyncDatabase[Doc], publisher: CommitPublisher) -> None:
        store = AggregateStore(db, "proposals", publisher)
        super().__init__(store)
        self.store: AggregateStore = store
        self.collection: AsyncCollection[Doc] = store.current

    async def ensure_indexes(self) -> None:
        await self.store.ensure_indexes()
        await self.collection.create_index([("applicant", ASCENDING), ("submitted_at", DESCENDING)])
        await self.collection.create_index(
            [("province_code", ASCENDING), ("submitted_at", DESCENDING)]
        )
        await self.collection.create_index([("status", ASCENDING), ("submitted_at", DESCENDING)])
        await self.collection.create_index([("submitted_at", DESCENDING), ("_id", DESCENDING)])

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


def _consumed(proposal: Proposal) -> bool:
    """Did the change record a processed id (a fact the proposal follows, like RevisionRequested,
    changes its state and causes no event of its own)?"""
    return len(proposal.processed) > proposal.loaded.get("processed", 0)


def commit_of(proposal: Proposal) -> Commit:
    """The proposal's state after its change, with the events the change caused."""
    processed = proposal.processed[proposal.loaded.get("processed", 0) :]
    state: Doc = {
        "proposal_id": proposal.proposal_id,
        "applicant": proposal.applicant,
        "province_code": proposal.content.province.code,
        "status": proposal.status,
        "revision": proposal.revision,
        "content": proposal.content.model_dump(mode="json"),
        "revisions": proposal.revisions,
        "revision_requests": proposal.revision_requests,
        "withdrawal_reason": (
            proposal.withdrawal_reason.model_dump() if proposal.withdrawal_reason else None
        ),
        "submitted_at": proposal.submitted_at,
        "updated_at": proposal.updated_at or proposal.submitted_at,
        "idempotency_key": proposal.idempotency_key,
        "processed": proposal.processed,
        "events": proposal.events + [_event_row(e) for e in proposal.pending_events],
    }
    return Commit(state=state, events=list(proposal.pending_events), processed=processed)


def to_proposal(doc: Doc, version: int) -> Proposal:
    proposal = Proposal(
        proposal_id=doc["proposal_id"],
        applicant=doc["applicant"],
        status=doc["status"],
        revision=doc["revision"],
        content=SubmittedContent.model_validate(doc["content"]),
        submitted_at=doc["submitted_at"],
        updated_at=doc.get("updated_at"),
        idempotency_key=doc["idempotency_key"],
        revisions=list(doc.get("revisions", [])),
        revision_requests=list(doc.get("revision_requests", [])),
        processed=list(doc.get("processed", [])),
        withdrawal_reason=as_words(doc.get("withdrawal_reason")),
        version=version,
        events=list(doc.get("events", [])),
    )
    proposal.loaded = {name: len(getattr(proposal, name)) for name in HISTORY}
    return proposal
