"""The console's projections of its audit log: the pipeline (one document per proposal: its
stage, since when, its deadline, what the pipeline lists) and the registry (one per
certificate), kept as the console records each event, so that their views read a bounded
number of small documents whatever the length of history (docs/console.md, "Projections").

FerretDB has no transactions and a guarded update is not atomic, so nothing here updates in
place on a condition; every write is a whole document computed by the pure rules, followed by a
check that what it was computed from did not change meanwhile (as services/common/store.py
projects its commits):

- A proposal's documents are folded from its own audit entries (one equality query on
  `proposal_id`) by `flow.pipeline_docs` and `views.certificate_docs`, and written whole; then
  its entries are read again and, if a stage entry came meanwhile (another console instance),
  folded and written again. The last write is therefore the fold of every entry, whichever
  instance makes it. Folding the log rather than applying one event to the document makes a
  redelivered or out-of-order record harmless: an event older than what the document holds
  changes nothing, by the fold's order (`flow.proposal_states`).
- Each document sits in one of `SHARDS` shards; the shard's summary (per stage: the count, the
  count per due date, the longest-waiting proposals; per province: the count per status key)
  is recomputed from the shard's documents and re-checked the same way. A background task
  recomputes the shards that changed; every shard is recomputed at start (a crash between a
  document and its summary leaves the summary behind; it is never wrong for longer).
- Projections missing at start (a console started on a log stored before them) are rebuilt
  once from the log: every stage entry read by type, folded and written in bulk; then the
  proposals with entries appended meanwhile are folded again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import structlog
from prometheus_client import Counter
from pymongo import ASCENDING, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from smartcity_th.contracts.certificate import LIFECYCLE_EVENTS
from smartcity_th.contracts.reference import province
from smartcity_th.services.common.documents import Doc
from smartcity_th.services.common.retry import backoff_seconds
from smartcity_th.services.console.audit import MongoAuditLog
from smartcity_th.services.console.flow import (
    STAGE_EVENTS,
    lane_page,
    lane_pages,
    lane_summary,
    pipeline_docs,
    pipeline_of,
)
from smartcity_th.services.console.views import (
    SHARDS,
    WHOLE_REGISTRY,
    certificate_docs,
    registry_of,
    registry_summary,
)

log = structlog.get_logger(__name__)

FOLD_FAILURES = Counter(
    "smartcity_console_projection_fold_failures_total",
    "Proposals whose stored stage events the projections' rules could not fold",
)

FOLDED_FIELDS = {
    "_id": 0,
    "seq": 1,
    "kind": 1,
    "event_type": 1,
    "stage": 1,
    "proposal_id": 1,
    "occurred_at": 1,
    "body": 1,
}
"""What the folds read of an audit entry."""
BUILT = "built"
"""The `projections` document that says the projections were built (rebuilt when missing)."""
REBUILD_BATCH = 1000


def is_stage_entry(entry: Mapping[str, Any]) -> bool:
    """Does this entry (or entry content) change what the projections hold?"""
    return entry.get("kind") == "event" and entry.get("event_type") in STAGE_EVENTS


def _versions(docs: Iterable[Mapping[str, Any]]) -> list[tuple[str, int]]:
    return sorted((str(d["_id"]), int(d.get("seq") or 0)) for d in docs)


def _seqs(entries: Iterable[Mapping[str, Any]]) -> list[int]:
    return sorted(int(e["seq"]) for e in entries)


Slim = tuple[int, str, str, str | None, str]
"""A stage entry as a rebuild holds it: seq, event type, stage, occurred at, and its body with
only what the folds read."""


def _slim(entry: Mapping[str, Any]) -> Slim:
    """An entry with only what the folds read of its body (a rebuild holds every stage entry
    of the log in memory): the envelope's identity and time, and the payload fields the
    pipeline reads, or the whole payload of a certificate's lifecycle event. A body the
    rules could not read anyway is kept whole (the fold logs it)."""
    env = dict(json.loads(entry["body"]).get("envelope") or {})
    payload = env.get("payload") or {}
    if entry.get("event_type") not in LIFECYCLE_EVENTS:
        try:
            content = payload.get("content")
            payload = {"respond_by": payload.get("respond_by")} if payload.get("respond_by") else {}
            if content:
                province_of = content["province"]
                payload["content"] = {
                    "area_name": content["area_name"],
                    "province": {k: province_of[k] for k in ("name_th", "name_en")},
                }
        except (KeyError, TypeError):
            return _kept(entry, str(entry["body"]))
    slim_env = {
        "event_type": env.get("event_type"),
        "proposal_id": env.get("proposal_id"),
        "occurred_at": env.get("occurred_at"),
        "payload": payload,
    }
    return _kept(entry, json.dumps({"envelope": slim_env}, separators=(",", ":")))


def _kept(entry: Mapping[str, Any], body: str) -> Slim:
    occurred = entry.get("occurred_at")
    return (
        int(entry["seq"]),
        sys.intern(str(entry["event_type"])),
        sys.intern(str(entry["stage"])),
        None if occurred is None else str(occurred),
        body,
    )


def _entries_of(proposal_id: str, slims: list[Slim]) -> list[Doc]:
    return [
        {
            "seq": seq,
            "kind": "event",
            "event_type": event_type,
            "stage": stage,
            "proposal_id": proposal_id,
            "occurred_at": occurred,
            "body": body,
        }
        for seq, event_type, stage, occurred, body in slims
    ]


class Projections:
    """The pipeline's and the registry's documents and their shards' summaries."""

    def __init__(self, db: AsyncDatabase[Doc], audit: MongoAuditLog, shards: int = SHARDS) -> None:
        self._audit = audit
        self.proposals = db["pipeline"]
        self.certificates = db["registry"]
        self.lane_summaries = db["pipeline_shards"]
        self.registry_summaries = db["registry_shards"]
        self.meta = db["projections"]
        self._shards = shards
        self._kinds: dict[
            str, tuple[AsyncCollection[Doc], AsyncCollection[Doc], Callable[[list[Doc]], Doc]]
        ] = {
            "pipeline": (self.proposals, self.lane_summaries, lane_summary),
            "registry": (self.certificates, self.registry_summaries, registry_summary),
        }
        self._dirty: dict[str, set[int]] = {kind: set() for kind in self._kinds}
        self._wake = asyncio.Event()
        self._rebuilt = False

    async def ensure_indexes(self) -> None:
        for docs in (self.proposals, self.certificates):
            await docs.create_index([("shard", ASCENDING)], name="shard")
        await self.proposals.create_index([("stage", ASCENDING)], name="stage")
        await self.certificates.create_index([("province_code", ASCENDING)], name="province_code")

    # ---- writing a proposal's documents

    async def _stage_entries(self, proposal_id: str) -> list[Doc]:
        found = await self._audit.entries.find({"proposal_id": proposal_id}, FOLDED_FIELDS).to_list(
            None
        )
        return [e for e in found if is_stage_entry(e)]

    async def project(self, proposal_id: str) -> None:
        """Fold `proposal_id`'s stage entries into its documents, until no stage entry came
        about it while they were written."""
        entries = await self._stage_entries(proposal_id)
        while True:
            await self._write(entries)
            again = await self._stage_entries(proposal_id)
            if _seqs(again) == _seqs(entries):
                return
            entries = again

    async def _write(self, entries: list[Doc]) -> None:
        folded = (
            ("pipeline", _fold(pipeline_docs, entries)),
            ("registry", _fold(certificate_docs, entries)),
        )
        for kind, docs in folded:
            collection = self._kinds[kind][0]
            for doc in docs:
                await _replace(collection, doc)
                self._dirty[kind].add(int(doc["shard"]))
        self._wake.set()

    # ---- the shards' summaries

    async def _refresh(self, kind: str, shard: int) -> None:
        """Recompute one shard's summary, until its documents did not change meanwhile."""
        docs_of, summaries, summarise = self._kinds[kind]
        docs = await docs_of.find({"shard": shard}).to_list(None)
        while True:
            await _replace(summaries, {**summarise(docs), "_id": shard})
            again = await docs_of.find({"shard": shard}).to_list(None)
            if _versions(again) == _versions(docs):
                return
            docs = again

    async def refresh_changed(self) -> int:
        """Recompute the summaries of the shards changed since the last call; how many."""
        done = 0
        for kind, shards in self._dirty.items():
            while shards:
                shard = shards.pop()
                try:
                    await self._refresh(kind, shard)
                except BaseException:
                    shards.add(shard)
                    raise
                done += 1
        return done

    def mark_all_changed(self) -> None:
        for shards in self._dirty.values():
            shards.update(range(self._shards))
        self._wake.set()

    async def run(self) -> None:
        """The background task: every shard at start (unless this process just rebuilt them),
        then those that change."""
        if not self._rebuilt:
            self.mark_all_changed()
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.refresh_changed()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.warning("projections.refresh_failed", error=repr(exc)[:300])
                self._wake.set()
                await asyncio.sleep(backoff_seconds(failures, 0.5, 30))

    # ---- rebuilt when missing

    async def rebuild_if_missing(self) -> bool:
        """Build the projections from the log if they were never built (a console started on
        a log stored before them); True if it did. Idempotent: an interrupted rebuild is made
        again at the next start, and two consoles rebuilding at once write the same."""
        if await self.meta.find_one({"_id": BUILT}) is not None:
            return False
        head = int((await self._audit.head())["seq"])
        by_proposal: dict[str, list[Slim]] = defaultdict(list)
        read = 0
        for event_type in sorted(STAGE_EVENTS):
            query = {"event_type": event_type, "kind": "event"}
            async for entry in self._audit.entries.find(query, FOLDED_FIELDS):
                read += 1
                if entry.get("proposal_id") and entry.get("stage") and int(entry["seq"]) <= head:
                    by_proposal[sys.intern(str(entry["proposal_id"]))].append(_slim(entry))
        for kind, make in (("pipeline", pipeline_docs), ("registry", certificate_docs)):
            batch: list[ReplaceOne[Doc]] = []
            for pid, slims in by_proposal.items():
                docs = _fold(make, _entries_of(pid, slims))
                batch += [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs]
                if len(batch) >= REBUILD_BATCH:
                    await self._kinds[kind][0].bulk_write(batch, ordered=False)
                    batch = []
            if batch:
                await self._kinds[kind][0].bulk_write(batch, ordered=False)
        proposals = len(by_proposal)
        by_proposal.clear()
        self._rebuilt = True
        caught_up = await self._since(head)
        for shard in range(self._shards):
            for kind in self._kinds:
                await self._refresh(kind, shard)
        with contextlib.suppress(DuplicateKeyError):  # another console built them at once
            await self.meta.insert_one({"_id": BUILT, "seq": head, "at": dt.datetime.now(dt.UTC)})
        log.info(
            "projections.rebuilt",
            entries=read,
            proposals=proposals,
            through_seq=head,
            caught_up=caught_up,
        )
        return True

    async def _since(self, seq: int) -> int:
        """Fold again the proposals with stage entries after `seq` (appended while a rebuild
        read the log); how many."""
        proposals: set[str] = set()
        while True:
            entries = await self._audit.following(seq, 500)
            if not entries:
                break
            proposals |= {
                str(e["proposal_id"]) for e in entries if is_stage_entry(e) and e.get("proposal_id")
            }
            seq = int(entries[-1]["seq"])
        for proposal_id in sorted(proposals):
            await self.project(proposal_id)
        return len(proposals)

    # ---- reading

    async def pipeline(self, now: dt.datetime, go_live: dt.date | None) -> Doc:
        return pipeline_of(await self.lane_summaries.find({}).to_list(None), now, go_live)

    async def lane(
        self, stage: str, page: int | None, now: dt.datetime, go_live: dt.date | None
    ) -> Doc:
        """Page `page` (from 0) of a stage's proposals: those of the page's shard."""
        shards = lane_pages(await self.lane_summaries.find({}).to_list(None), stage)
        page = page or 0
        docs: list[Doc] = []
        if page < len(shards):
            docs = await self.proposals.find({"shard": shards[page], "stage": stage}).to_list(None)
        return lane_page(docs, stage, page, len(shards), now, go_live)

    async def registry(self, province_filter: str | None, go_live: dt.date | None) -> Doc:
        """The registry (the province's areas, or all of them while there are few); raises
        `UnknownProvince` for a province that is not one."""
        areas: list[Doc] | None
        if province_filter:  # its areas are read: they are counted as read
            code = province(province_filter).code
            areas = await self.certificates.find({"province_code": code}).to_list(None)
            return registry_of([registry_summary(areas)], areas, province_filter, go_live=go_live)
        summaries = await self.registry_summaries.find({}).to_list(None)
        total = sum(int(p["areas"]) for s in summaries for p in s.get("provinces") or [])
        areas = await self.certificates.find({}).to_list(None) if total <= WHOLE_REGISTRY else None
        return registry_of(summaries, areas, go_live=go_live)


def _fold(make: Callable[[list[Doc]], list[Doc]], entries: list[Doc]) -> list[Doc]:
    """One proposal's documents; none if its stored facts are ones the rules cannot read (the
    log still shows them; counted and logged, and the consumer goes on)."""
    try:
        return make(entries)
    except Exception as exc:
        FOLD_FAILURES.inc()
        log.error(
            "projections.fold_failed",
            proposal_id=entries[-1].get("proposal_id") if entries else None,
            error=repr(exc)[:500],
        )
        return []


async def _replace(collection: AsyncCollection[Doc], doc: Doc) -> None:
    """Write a whole document (two first writes of one `_id` at once: the other's insert
    won, and this one replaces it)."""
    while True:
        try:
            await collection.replace_one({"_id": doc["_id"]}, doc, upsert=True)
            return
        except DuplicateKeyError:
            continue
