"""The audit log on the real FerretDB: idempotent appends, concurrent appends under one lock,
and repair after a crash between the entry write and the head update."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.consumer import Record
from smartcity_th.services.console.audit import MongoAuditLog
from smartcity_th.services.console.chain import Verifier, seal
from smartcity_th.services.console.handlers import Recorder
from tests.support import Namespace

pytestmark = pytest.mark.integration


async def fresh_log(
    mongo: AsyncMongoClient[dict[str, Any]], ns: Namespace, name: str
) -> MongoAuditLog:
    log = MongoAuditLog(mongo[ns.db(f"console_{name}")])
    await log.ensure_indexes()
    await log.repair()
    return log


async def all_entries(log: MongoAuditLog) -> list[dict[str, Any]]:
    return await log.page({}, limit=10_000)


async def test_redelivered_records_are_stored_once_and_concurrent_appends_chain(
    mongo: AsyncMongoClient[dict[str, Any]],
    ns: Namespace,
) -> None:
    log = await fresh_log(mongo, ns, "idem")
    recorder = Recorder(log, Topics(ns.topics_prefix))
    topic = f"{ns.topics_prefix}smartcity.intake"
    records = [
        Record(topic, i % 3, i, f"p-{i % 4:03d}".encode(), b"not an event", ()) for i in range(30)
    ]
    await asyncio.gather(*(recorder.record(r) for r in records))
    await asyncio.gather(*(recorder.record(r) for r in records[:10]))  # redelivery
    entries = await all_entries(log)
    assert len(entries) == 30
    assert {e["kind"] for e in entries} == {"raw"}
    verifier = Verifier()
    assert verifier.feed(entries) is None
    assert len(verifier.proposal_heads) == 4
    head = await log.head()
    assert (head["seq"], head["hash"]) == (30, entries[-1]["hash"])


async def test_a_crash_between_entry_and_head_is_repaired_at_start(
    mongo: AsyncMongoClient[dict[str, Any]],
    ns: Namespace,
) -> None:
    log = await fresh_log(mongo, ns, "crash")
    first = await log.append("p-crash", {"kind": "raw", "source": "x:0:1", "summary": "one"})
    assert first is not None
    # What a crash after step 1 leaves: the next entry written, the head not advanced.
    orphan = seal(
        seq=2,
        prev_hash=first["hash"],
        proposal_id="p-crash",
        proposal_seq=2,
        proposal_prev_hash=first["hash"],
        content={
            "kind": "raw",
            "source": "x:0:2",
            "summary": "two",
            "recorded_at": dt.datetime.now(dt.UTC).isoformat(),
        },
    )
    await log.entries.insert_one({"_id": 2, **orphan})
    assert (await log.head())["seq"] == 1

    restarted = MongoAuditLog(log.entries.database)
    assert await restarted.repair() == 1
    assert (await restarted.head())["seq"] == 2
    third = await restarted.append("p-crash", {"kind": "raw", "source": "x:0:3"})
    assert third is not None
    assert third["seq"] == 3
    assert third["proposal_seq"] == 3
    assert await restarted.append("p-crash", {"kind": "raw", "source": "x:0:2"}) is None
    assert Verifier().feed(await all_entries(restarted)) is None
