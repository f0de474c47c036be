"""MongoDB repository of workflow cases: state, history, processed event ids and the outbox of
one case are written in one single-document write, guarded by the case's version."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import structlog
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.common import Stage
from services.approvals.domain import Case, Outcome, certificate_number
from services.common.outbox import outbox_entry

log = structlog.get_logger(__name__)

Doc = dict[str, Any]


class ConcurrentUpdate(Exception):
    """The case changed between load and save; reload and apply again."""


class MongoCaseRepository:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.collection: AsyncCollection[Doc] = db["cases"]
        self.orphans: AsyncCollection[Doc] = db["orphan_refusals"]
        self.meetings: AsyncCollection[Doc] = db["meetings"]
        self.counters: AsyncCollection[Doc] = db["counters"]
        self.certificates: AsyncCollection[Doc] = db["certificate_numbers"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("stage", ASCENDING), ("updated_at", DESCENDING)])
        await self.collection.create_index([("province_code", ASCENDING)])
        await self.collection.create_index([("certificate.certificate_number", ASCENDING)])
        await self.certificates.create_index([("fact_id", ASCENDING)])

    async def get(self, proposal_id: str) -> Case | None:
        doc = await self.collection.find_one({"_id": proposal_id}, {"outbox": 0})
        return None if doc is None else to_case(doc)

    async def get_document(self, proposal_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": proposal_id}, {"outbox": 0, "processed": 0})

    async def save(self, before: Case | None, outcome: Outcome, now: dt.datetime) -> str:
        """Persist an outcome; returns the collection name to flush ('cases' or 'orphans')."""
        outbox = [outbox_entry(e) for e in outcome.events]
        case = outcome.case
        if case is None:
            assert outcome.history_entry is not None
            with contextlib.suppress(DuplicateKeyError):
                await self.orphans.insert_one(
                    {
                        "_id": outcome.history_entry["event_id"],
                        "at": now,
                        "entry": outcome.history_entry,
                        "outbox": outbox,
                    }
                )
            return "orphans"
        if before is None:
            try:
                await self.collection.insert_one(
                    {
                        "_id": case.proposal_id,
                        "stage": case.stage.value,
                        "applicant": case.applicant,
                        "province_code": case.province_code,
                        "area_name": case.area_name,
                        "history": list(case.history),
                        "processed": sorted(case.processed),
                        "opened_at": now,
                        "updated_at": now,
                        "outbox": outbox,
                        "version": 1,
                        "subcommittee_meeting_id": None,
                        "certificate": None,
                        "reminders": [],
                    }
                )
            except DuplicateKeyError:
                raise ConcurrentUpdate(case.proposal_id) from None
            return "cases"
        assert outcome.history_entry is not None
        result = await self.collection.update_one(
            {"_id": case.proposal_id, "version": before.version},
            {
                "$set": {"stage": case.stage.value, "updated_at": now, **outcome.updates},
                "$push": {
                    "history": outcome.history_entry,
                    "processed": outcome.history_entry["event_id"],
                    "outbox": {"$each": outbox},
                },
                "$inc": {"version": 1},
            },
        )
        if result.modified_count != 1:
            raise ConcurrentUpdate(case.proposal_id)
        return "cases"

    async def by_stage(self, stage: Stage | None, limit: int) -> list[Doc]:
        query = {} if stage is None else {"stage": stage.value}
        return (
            await self.collection.find(query, {"outbox": 0, "processed": 0, "history": 0})
            .sort("_id", 1)
            .limit(limit)
            .to_list(None)
        )

    async def count_by_stage(self) -> dict[str, int]:
        rows = await (
            await self.collection.aggregate([{"$group": {"_id": "$stage", "n": {"$sum": 1}}}])
        ).to_list(None)
        return {row["_id"]: int(row["n"]) for row in rows}

    async def certified_ids(self) -> list[str]:
        docs = await self.collection.find({"stage": Stage.CERTIFIED.value}, {"_id": 1}).to_list(
            None
        )
        return [d["_id"] for d in docs]

    async def certified(self, query: Doc) -> list[Doc]:
        return (
            await self.collection.find(
                {"stage": Stage.CERTIFIED.value, **query},
                {
                    "_id": 1,
                    "applicant": 1,
                    "province_code": 1,
                    "area_name": 1,
                    "certificate": 1,
                    "subcommittee_meeting_id": 1,
                },
            )
            .sort("certificate.certificate_number", 1)
            .to_list(None)
        )

    async def next_certificate_sequence(self, be_year: int) -> int:
        """Compare-and-set on one counter document. (FerretDB 1.24 answered concurrent
        find_one_and_update $inc calls with duplicate values; a version-guarded update_one
        lets exactly one writer win, which tests/integration measures.)"""
        key = f"certificate-{be_year}"
        while True:
            doc = await self.counters.find_one({"_id": key})
            if doc is None:
                try:
                    await self.counters.insert_one({"_id": key, "seq": 1})
                    return 1
                except DuplicateKeyError:
                    continue
            current = int(doc["seq"])
            result = await self.counters.update_one(
                {"_id": key, "seq": current}, {"$set": {"seq": current + 1}}
            )
            if result.modified_count == 1:
                return current + 1

    async def certificate_number_for(self, fact_id: str, be_year: int, now: dt.datetime) -> str:
        """The certificate number reserved for one award (the same one again after a crash or
        a redelivery); numbers are unique by the reservation's _id."""
        existing = await self.certificates.find_one({"fact_id": fact_id})
        if existing is not None:
            return str(existing["_id"])
        while True:
            number = certificate_number(be_year, await self.next_certificate_sequence(be_year))
            try:
                await self.certificates.insert_one({"_id": number, "fact_id": fact_id, "at": now})
                return number
            except DuplicateKeyError:
                continue

    async def record_meeting(self, meeting_key: str, doc: Doc, now: dt.datetime) -> None:
        """The first recording of a meeting (keyed by body and meeting id) is kept; later ones
        by the same recorder only count, and one by another agency changes nothing."""
        try:
            await self.meetings.update_one(
                {"_id": meeting_key, "recorded_by": doc["recorded_by"]},
                {
                    # recorded_by comes from the filter on insert
                    "$setOnInsert": {
                        **{k: v for k, v in doc.items() if k != "recorded_by"},
                        "recorded_at": now,
                    },
                    "$inc": {"times_recorded": 1},
                },
                upsert=True,
            )
        except DuplicateKeyError:
            log.warning(
                "meeting.recorded_by_another", meeting=meeting_key, recorder=doc["recorded_by"]
            )

    async def meetings_matching(self, query: Doc) -> list[Doc]:
        return await self.meetings.find(query).sort("_id", 1).to_list(None)

    def collection_named(self, name: str) -> AsyncCollection[Doc]:
        return self.orphans if name == "orphans" else self.collection


def to_case(doc: Doc) -> Case:
    return Case(
        proposal_id=doc["_id"],
        stage=Stage(doc["stage"]),
        applicant=doc["applicant"],
        province_code=doc["province_code"],
        area_name=doc["area_name"],
        history=tuple(doc.get("history", [])),
        processed=frozenset(doc.get("processed", [])),
        version=doc["version"],
        subcommittee_meeting_id=doc.get("subcommittee_meeting_id"),
        certificate=doc.get("certificate"),
        reminders=frozenset(doc.get("reminders") or []),
    )
