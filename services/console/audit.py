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
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import structlog
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from smartcity_th.services.common.documents import Doc
from smartcity_th.services.console.chain import GENESIS, seal
from smartcity_th.services.console.paging import (
    MAX_BLOCKS,
    Cursor,
    Window,
    block_of,
    list_page,
    window_of,
)
from smartcity_th.services.console.views import Listing, list_of

log = structlog.get_logger(__name__)


# The largest sequence number a query may name: the store's integers are 64-bit (BSON int64).
MAX_SEQ = 2**63 - 1
PROPOSAL_HEADS = 10_000
"""Proposals whose chain head an instance keeps in memory (the rest are read when needed)."""


def numbers(entry: Mapping[str, Any], counts: Mapping[str, int]) -> Doc:
    """Where a new entry sits in the log's blocks and in its list's, after `counts` (each
    list's entries so far): not hashed (they follow from the order of the chain), only for
    reading pages (services/console/paging.py)."""
    out: Doc = {"block": block_of(int(entry["seq"]))}
    name = list_of(entry)
    if name is not None:
        n = counts.get(name, 0) + 1
        out |= {"list": name, "list_n": n, "list_page": list_page(name, block_of(n))}
    return out


class ChainConflict(RuntimeError):
    """The head moved under us: another writer, or a head that needs repair."""


class MongoAuditLog:
    """The console's `AuditLog` (services/console/ports.py) in MongoDB (FerretDB)."""

    def __init__(self, db: AsyncDatabase[Doc], *, max_blocks: int = MAX_BLOCKS) -> None:
        self.entries = db["audit"]
        self.heads = db["audit_head"]
        self.replays = db["replays"]
        self._lock = asyncio.Lock()
        self._head: tuple[int, str] | None = None
        self._lists: dict[str, int] = {}
        self._proposals: OrderedDict[str, Doc] = OrderedDict()
        self._appended = asyncio.Event()
        self._max_blocks = max_blocks
        """Blocks one page of a list may read (paging.MAX_BLOCKS; fewer in tests)."""

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
        await self.entries.create_index([("block", ASCENDING)], name="block")
        await self.entries.create_index([("list_page", ASCENDING)], name="list_page")
        await self.entries.create_index([("dead_letter_id", ASCENDING)], name="dead_letter_id")

    async def head(self) -> Doc:
        doc = await self.heads.find_one({"_id": "global"})
        if doc is None:
            with contextlib.suppress(DuplicateKeyError):
                await self.heads.insert_one(
                    {"_id": "global", "seq": 0, "hash": GENESIS, "lists": {}}
                )
            doc = await self.heads.find_one({"_id": "global"})
            assert doc is not None
        return doc

    async def repair(self) -> int:
        """Advance the head over entries a crash left beyond it (and number the lists of a log
        stored before they were numbered); returns how many entries it advanced over."""
        async with self._lock:
            repaired = await self._repair_locked()
            if "lists" not in await self.head():  # stored before the lists were numbered
                await self._number_lists()
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
            if "block" not in nxt and "lists" in head:  # written by an earlier console
                counts = {str(k): int(v) for k, v in head["lists"].items()}
                extra = numbers(nxt, counts)
                await self.entries.update_one({"_id": nxt["_id"]}, {"$set": extra})
                nxt |= extra
            await self._advance(head, nxt)
            moved: Doc = {"seq": nxt["seq"], "hash": nxt["hash"]}
            if "lists" in head:
                moved["lists"] = self._lists_after(head, nxt)
            head = moved
            repaired += 1
            log.warning("audit.head_repaired", seq=nxt["seq"])

    @staticmethod
    def _lists_after(head: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, int]:
        counts = {str(k): int(v) for k, v in (head.get("lists") or {}).items()}
        if entry.get("list") and entry.get("list_n"):
            counts[entry["list"]] = max(counts.get(entry["list"], 0), int(entry["list_n"]))
        return counts

    async def _advance(self, head: Mapping[str, Any], entry: Mapping[str, Any]) -> None:
        """Move the head forward, with the count of the entry's list (`list_n`). The head is
        only a hint: the chain is the entries, whose `_id = seq` is unique (of two writers of
        one seq exactly one inserts), and `repair` walks forward from any head to the last
        entry. So a head another console moved, or a late write that set it back, is harmless
        (a list's count that lags is made up for by reading one block past it)."""
        moved: dict[str, Any] = {"seq": entry["seq"], "hash": entry["hash"]}
        if entry.get("list") and entry.get("list_n"):
            moved[f"lists.{entry['list']}"] = entry["list_n"]
        await self.heads.update_one(
            {"_id": "global", "seq": {"$lt": entry["seq"]}}, {"$set": moved}
        )

    async def seen(self, source: str) -> bool:
        return await self.entries.find_one({"source": source}, {"_id": 1}) is not None

    async def _load_locked(self) -> None:
        """Repair the head, then cache it and the lists' counts. Proposals' chain heads are
        read when an entry about the proposal comes (no scan of the log at start)."""
        await self._repair_locked()
        head = await self.head()
        if "lists" not in head:  # stored before the lists were numbered
            await self._number_lists()
            head = await self.head()
        self._head = (int(head["seq"]), str(head["hash"]))
        self._lists = {str(k): int(v) for k, v in (head.get("lists") or {}).items()}
        self._proposals.clear()

    async def _number_lists(self) -> None:
        """Give entries stored before blocks existed their blocks and list numbers (one pass
        over the log, once; then the head records the lists' counts)."""
        found: list[tuple[int, str | None, bool, bool]] = []
        fields = {"_id": 0, "seq": 1, "kind": 1, "event_type": 1, "block": 1, "list": 1}
        async for doc in self.entries.find({}, fields):
            found.append((int(doc["seq"]), list_of(doc), "block" in doc, "list" in doc))
        counts: dict[str, int] = {}
        for seq, name, has_block, has_list in sorted(found):
            numbered: dict[str, Any] = {} if has_block else {"block": block_of(seq)}
            if name is not None:
                counts[name] = n = counts.get(name, 0) + 1
                if not has_list:
                    numbered |= {
                        "list": name,
                        "list_n": n,
                        "list_page": list_page(name, block_of(n)),
                    }
            if numbered:
                await self.entries.update_one({"_id": seq}, {"$set": numbered})
        await self.heads.update_one({"_id": "global"}, {"$set": {"lists": counts}})
        log.info("audit.lists_numbered", entries=len(found), lists=counts)

    async def _proposal_head(self, proposal_id: str) -> Doc | None:
        """The last entry about `proposal_id` (cached; read from the store on a miss)."""
        if proposal_id in self._proposals:
            self._proposals.move_to_end(proposal_id)
            return self._proposals[proposal_id]
        fields = {
            "_id": 0,
            "seq": 1,
            "proposal_id": 1,
            "proposal_seq": 1,
            "hash": 1,
            "province_code": 1,
            "agency": 1,
        }
        found = await self.entries.find({"proposal_id": proposal_id}, fields).to_list(None)
        last = max(found, key=lambda d: int(d["proposal_seq"]), default=None)
        if last is not None:
            self._remember(proposal_id, last)
        return last

    def _remember(self, proposal_id: str, entry: Doc) -> None:
        self._proposals[proposal_id] = entry
        self._proposals.move_to_end(proposal_id)
        while len(self._proposals) > PROPOSAL_HEADS:
            self._proposals.popitem(last=False)

    async def context(self, proposal_id: str | None) -> Doc | None:
        """The last entry about `proposal_id` (its chain head and carried-forward fields)."""
        if proposal_id is None:
            return None
        async with self._lock:
            if self._head is None:
                await self._load_locked()
            return await self._proposal_head(proposal_id)

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
                last = await self._proposal_head(proposal_id) if proposal_id else None
                entry = seal(
                    seq=seq + 1,
                    prev_hash=prev_hash,
                    proposal_id=proposal_id,
                    proposal_seq=(last["proposal_seq"] + 1) if last else 1,
                    proposal_prev_hash=last["hash"] if last else GENESIS,
                    content=content,
                )
                stored = {"_id": entry["seq"], **entry, **numbers(entry, self._lists)}
                try:
                    await self.entries.insert_one(stored)
                except DuplicateKeyError:
                    if content.get("source") and await self.seen(str(content["source"])):
                        return None
                    self._head = None
                    continue
                try:
                    await self._advance({"seq": seq}, stored)
                except BaseException:
                    self._head = None  # the next append repairs from the stored entry
                    raise
                self._head = (entry["seq"], entry["hash"])
                if stored.get("list"):
                    self._lists[stored["list"]] = max(
                        self._lists.get(stored["list"], 0), stored["list_n"]
                    )
                if proposal_id is not None:
                    self._remember(proposal_id, entry)
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
        before_seq: int | None = None,
        limit: int = 200,
        newest_first: bool = False,
    ) -> list[Doc]:
        """Up to `limit` entries matching `query` with `after_seq < seq < before_seq`, in
        sequence order (newest first if asked). The whole log read forwards (`audit verify`,
        the live stream) goes by blocks; a query should select few entries (one proposal's)."""
        if not query and before_seq is None and not newest_first:
            return await self.following(after_seq, limit)
        q = dict(query)
        bounds: dict[str, int] = {}
        if after_seq:
            bounds["$gt"] = after_seq
        if before_seq is not None:
            bounds["$lt"] = before_seq
        if bounds:
            q["seq"] = bounds
        order = DESCENDING if newest_first else ASCENDING
        return await self.entries.find(q, {"_id": 0}).sort("seq", order).limit(limit).to_list(None)

    async def following(self, after_seq: int, limit: int) -> list[Doc]:
        """The `limit` entries after `after_seq`, oldest first, read by their blocks: those
        up to the head's at once (one equality query each, concurrently), then any past the
        head (entries a crash left) until an empty one."""
        top = block_of(int((await self.head())["seq"]))
        last = after_seq + limit
        first, upto = block_of(after_seq + 1), block_of(last)
        found = await asyncio.gather(
            *(self._block({"block": n}) for n in range(first, min(upto, top) + 1))
        )
        docs = [d for block in found for d in block]
        n = max(first, top + 1)
        while n <= upto:
            beyond = await self._block({"block": n})
            if not beyond:
                break
            docs += beyond
            n += 1
        return sorted(
            (d for d in docs if after_seq < d["seq"] <= last), key=lambda d: int(d["seq"])
        )

    async def _block(self, query: Mapping[str, Any]) -> list[Doc]:
        return await self.entries.find(dict(query), {"_id": 0}).to_list(None)

    async def window(self, listing: Listing, cursor: Cursor, limit: int) -> Window:
        """One page of a newest-first list (the event log, the delivery log, dead letters):
        the `limit` entries just older than `cursor.before`, or just newer than
        `cursor.after`, or the newest; one more is read to know whether another page follows.
        A list is read a block at a time, from the block of the cursor's entry."""
        if listing.list_name is None:
            return await self._queried(listing, cursor, limit)
        name = listing.list_name

        async def block(n: int) -> list[Doc]:
            query = {"block": n} if name == "all" else {"list_page": list_page(name, n)}
            return await self._block(query)

        start: int | None
        if cursor.after is not None:
            start = await self._block_at(name, cursor.after) if cursor.after else 0
            if start is None:
                return await self._queried(listing, cursor, limit)
            top = await self._newest_block(name, block)
            return await self._forwards(listing, cursor, limit, block, start, top)
        if cursor.before is None:
            start = await self._newest_block(name, block)
        else:
            start = await self._block_at(name, cursor.before)
        if start is None:
            return await self._queried(listing, cursor, limit)
        return await self._backwards(listing, cursor, limit, block, start)

    async def _newest_block(self, name: str, block: Any) -> int:
        head = await self.head()
        if name == "all":
            counted = int(head["seq"])
        else:
            counted = max(self._lists.get(name, 0), int((head.get("lists") or {}).get(name, 0)))
        top = block_of(counted)
        while await block(top + 1):  # a count that lags (another writer's, a crash)
            top += 1
        return top

    async def _block_at(self, name: str, seq: int) -> int | None:
        """The block (of the whole log, or of `name`'s list) of entry `seq`; None if that
        entry is not in the list."""
        if name == "all":
            return block_of(seq)
        doc = await self.entries.find_one({"_id": seq}, {"list": 1, "list_n": 1})
        if doc is None or doc.get("list") != name or doc.get("list_n") is None:
            return None
        return block_of(int(doc["list_n"]))

    async def _backwards(
        self, listing: Listing, cursor: Cursor, limit: int, block: Any, start: int
    ) -> Window:
        rows: list[Doc] = []
        lowest: int | None = None
        n, read = start, 0
        while n >= 0 and len(rows) <= limit and read < self._max_blocks:
            docs = [d for d in await block(n) if cursor.before is None or d["seq"] < cursor.before]
            if docs:
                seen = min(int(d["seq"]) for d in docs)
                lowest = seen if lowest is None else min(lowest, seen)
            rows += sorted((d for d in docs if listing.keeps(d)), key=lambda d: -int(d["seq"]))
            n, read = n - 1, read + 1
        more = len(rows) > limit
        stopped = not more and n >= 0 and read >= self._max_blocks and lowest is not None
        return window_of(rows, cursor, limit, more=more, resume=lowest if stopped else None)

    async def _forwards(
        self, listing: Listing, cursor: Cursor, limit: int, block: Any, start: int, top: int
    ) -> Window:
        after = cursor.after or 0
        rows: list[Doc] = []
        highest: int | None = None
        n, read = start, 0
        while n <= top and len(rows) <= limit and read < self._max_blocks:
            docs = [d for d in await block(n) if d["seq"] > after]
            if docs:
                seen = max(int(d["seq"]) for d in docs)
                highest = seen if highest is None else max(highest, seen)
            rows += sorted((d for d in docs if listing.keeps(d)), key=lambda d: int(d["seq"]))
            n, read = n + 1, read + 1
        more = len(rows) > limit
        stopped = not more and n <= top and read >= self._max_blocks and highest is not None
        page = list(reversed(rows[:limit]))
        return window_of(page, cursor, limit, more=more, resume=highest if stopped else None)

    async def _queried(self, listing: Listing, cursor: Cursor, limit: int) -> Window:
        """A page of the entries a (selective) store query selects."""
        if cursor.after is not None:
            found = await self.page(listing.query, after_seq=cursor.after, limit=limit + 1)
            found = [d for d in found if listing.keeps(d)]
            return window_of(list(reversed(found[:limit])), cursor, limit, more=len(found) > limit)
        found = await self.page(
            listing.query, before_seq=cursor.before, limit=limit + 1, newest_first=True
        )
        found = [d for d in found if listing.keeps(d)]
        return window_of(found[:limit], cursor, limit, more=len(found) > limit)

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
