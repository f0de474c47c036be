"""Does numbering letters serialise the sending? Letter numbers come from a per-office,
per-year register in the store (services/notifications/adapters/register.py: one insert per
number, `_id` = register and number, so the insert is the allocation). Measured on the real
FerretDB the URL points at; part of `make bench`, runnable alone:
`python -m tests.bench.letter_register --letters 400 --senders 1 4 8 16`.

For each number of concurrent senders it reports allocations per second and the latency of one
allocation (median, p95), in three layouts:
  - `one_process`: N concurrent allocations in one process (one LetterRegister: its cache of the
    register's last number is shared), one register: what one notifications instance does;
  - `instances`: N LetterRegister instances, each with its own client, racing for the same
    register: N instances of the service numbering one office's letters;
  - `registers`: N instances, each numbering its own register (office or year): no contention,
    the store's own insert rate, the ceiling the other two are compared with.
Every run checks that the numbers are exactly 1..letters in each register (unique, no gap).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import time
import uuid
from typing import Any

from pymongo import AsyncMongoClient

from smartcity_th.services.notifications.adapters.register import LetterRegister
from tests.bench.stats import percentile
from tests.support import MONGO

Doc = dict[str, Any]
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


async def _layout(layout: str, letters: int, senders: int) -> dict[str, Any]:
    db_name = f"bench_register_{uuid.uuid4().hex[:8]}"
    clients: list[AsyncMongoClient[Doc]] = [
        AsyncMongoClient(MONGO) for _ in range(1 if layout == "one_process" else senders)
    ]
    try:
        registers = [LetterRegister(c[db_name]) for c in clients]
        await registers[0].ensure_indexes()
        names = [f"depa:{2569 if layout != 'registers' else 2569 + i}" for i in range(senders)]
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(letters):
            queue.put_nowait(i)
        took: list[float] = []
        numbers: dict[str, list[int]] = {}

        async def sender(i: int) -> None:
            register = registers[i % len(registers)]
            name = names[i]
            while True:
                try:
                    letter = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                number = await register.number(name, f"letter-{letter}:{i}", now=NOW)
                took.append(time.perf_counter() - started)
                numbers.setdefault(name, []).append(number)

        started = time.perf_counter()
        await asyncio.gather(*(sender(i) for i in range(senders)))
        elapsed = time.perf_counter() - started
        gapless = all(sorted(n) == list(range(1, len(n) + 1)) for n in numbers.values())
        return {
            "allocations_per_second": round(letters / elapsed, 1),
            "latency_ms_median": round(percentile(took, 50) * 1000, 2),
            "latency_ms_p95": round(percentile(took, 95) * 1000, 2),
            "unique_and_gapless": gapless,
        }
    finally:
        await clients[0].drop_database(db_name)
        for c in clients:
            await c.close()


async def measure(letters: int = 400, senders: tuple[int, ...] = (1, 4, 8, 16)) -> dict[str, Any]:
    out: dict[str, Any] = {"letters": letters}
    for layout in ("one_process", "instances", "registers"):
        out[layout] = {str(n): await _layout(layout, letters, n) for n in senders}
    return {"letter_register": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--letters", type=int, default=400)
    parser.add_argument("--senders", type=int, nargs="+", default=[1, 4, 8, 16])
    args = parser.parse_args()
    result = asyncio.run(measure(args.letters, tuple(args.senders)))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
