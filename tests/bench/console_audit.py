"""Measure the console on the real stack, in a private topic namespace and database:
how fast it appends records to the audit chain, and how long `smartcity audit verify` takes.

    python -m tests.bench.console_audit [N]     (default 1000; needs `make infra-up`)
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient
from typer.testing import CliRunner

from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.kafka import delete_topics, ensure_topics
from smartcity_th.services.common.kafka_auth import admin_auth
from smartcity_th.services.console.cli import app
from smartcity_th.services.console.config import ConsoleSettings
from tests.support import free_port


async def bench(n: int) -> None:
    base = ConsoleSettings()
    run = uuid.uuid4().hex[:6]
    topics = Topics(f"bench-{run}.")
    db = f"bench_{run}_console"
    port = free_port()
    await ensure_topics(base.kafka_bootstrap, topics, base.topic_partitions)
    env = {
        **os.environ,
        "CONSOLE_TOPIC_NAMESPACE": topics.namespace,
        "CONSOLE_MONGO_DB": db,
        "CONSOLE_HTTP_PORT": str(port),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smartcity_th.services.console",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(base.store_url("console"))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(300):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        producer = AIOKafkaProducer(**admin_auth(base.kafka_bootstrap).aiokafka())
        await producer.start()
        started = time.monotonic()
        for i in range(n):
            await producer.send(topics.intake, b"raw %d" % i, key=f"bench-{i % 50:03d}".encode())
        await producer.flush()
        await producer.stop()
        deadline = time.monotonic() + 600
        while (stored := await mongo[db]["audit"].count_documents({})) < n:
            if time.monotonic() > deadline or proc.returncode is not None:
                raise SystemExit(f"stuck at {stored} of {n} entries")
            await asyncio.sleep(0.1)
        took = time.monotonic() - started
        print(f"appended {n} records in {took:.1f} s = {n / took:.0f} entries/s")
        started = time.monotonic()
        result = CliRunner().invoke(app, ["audit", "verify", "--url", f"http://127.0.0.1:{port}"])
        print(
            f"audit verify: exit {result.exit_code} in {time.monotonic() - started:.2f} s: "
            f"{result.output.strip().splitlines()[-1]}"
        )
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
        await mongo.drop_database(db)
        await mongo.close()
        await delete_topics(base.kafka_bootstrap, list(topics.all()))


if __name__ == "__main__":
    asyncio.run(bench(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
