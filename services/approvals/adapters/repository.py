"""MongoDB repository of workflow cases: state, history, processed event ids and the outbox of
one case are written in one single-document write, guarded by the case's version."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.common import Stage
from services.approvals.domain import Case, Outcome
from services.common.outbox import outbox_entry

Doc = dict[str, Any]


class ConcurrentUpdate(Exception):
    """The case changed between load and save; reload and apply again."""


class MongoCaseRepository:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.collection: AsyncCollection[Doc] = db["cases"]
        self.orphans: AsyncCollection[Doc] = db["orphan_refusals"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("stage", ASCENDING), ("updated_at", DESCENDING)])
        await self.collection.create_index([("province_code", ASCENDING)])

    async def get(self, proposal_id: str) -> Case | None:
        doc = await self.collection.find_one({"_id": proposal_id}, {"outbox": 0})
        return None if doc is None else to_case(doc)

    async def get_document(self, proposal_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": proposal_id},
                                              {"outbox": 0, "processed": 0})

    async def save(self, before: Case | None, outcome: Outcome, now: dt.datetime) -> str:
        """Persist an outcome; returns the collection name to flush ('cases' or 'orphans')."""
        outbox = [outbox_entry(e) for e in outcome.events]
        case = outcome.case
        if case is None:
            assert outcome.history_entry is not None
            try:
                await self.orphans.insert_one({
                    "_id": outcome.history_entry["event_id"], "at": now,
                    "entry": outcome.history_entry, "outbox": outbox})
            except DuplicateKeyError:
                pass
            return "orphans"
        if before is None:
            try:
                await self.collection.insert_one({
                    "_id": case.proposal_id, "stage": case.stage.value,
                    "applicant": case.applicant, "province_code": case.province_code,
                    "area_name": case.area_name, "history": list(case.history),
                    "processed": sorted(case.processed), "opened_at": now, "updated_at": now,
                    "outbox": outbox, "version": 1})
            except DuplicateKeyError:
                raise ConcurrentUpdate(case.proposal_id) from None
            return "cases"
        assert outcome.history_entry is not None
        result = await self.collection.update_one(
            {"_id": case.proposal_id, "version": before.version},
            {"$set": {"stage": case.stage.value, "updated_at": now},
             "$push": {"history": outcome.history_entry,
                       "processed": outcome.history_entry["event_id"],
                       "outbox": {"$each": outbox}},
             "$inc": {"version": 1}})
        if result.modified_count != 1:
            raise ConcurrentUpdate(case.proposal_id)
        return "cases"

    def collection_named(self, name: str) -> AsyncCollection[Doc]:
        return self.orphans if name == "orphans" else self.collection


def to_case(doc: Doc) -> Case:
    return Case(
        proposal_id=doc["_id"], stage=Stage(doc["stage"]), applicant=doc["applicant"],
        province_code=doc["province_code"], area_name=doc["area_name"],
        history=tuple(doc.get("history", [])), processed=frozenset(doc.get("processed", [])),
        version=doc["version"],
    )
