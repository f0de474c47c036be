"""Workflow cases in the aggregate store (services/common/store.py): a change to a case is one
commit carrying its state, the events it causes and the event ids it consumed. Certificate
numbers are the versions of one register aggregate per year; a meeting is an aggregate too
(its first recording kept, later ones by the same recorder counted)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from smartcity_th.contracts.common import Stage
from smartcity_th.services.approvals.domain import Case, Outcome, certificate_number
from smartcity_th.services.common.documents import Doc
from smartcity_th.services.common.store import (
    VERSION,
    Aggregates,
    AggregateStore,
    Commit,
    CommitPublisher,
    Decision,
    Loaded,
)

log = structlog.get_logger(__name__)

R = TypeVar("R")


@dataclass(frozen=True)
class Changed(Generic[R]):
    """What a change of a case came to: the last decision's result, and the case and outcome
    it was decided on (None: nothing to decide)."""

    result: R
    before: Case | None
    outcome: Outcome | None


CERTIFICATE_DEDUP_WINDOW = 500
"""Awards the certificate register remembers (proposal id -> number), for a retried award."""


class CaseRepository:
    """Cases, the certificate register, orphan refusals and meetings in aggregate stores (the
    port the handlers use)."""

    def __init__(
        self, cases: Aggregates, orphans: Aggregates, register: Aggregates, meetings: Aggregates
    ) -> None:
        self.store = cases
        self.orphans = orphans
        self.register = register
        self.meetings = meetings

    async def get(self, proposal_id: str) -> Case | None:
        loaded = await self.store.load(proposal_id)
        return None if loaded is None else to_case(loaded.state, loaded.version)

    async def get_document(self, proposal_id: str) -> Doc | None:
        loaded = await self.store.load(proposal_id)
        if loaded is None:
            return None
        return {k: v for k, v in loaded.state.items() if k != "processed"} | {"_id": proposal_id}

    async def change(
        self,
        proposal_id: str,
        decide: Callable[[Case | None], tuple[Outcome | None, R]],
        now: Callable[[], dt.datetime],
    ) -> Changed[R]:
        """Load the case, decide an outcome, commit it; decided again on a lost race. A refusal
        of a claim about a case that does not exist is committed after the decision, as an
        orphan refusal of its own. Returns the last decision: its result, and the case and
        outcome it was made on."""

        def step(loaded: Loaded | None) -> Decision[tuple[Changed[R], Commit | None]]:
            before = None if loaded is None else to_case(loaded.state, loaded.version)
            outcome, result = decide(before)
            changed = Changed(result, before, outcome)
            if outcome is None or outcome.duplicate:
                return None, (changed, None)
            if outcome.case is None:
                assert outcome.history_entry is not None
                entry = outcome.history_entry
                orphan = Commit(
                    state={"at": now(), "entry": entry},
                    events=outcome.events,
                    processed=[entry["event_id"]],
                )
                return None, (changed, orphan)
            opened = now() if loaded is None else loaded.state["opened_at"]
            processed = [] if outcome.history_entry is None else [outcome.history_entry["event_id"]]
            return (
                Commit(
                    state=case_state(outcome.case, opened, now()),
                    events=outcome.events,
                    processed=processed,
                ),
                (changed, None),
            )

        changed, orphan = await self.store.change(proposal_id, step)
        if orphan is not None:
            await self.orphans.create(orphan.processed[0], orphan)
        return changed

    async def certified_ids(self) -> list[str]:
        return await self.store.ids_where({"stage": Stage.CERTIFIED.value})

    async def certificate_number_for(self, proposal_id: str, be_year: int, now: dt.datetime) -> str:
        """The certificate number of a proposal's award: the next version of that year's
        register (the commit is what makes it unique); the same number again for any award of
        the same proposal that is decided again or races it (so racing awards leave no gap)."""

        def allocate(loaded: Loaded | None) -> Decision[str]:
            recent: list[Doc] = [] if loaded is None else loaded.state["recent"]
            for award in recent:
                if award["proposal_id"] == proposal_id:
                    return None, str(award["number"])
            sequence = 1 if loaded is None else loaded.version + 1
            number = certificate_number(be_year, sequence)
            award = {"proposal_id": proposal_id, "number": number}
            recent = [*recent, award][-CERTIFICATE_DEDUP_WINDOW:]
            return (
                Commit(
                    state={"be_year": be_year, "last": number, "at": now, "recent": recent},
                    processed=[proposal_id],
                ),
                number,
            )

        return await self.register.change(f"certificates-{be_year}", allocate)

    async def record_meeting(self, meeting_key: str, doc: Doc, now: dt.datetime) -> None:
        """The first recording of a meeting (keyed by body and meeting id) is kept: its first
        commit, so exactly one wins. Later ones by the same recorder only count; one by another
        agency changes nothing."""
        recorder = doc["recorded_by"]

        def record(loaded: Loaded | None) -> Decision[bool]:
            if loaded is None:
                return Commit(state={**doc, "recorded_at": now, "times_recorded": 1}), True
            if loaded.state.get("recorded_by") != recorder:
                return None, False
            times = int(loaded.state.get("times_recorded", 1)) + 1
            return Commit(state={**loaded.state, "times_recorded": times}), True

        if not await self.meetings.change(meeting_key, record):
            log.warning("meeting.recorded_by_another", meeting=meeting_key, recorder=recorder)


class MongoCaseRepository(CaseRepository):
    """The approvals service's aggregate stores in MongoDB, and the projection queries of its
    API (lists, counts, the registry, certificates, meetings)."""

    def __init__(self, db: AsyncDatabase[Doc], publisher: CommitPublisher) -> None:
        cases = AggregateStore(db, "cases", publisher)
        orphans = AggregateStore(db, "orphan_refusals", publisher)
        register = AggregateStore(db, "certificate_register", publisher)
        meetings = AggregateStore(db, "meetings", publisher)
        super().__init__(cases, orphans, register, meetings)
        self.store: AggregateStore = cases
        self.orphans: AggregateStore = orphans
        self.register: AggregateStore = register
        self.meetings: AggregateStore = meetings
        self.collection: AsyncCollection[Doc] = cases.current

    @property
    def stores(self) -> list[AggregateStore]:
        return [self.store, self.orphans, self.register, self.meetings]

    async def ensure_indexes(self) -> None:
        for store in self.stores:
            await store.ensure_indexes()
        await self.collection.create_index([("stage", ASCENDING), ("updated_at", DESCENDING)])
        await self.collection.create_index([("province_code", ASCENDING)])
        await self.collection.create_index([("certificate.certificate_number", ASCENDING)])

    async def by_stage(
        self, stage: Stage | None, limit: int, *, applicant: str | None = None
    ) -> list[Doc]:
        """Cases (without their history), at one stage or all, of one applicant or all: the
        filter goes to the store, so a page is full whatever the applicant."""
        query: Doc = {} if stage is None else {"stage": stage.value}
        if applicant is not None:
            query["applicant"] = applicant
        return (
            await self.collection.find(query, {"processed": 0, "history": 0})
            .sort("_id", 1)
            .limit(limit)
            .to_list(None)
        )

    async def count_by_stage(self) -> dict[str, int]:
        """One count per stage: FerretDB 1.24 hands an equality on a string to its backend, but
        decodes every document for a `$group` (about 5 s of its CPU for 20,000 documents)."""
        counts = {s.value: await self.collection.count_documents({"stage": s.value}) for s in Stage}
        return {stage: n for stage, n in counts.items() if n}

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
                    "history": 1,
                },
            )
            .sort("certificate.certificate_number", 1)
            .to_list(None)
        )

    async def by_certificate_number(self, number: str) -> Doc | None:
        """The case that holds the certificate with this number (None: no such certificate)."""
        return await self.collection.find_one(
            {"certificate.certificate_number": number},
            {
                "_id": 1,
                "province_code": 1,
                "area_name": 1,
                "certificate": 1,
                "history": 1,
            },
        )

    async def meetings_matching(self, query: Doc) -> list[Doc]:
        return await self.meetings.current.find(query, {VERSION: 0}).sort("_id", 1).to_list(None)


def case_state(case: Case, opened_at: dt.datetime, now: dt.datetime) -> Doc:
    return {
        "proposal_id": case.proposal_id,
        "stage": case.stage.value,
        "applicant": case.applicant,
        "province_code": case.province_code,
        "area_name": case.area_name,
        "history": list(case.history),
        "processed": sorted(case.processed),
        "opened_at": opened_at,
        "updated_at": now,
        "subcommittee_meeting_id": case.subcommittee_meeting_id,
        "certificate": case.certificate,
        "reminders": sorted(case.reminders),
    }


def to_case(doc: Doc, version: int) -> Case:
    return Case(
        proposal_id=doc["proposal_id"],
        stage=Stage(doc["stage"]),
        applicant=doc["applicant"],
        province_code=doc["province_code"],
        area_name=doc["area_name"],
        history=tuple(doc.get("history", [])),
        processed=frozenset(doc.get("processed", [])),
        version=version,
        subcommittee_meeting_id=doc.get("subcommittee_meeting_id"),
        certificate=doc.get("certificate"),
        reminders=frozenset(doc.get("reminders") or []),
    )
