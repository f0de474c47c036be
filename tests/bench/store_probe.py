"""The store's own costs and guarantees, measured on whatever FerretDB/MongoDB the URL points at.

Part of `make bench` (and runnable alone: `python -m tests.bench.store_probe --sizes 100 1000`):
  - latency of find by `_id`, update by `_id` and a version-guarded update as a collection
    grows (300-byte documents, exact `_id` filters);
  - whether a version-guarded `update_one` is atomic against concurrent writers with the same
    guard (it is not on FerretDB 1.24), and whether an insert of an existing `_id` is (it is):
    the second is what the aggregate store (services/common/store.py) builds on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from smartcity_th.services.common.mongo import make_client
from tests.support import MONGO

Doc = dict[str, Any]
PAD = "x" * 250


async def _grow(collection: AsyncCollection[Doc], have: int, want: int) -> None:
    batch = 50  # FerretDB 1.24 wedges on very large bulk writes
    for start in range(have, want, batch):
        docs = [
            {"_id": f"d{i:07d}", "version": 0, "pad": PAD}
            for i in range(start, min(want, start + batch))
        ]
        await collection.insert_many(docs, ordered=False)


async def _timed(op: Any, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        await op(i)
    return (time.perf_counter() - started) / n * 1000


async def latency_by_size(
    client: AsyncMongoClient[Doc], sizes: list[int], ops: int = 50
) -> list[Doc]:
    db = client[f"probe_{uuid.uuid4().hex[:8]}"]
    collection = db["docs"]
    rows: list[Doc] = []
    have = 0
    try:
        for size in sorted(sizes):
            await _grow(collection, have, size)
            have = size
            rows.append(await _row(collection, size, ops))
    finally:
        await client.drop_database(db.name)
    return rows


async def _row(collection: AsyncCollection[Doc], size: int, ops: int) -> Doc:
    step = max(1, size // ops)

    async def find(i: int) -> None:
        await collection.find_one({"_id": f"d{(i * step) % size:07d}"})

    async def update(i: int) -> None:
        await collection.update_one({"_id": f"d{(i * step) % size:07d}"}, {"$set": {"touched": i}})

    async def guarded(i: int) -> None:
        key = f"d{(i * step + 1) % size:07d}"
        doc = await collection.find_one({"_id": key}, {"version": 1})
        assert doc is not None
        await collection.update_one(
            {"_id": key, "version": doc["version"]}, {"$inc": {"version": 1}}
        )

    return {
        "documents": size,
        "find_by_id_ms": round(await _timed(find, ops), 2),
        "update_by_id_ms": round(await _timed(update, ops), 2),
        "guarded_update_ms": round(await _timed(guarded, ops), 2),
    }


async def atomicity(
    client: AsyncMongoClient[Doc], *, writers: int = 4, trials: int = 10, inserters: int = 6
) -> Doc:
    """Trials where the store let more than one of the racing writers believe it won."""
    db = client[f"probe_{uuid.uuid4().hex[:8]}"]
    collection = db["race"]
    guarded_wrong = 0
    insert_wrong = 0
    try:
        for t in range(trials):
            key = f"g{t}"
            await collection.insert_one({"_id": key, "version": 0, "winner": None})

            async def guarded_write(w: int, key: str = key) -> bool:
                result = await collection.update_one(
                    {"_id": key, "version": 0}, {"$set": {"version": 1, "winner": w}}
                )
                return result.modified_count == 1

            wins = sum(await asyncio.gather(*(guarded_write(w) for w in range(writers))))
            guarded_wrong += wins != 1
        insert_trials = trials * 3
        for t in range(insert_trials):
            key = f"i{t}"

            async def insert(w: int, key: str = key) -> bool:
                try:
                    await collection.insert_one({"_id": key, "writer": w})
                except DuplicateKeyError:
                    return False
                return True

            wins = sum(await asyncio.gather(*(insert(w) for w in range(inserters))))
            insert_wrong += wins != 1
    finally:
        await client.drop_database(db.name)
    return {
        "guarded_update": {"writers": writers, "trials": trials, "wrong": guarded_wrong},
        "insert_same_id": {"writers": inserters, "trials": trials * 3, "wrong": insert_wrong},
    }


async def probe(url: str, sizes: list[int], ops: int) -> Doc:
    client = make_client(url, "store-probe")
    try:
        return {
            "latency_by_size": await latency_by_size(client, sizes, ops),
            "atomicity": await atomicity(client),
        }
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=MONGO)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--ops", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(probe(args.url, args.sizes, args.ops)), indent=2))


if __name__ == "__main__":
    main()
