"""The sending offices' registers of letter numbers (ทะเบียนหนังสือส่ง): insert-only.

Each number is one document in `letter_register`, inserted once and never changed:
`_id` = (register, number) (`<office>:<Buddhist-era year>@<number, zero-padded>`), with the
letter it was given to. Two unique keys make the insert the whole allocation: the `_id` (no
number twice in a register) and `letter_id` (no letter numbered twice). Of two writers that
race for the same number, one inserts and the other takes the next; of two that number the
same letter at once (a redelivered event on another instance), one inserts and the other
finds that number. A number is never reused: nothing deletes from the register.

Cost: a new letter costs one insert when this process allocated the register's previous
number, else a search for the register's highest number first (`_highest`: a few lookups by
`_id`; nothing is read to learn that the letter has no number yet: the unique `letter_id`
makes the insert that check); a letter
already numbered (a redelivered event) costs a refused insert and one read.

Within one process the allocations of one register take turns (an asyncio lock per register):
not for correctness, which the unique `_id` gives, but because concurrent allocations in one
process all tried the same next number, and every loser read the register again and tried the
next one together with the others: with 16 letters at once one register gave 8 numbers/s
instead of 200-300 (`python -m tests.bench.letter_register`, docs/performance.md). Instances
of the service still race each other through the store."""

from __future__ import annotations

import asyncio
import datetime as dt

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from smartcity_th.services.common.documents import Doc
from smartcity_th.services.notifications.ports import Issued

MAX_RACES = 1000


class RegisterContended(Exception):
    """A register kept losing races for its next number (never seen in practice)."""


def entry_id(register: str, number: int) -> str:
    return f"{register}@{number:08d}"


class LetterRegister:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.entries: AsyncCollection[Doc] = db["letter_register"]
        self._last: dict[str, int] = {}
        self._turns: dict[str, asyncio.Lock] = {}

    async def ensure_indexes(self) -> None:
        await self.entries.create_index([("letter_id", ASCENDING)], unique=True)
        await self.entries.create_index([("register", ASCENDING), ("number", DESCENDING)])

    async def _highest(self, register: str) -> int:
        """The register's highest number, found by looking numbers up by `_id`: a register
        has no gaps (each number is inserted once, after the one before it), so it is the last
        `n` whose `register@n` exists; double `n` until one is missing, then bisect (about
        2 log2(N) lookups, each an equality the store answers from an index). A find sorted by
        number read every number of the register on FerretDB, which sorts by itself: a cost
        that grew with every letter ever sent, paid at each process's first letter and after
        every race lost to another instance."""

        async def taken(n: int) -> bool:
            found = await self.entries.find_one({"_id": entry_id(register, n)}, {"_id": 1})
            return found is not None

        if not await taken(1):
            return 0
        low, high = 1, 2
        while await taken(high):
            low, high = high, high * 2  # a search, not a wait
        while high - low > 1:
            mid = (low + high) // 2
            if await taken(mid):
                low = mid
            else:
                high = mid
        return low

    async def number(self, register: str, letter_id: str, *, now: dt.datetime) -> int:
        """The number of `letter_id` in `register`: the one it was given, or the next."""
        return (await self.issue(register, letter_id, now=now)).number

    async def issue(self, register: str, letter_id: str, *, now: dt.datetime) -> Issued:
        """The entry of `letter_id`: the number and moment it was given (in whichever
        register it was given, for a letter numbered before), or the next number of
        `register`, given `now`."""
        async with self._turns.setdefault(register, asyncio.Lock()):
            return await self._allocate(register, letter_id, now)

    async def _allocate(self, register: str, letter_id: str, now: dt.datetime) -> Issued:
        last = self._last.get(register)
        if last is None:
            last = await self._highest(register)
        for _ in range(MAX_RACES):
            candidate = last + 1
            try:
                await self.entries.insert_one(
                    {
                        "_id": entry_id(register, candidate),
                        "register": register,
                        "number": candidate,
                        "letter_id": letter_id,
                        "at": now,
                    }
                )
            except DuplicateKeyError:
                found = await self.entries.find_one(
                    {"letter_id": letter_id}, {"number": 1, "at": 1}
                )
                if found is not None:
                    at: dt.datetime = found["at"]
                    return Issued(
                        int(found["number"]), at if at.tzinfo else at.replace(tzinfo=dt.UTC)
                    )
                last = max(candidate, await self._highest(register))
                continue
            self._last[register] = candidate
            return Issued(candidate, now)
        raise RegisterContended(f"register {register}: {MAX_RACES} lost races")

    async def entries_of(self, register: str) -> list[Doc]:
        """The register in number order (for the console and audits)."""
        cursor = self.entries.find({"register": register}).sort("number", ASCENDING)
        return [doc async for doc in cursor]
