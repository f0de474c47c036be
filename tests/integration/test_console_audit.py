"""What only the MongoDB audit log meets, on the real FerretDB: repair after a crash between
the entry write and the head update, and the numbering of a log stored before the lists were
numbered. What every audit log promises (idempotent and concurrent appends, pages) is the
contract, `tests/audit_contract.py`, run here by `tests/integration/test_audit_contract.py`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from smartcity_th.services.console.audit import MongoAuditLog
from smartcity_th.services.console.chain import GENESIS, Verifier, seal
from smartcity_th.services.console.paging import Cursor
from smartcity_th.services.console.views import Listing, dead_letters_listing
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


async def test_entries_stored_before_the_lists_were_numbered_are_numbered_at_start(
    mongo: AsyncMongoClient[dict[str, Any]],
    ns: Namespace,
) -> None:
    db = mongo[ns.db("console_legacy")]
    prev = GENESIS
    heads: dict[str, dict[str, Any]] = {}
    for seq in range(1, 8):
        kind = "deadletter" if seq % 2 else "event"
        last = heads.get("p-old")
        entry = seal(
            seq=seq,
            prev_hash=prev,
            proposal_id="p-old",
            proposal_seq=(last["proposal_seq"] + 1) if last else 1,
            proposal_prev_hash=last["hash"] if last else GENESIS,
            content={"kind": kind, "source": f"old:0:{seq}", "error": f"old #{seq}"},
        )
        await db["audit"].insert_one({"_id": seq, **entry})  # as an earlier console stored it
        prev, heads["p-old"] = entry["hash"], entry
    await db["audit_head"].insert_one({"_id": "global", "seq": 7, "hash": prev})

    log = await fresh_log(mongo, ns, "legacy")
    newer = await log.append("p-old", {"kind": "deadletter", "source": "new:0:1", "error": "new"})
    assert newer is not None
    assert newer["proposal_seq"] == 8
    letters = await log.window(dead_letters_listing(), Cursor(), 10)
    assert [e["seq"] for e in letters.entries] == [8, 7, 5, 3, 1]
    assert [e["list_n"] for e in letters.entries] == [5, 4, 3, 2, 1]
    everything = await log.window(Listing({}, "all"), Cursor(before=8), 3)
    assert [e["seq"] for e in everything.entries] == [7, 6, 5]
    assert everything.older == 5
    assert Verifier().feed(await all_entries(log)) is None
