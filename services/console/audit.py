"""The audit log in MongoDB: append-only entries chained by hash, and the chain head.

FerretDB has no transactions, so an append is two single-document writes in a fixed order:
1. insert the entry with `_id = seq` (a unique index on `source` makes redelivery a no-op);
2. move the head document `{_id: "global", seq, hash}` forward (a hint: the entries are the
   chain, `_id = seq` unique, and the head is repaired from them).
A crash between 1 and 2 leaves an entry one past the head; `repair()` (run at start, and before
the first append after any failure) finds it and advances the head. Appends of one process
share a memory cache of the heads (one lock guards that cache); `_id = seq` being unique means a
second writer (another console instance) can never fork the chain: it gets a duplicate key,
reloads, retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Mapping
from typing import Any

import structlog
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from smartcity_th.services.common.documents import Doc
from smartcity_th.services.console.chain import GENESIS, seal

log = structlog.get_logger(__name__)


# The largest sequence number a query may name: the store's integers are 64-bit (BSON int64).
MAX_SEQ = 2**63 - 1


class ChainConflict(RuntimeError):
    """The head moved under us: another writer, or a head that needs repair."""


class MongoAuditLog:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.entries = db["audit"]
        self.heads = db["audit_head"]
        self.replays = db["replays"]
        self._lock = asyncio.Lock()
        self._head: tuple[int, str] | None = None
        self._proposals: dict[str, Doc] = {}
        self._appended = asyncio.Event()

    def next_append(self) -> asyncio.Event:
        """Set by the next append of this process (take it before reading, then wait on it)."""
        return self._appended

    @staticmethod
    async def wait_for(appended: asyncio.Event, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(appended.wait(), timeout)
        return appended.is_set()

    async def ensure_indexes(self) -> None:
        await self.entries.create_index([("source", ASCENDING)], unique=True, name="source")
        await self.entries.create_index(
            [("proposal_id", ASCENDING), ("seq", ASCENDING)], name="proposal_seq"
        )
        await self.entries.create_index([("kind", ASCENDING), ("seq", ASCENDING)], name="kind")
        await self.entries.create_index(
            [("event_type", ASCENDING), ("seq", ASCENDING)], name="event_type"
        )

    async def head(self) -> Doc:
        doc = await self.heads.find_one({"_id": "global"})
        if doc is None:
            with contextlib.suppress(DuplicateKeyError):
                await self.heads.insert_one({"_id": "global", "seq": 0, "hash": GENESIS})
            doc = await self.heads.find_one({"_id": "global"})
            assert doc is not None
        return doc

    async def repair(self) -> int:
        """Advance the head over entries a crash left beyond it; returns how many."""
        async with self._lock:
            repaired = await self._repair_locked()
            self._head = None
            return repaired

    async def _repair_locked(self) -> int:
        head = await self.head()
        repaired = 0
        while True:
            nxt = await self.entries.find_one({"_id": head["seq"] + 1})
            if nxt is None:
                return repaired
            if nxt["prev_hash"] != head["hash"]:
                raise ChainConflict(
                    f"entry #{nxt['seq']} does not follow the head; run `smartcity audit verify`"
                )
            await self._advance(head, nxt)
            head = {"seq": nxt["seq"], "hash": nxt["hash"]}
            repaired += 1
            log.warning("audit.head_repaired", seq=nxt["seq"])

    async def _advance(self, head: Mapping[str, Any], entry: Mapping[str, Any]) -> None:
        """Move the head forward. The head is only a hint: the chain is the entries, whose
        `_id = seq` is unique (of two writers of one seq exactly one inserts), and `repair`
        walks forward from any head to the last entry. So a head another console moved, or a
        late write that set it back, is harmless."""
        await self.heads.update_one(
            {"_id": "global", "seq": {"$lt": entry["seq"]}},
            {"$set": {"seq": entry["seq"], "hash": entry["hash"]}},
        )

    async def seen(self, source: str) -> bool:
        return await self.entries.find_one({"source": source}, {"_id": 1}) is not None

    async def _load_locked(self) -> None:
        """Repair the head, then cache it and every proposal's chain head (one scan)."""
        await self._repair_locked()
        head = await self.head()
        proposals: dict[str, Doc] = {}
        cursor = self.entries.find(
            {},
            {
                "_id": 0,
                "seq": 1,
                "proposal_id": 1,
                "proposal_seq": 1,
                "hash": 1,
                "province_code": 1,
                "agency": 1,
            },
        ).sort("seq", ASCENDING)
        async for doc in cursor:
            if doc.get("proposal_id") is not None:
                proposals[doc["proposal_id"]] = doc
        self._head = (int(head["seq"]), str(head["hash"]))
        self._proposals = proposals

    async def context(self, proposal_id: str | None) -> Doc | None:
        """The last entry about `proposal_id` (its chain head and carried-forward fields)."""
        if proposal_id is None:
            return None
        async with self._lock:
            if self._head is None:
                await self._load_locked()
            return self._proposals.get(proposal_id)

    async def append(self, proposal_id: str | None, content: Mapping[str, Any]) -> Doc | None:
        """Store `content` at the end of both chains; None if its source is already stored.

        The happy path is two writes (the entry, then the head); the chain heads are cached in
        memory. A duplicate `_id` means another writer took the sequence number: reload and
        retry. A duplicate `source` means the record is already stored."""
        async with self._lock:
            for _ in range(10):
                if self._head is None:
                    await self._load_locked()
                seq, prev_hash = self._head  # type: ignore[misc]
                last = self._proposals.get(proposal_id) if proposal_id else None
                entry = seal(
                    seq=seq + 1,
                    prev_hash=prev_hash,
                    proposal_id=proposal_id,
                    proposal_seq=(last["proposal_seq"] + 1) if last else 1,
                    proposal_prev_hash=last["hash"] if last else GENESIS,
                    content=content,
                )
                try:
                    await self.entries.insert_one({"_id": entry["seq"], **entry})
                except DuplicateKeyError:
                    if content.get("source") and await self.seen(str(content["source"])):
                        return None
                    self._head = None
                    continue
                try:
                    await self._advance({"seq": seq}, entry)
                except BaseException:
                    self._head = None  # the next append repairs from the stored entry
                    raise
                self._head = (entry["seq"], entry["hash"])
                if proposal_id is not None:
                    self._proposals[proposal_id] = entry
                self._appended.set()
                self._appended = asyncio.Event()
                return entry
            raise ChainConflict("the chain head keeps moving: is another console writing?")

    async def record_replay(self, replay: Doc) -> None:
        await self.replays.insert_one(replay)

    async def page(
        self,
        query: Mapping[str, Any],
        *,
        after_seq: int = 0,
        limit: int = 200,
        newest_first: bool = False,
    ) -> list[Doc]:
        q = dict(query)
        if after_seq:
            q["seq"] = {"$gt": after_seq}
        order = DESCENDING if newest_first else ASCENDING
        return await self.entries.find(q, {"_id": 0}).sort("seq", order).limit(limit).to_list(None)

    async def dead_letter(self, dead_letter_id: str) -> Doc | None:
        return await self.entries.find_one(
            {"kind": "deadletter", "dead_letter_id": dead_letter_id}, {"_id": 0}
        )

    async def replays_of(self, dead_letter_ids: list[str]) -> dict[str, list[Doc]]:
        out: dict[str, list[Doc]] = {}
        docs = (
            await self.replays.find({"dead_letter_id": {"$in": dead_letter_ids}}, {"_id": 0})
            .sort("at", ASCENDING)
            .to_list(None)
        )
        for doc in docs:
            out.setdefault(doc["dead_letter_id"], []).append(doc)
        return out

    @staticmethod
    def now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)
