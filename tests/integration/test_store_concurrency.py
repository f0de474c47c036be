"""The store server under a burst of concurrent writes (issue 27): FerretDB 1.24 as released
deadlocked its PostgreSQL pool once about 50 updates ran at once (each held the connection of
its read and waited for a second one for the write; infra/ferretdb/README.md). The stack builds
FerretDB with infra/ferretdb/pool-deadlock.patch; this runs the reproduction that hung the
unpatched server within seconds, with six times the pool's 50 connections."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pymongo import AsyncMongoClient, ReturnDocument

from tests.support import MONGO, Namespace

pytestmark = pytest.mark.integration

UPDATERS = 300
ROUNDS = 6
STALL_SECONDS = 60.0  # no update finished for this long: the server hangs, on any machine


async def _burst(coll: Any, done: list[int]) -> None:
    async def updater(i: int) -> None:
        for r in range(ROUNDS):
            if r % 3 == 2:  # findAndModify takes the same read-then-write path
                await coll.find_one_and_update(
                    {"_id": i}, {"$inc": {"n": 1}}, return_document=ReturnDocument.AFTER
                )
            else:
                await coll.update_one({"_id": i}, {"$inc": {"n": 1}})
            done[0] += 1
        # and the removing findAndModify, which read and then deleted on two connections
        await coll.find_one_and_delete({"_id": f"gone-{i}"})
        done[0] += 1

    tasks = [asyncio.create_task(updater(i)) for i in range(UPDATERS)]
    seen, stalled_at = -1, time.monotonic() + STALL_SECONDS
    try:
        while not all(t.done() for t in tasks):
            if done[0] != seen:
                seen, stalled_at = done[0], time.monotonic() + STALL_SECONDS
            if time.monotonic() > stalled_at:
                raise AssertionError(
                    f"the store stopped answering after {done[0]} of "
                    f"{UPDATERS * (ROUNDS + 1)} writes from {UPDATERS} connections: no write "
                    f"finished for {STALL_SECONDS:.0f} s (FerretDB's pool deadlock; is "
                    "infra/ferretdb/pool-deadlock.patch applied?)"
                )
            await asyncio.sleep(0.2)
        for t in tasks:
            t.result()
    finally:
        for t in tasks:
            t.cancel()


async def test_three_hundred_concurrent_updaters_all_finish_and_the_store_still_answers(
    ns: Namespace,
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        MONGO, maxPoolSize=UPDATERS + 10, serverSelectionTimeoutMS=10_000
    )
    try:
        coll = client[ns.db("store_burst")]["counters"]
        await coll.insert_many([{"_id": i, "n": 0} for i in range(UPDATERS)])
        await coll.insert_many([{"_id": f"gone-{i}"} for i in range(UPDATERS)])
        done = [0]
        await _burst(coll, done)

        assert done[0] == UPDATERS * (ROUNDS + 1)
        counts = [d["n"] async for d in coll.find({"n": {"$exists": True}})]
        assert counts == [ROUNDS] * UPDATERS  # every update applied once
        assert await coll.count_documents({"_id": {"$regex": "^gone-"}}) == 0
    finally:
        await client.close()
    # A fresh connection's ping: the server answers after the burst.
    probe: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        MONGO, serverSelectionTimeoutMS=10_000, socketTimeoutMS=10_000
    )
    try:
        assert (await probe.admin.command("ping"))["ok"] == 1
    finally:
        await probe.close()
