"""The console's audit log in memory: `services/console/audit.py`'s semantics without a server.

What it keeps of `MongoAuditLog`, and `tests/audit_contract.py` checks on both:
- an append seals the content at the end of the whole log's chain and of its proposal's, and is
  stored once per `source` (a redelivered record appends nothing and returns None);
- several logs on one `AuditMemory` are console processes on one database: their appends never
  fork either chain, and each sees the others' entries (`context`, `page`, `head`);
- each entry gets its block and, in a list (the delivery log, the dead letters), its number
  and list block (`numbers`), and a page of a list reads at most `max_blocks` blocks, from the
  block of its cursor's entry, ending early with the cursor where it stopped;
- what is stored is what a read gives back, through BSON as the services' client reads it
  (a replay's `at` to the millisecond), never the caller's own objects;
- `next_append` is set by this log's next append.

There is no crash between an entry and the head here (one write), so there is nothing to repair.
Every read and write yields to the event loop once, as a round trip to the server does, so
concurrent appends interleave as they do on the real log.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from smartcity_th.services.common.documents import Doc
from smartcity_th.services.console.audit import numbers
from smartcity_th.services.console.chain import GENESIS, seal
from smartcity_th.services.console.paging import (
    MAX_BLOCKS,
    Cursor,
    Window,
    block_of,
    window_of,
)
from smartcity_th.services.console.views import Listing
from tests.unit.fakes.store import decode, encode

CONTEXT_FIELDS = ("seq", "proposal_id", "proposal_seq", "hash", "province_code", "agency")
"""What `context` gives of the last entry about a proposal."""


@dataclass
class AuditMemory:
    """One console database: the entries (BSON, by `seq`), their sources, each list's count,
    and the replays."""

    entries: dict[int, bytes] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    lists: dict[str, int] = field(default_factory=dict)
    replays: dict[str, bytes] = field(default_factory=dict)

    @property
    def last(self) -> int:
        return len(self.entries)

    def stored(self) -> list[Doc]:
        return [decode(self.entries[seq]) for seq in sorted(self.entries)]


async def _round_trip() -> None:
    await asyncio.sleep(0)


RANGES: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def matches(doc: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    """Whether `doc` matches a query of the kinds the console asks: equality on a field, `$in`,
    and the ranges `$gt`, `$gte`, `$lt`, `$lte` (which never match a missing or null field)."""
    for name, condition in query.items():
        value = doc.get(name)
        if not isinstance(condition, Mapping):
            if value != condition:
                return False
            continue
        for op, arg in condition.items():
            if op == "$in":
                ok = value in arg
            elif op in RANGES:
                ok = value is not None and RANGES[op](value, arg)
            else:
                raise ValueError(f"the in-memory audit log does not answer {op}")
            if not ok:
                return False
    return True


class InMemoryAuditLog:
    """One console process's `AuditLog` (services/console/ports.py) on an `AuditMemory`."""

    def __init__(self, memory: AuditMemory | None = None, *, max_blocks: int = MAX_BLOCKS) -> None:
        self.memory = memory if memory is not None else AuditMemory()
        self._max_blocks = max_blocks
        self._appended = asyncio.Event()

    def next_append(self) -> asyncio.Event:
        return self._appended

    @staticmethod
    async def wait_for(appended: asyncio.Event, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(appended.wait(), timeout)
        return appended.is_set()

    async def head(self) -> Doc:
        await _round_trip()
        last = self.memory.last
        hashed = decode(self.memory.entries[last])["hash"] if last else GENESIS
        return {"_id": "global", "seq": last, "hash": hashed, "lists": dict(self.memory.lists)}

    async def repair(self) -> int:
        return 0

    def _last_about(self, proposal_id: str) -> Doc | None:
        about = [e for e in self.memory.stored() if e.get("proposal_id") == proposal_id]
        return about[-1] if about else None

    async def context(self, proposal_id: str | None) -> Doc | None:
        if proposal_id is None:
            return None
        await _round_trip()
        last = self._last_about(proposal_id)
        return None if last is None else {k: last.get(k) for k in CONTEXT_FIELDS}

    async def append(self, proposal_id: str | None, content: Mapping[str, Any]) -> Doc | None:
        source = content.get("source")
        if not source:
            raise ValueError("an audit entry names its source (topic:partition:offset)")
        await _round_trip()
        if str(source) in self.memory.sources:
            return None
        seq = self.memory.last + 1
        before = decode(self.memory.entries[seq - 1]) if seq > 1 else None
        last = self._last_about(proposal_id) if proposal_id else None
        entry = seal(
            seq=seq,
            prev_hash=before["hash"] if before else GENESIS,
            proposal_id=proposal_id,
            proposal_seq=(last["proposal_seq"] + 1) if last else 1,
            proposal_prev_hash=last["hash"] if last else GENESIS,
            content=content,
        )
        stored = {**entry, **numbers(entry, self.memory.lists)}
        raw = encode(stored)
        self.memory.entries[seq] = raw
        self.memory.sources[str(source)] = seq
        if stored.get("list"):
            self.memory.lists[stored["list"]] = stored["list_n"]
        self._appended.set()
        self._appended = asyncio.Event()
        return decode(encode(entry))

    async def record_replay(self, replay: Doc) -> None:
        await _round_trip()
        if replay["_id"] in self.memory.replays:
            raise ValueError(f"replay {replay['_id']} is stored already")
        self.memory.replays[replay["_id"]] = encode(replay)

    async def page(
        self,
        query: Mapping[str, Any],
        *,
        after_seq: int = 0,
        before_seq: int | None = None,
        limit: int = 200,
        newest_first: bool = False,
    ) -> list[Doc]:
        await _round_trip()
        found = [
            e
            for e in self.memory.stored()
            if after_seq < e["seq"] and (before_seq is None or e["seq"] < before_seq)
            if matches(e, query)
        ]
        return (found[::-1] if newest_first else found)[:limit]

    async def dead_letter(self, dead_letter_id: str) -> Doc | None:
        found = await self.page({"kind": "deadletter", "dead_letter_id": dead_letter_id}, limit=1)
        return found[0] if found else None

    async def replays_of(self, dead_letter_ids: list[str]) -> dict[str, list[Doc]]:
        await _round_trip()
        wanted = set(dead_letter_ids)
        replays = [decode(raw) for raw in self.memory.replays.values()]
        out: dict[str, list[Doc]] = {}
        for replay in sorted(replays, key=lambda r: r["at"]):
            if replay["dead_letter_id"] in wanted:
                out.setdefault(replay["dead_letter_id"], []).append(
                    {k: v for k, v in replay.items() if k != "_id"}
                )
        return out

    async def window(self, listing: Listing, cursor: Cursor, limit: int) -> Window:
        """A list (`listing.list_name`: "all" or one of the lists) is read by its blocks: from
        the block of the cursor's entry (or the newest block), at most `max_blocks` of them.
        A cursor's entry outside the list, or a listing with no list, is answered by a query."""
        name = listing.list_name
        if name is None:
            return await self._queried(listing, cursor, limit)
        await _round_trip()
        members = [e for e in self.memory.stored() if name == "all" or e.get("list") == name]
        number = {e["seq"]: e["seq"] if name == "all" else e["list_n"] for e in members}

        def block(entry: Doc) -> int:
            return block_of(number[entry["seq"]])

        top = block(members[-1]) if members else 0
        at = cursor.after if cursor.after is not None else cursor.before
        if at:
            if name != "all" and at not in number:  # the cursor's entry is not in the list
                return await self._queried(listing, cursor, limit)
            start = block_of(number.get(at, at))
        else:
            start = 0 if cursor.after is not None else top
        if cursor.after is not None:  # forwards, oldest first, from the cursor's block up
            reach = range(start, start + self._max_blocks)
            reached = [e for e in members if block(e) in reach and e["seq"] > cursor.after]
            rows = [e for e in reached if listing.keeps(e)]
            more = len(rows) > limit
            stopped = bool(reached) and not more and reach.stop <= top
            resume = max(e["seq"] for e in reached) if stopped else None
            return window_of(rows[:limit][::-1], cursor, limit, more=more, resume=resume)
        reach = range(start - self._max_blocks + 1, start + 1)  # backwards, newest first
        before = cursor.before
        reached = [
            e for e in members if block(e) in reach and (before is None or e["seq"] < before)
        ]
        rows = [e for e in reached if listing.keeps(e)][::-1]
        more = len(rows) > limit
        stopped = bool(reached) and not more and reach.start > 0
        resume = min(e["seq"] for e in reached) if stopped else None
        return window_of(rows, cursor, limit, more=more, resume=resume)

    async def _queried(self, listing: Listing, cursor: Cursor, limit: int) -> Window:
        if cursor.after is not None:
            found = await self.page(listing.query, after_seq=cursor.after, limit=limit + 1)
            found = [d for d in found if listing.keeps(d)]
            return window_of(found[:limit][::-1], cursor, limit, more=len(found) > limit)
        found = await self.page(
            listing.query, before_seq=cursor.before, limit=limit + 1, newest_first=True
        )
        found = [d for d in found if listing.keeps(d)]
        return window_of(found[:limit], cursor, limit, more=len(found) > limit)
