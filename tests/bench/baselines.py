"""Raw baselines on the same servers the services use: what Kafka, FerretDB and Mailpit do with
no service in between (`python -m tests.bench.baselines`).

  - Kafka (aiokafka): produce 1 kB records one at a time, waiting for each acknowledgement (as the
    services' outbox relay publishes a commit's events), and pipelined (every send in flight);
    consume them back from the beginning.
  - FerretDB (pymongo): insert 1 kB documents and update them by `_id`, 8 at a time (the
    services' commit store inserts one document per change).
  - Mailpit (aiosmtplib): send small messages on one reused connection (as the notifications
    service sends) and on 4 connections at once.

Each figure is operations per second (wall clock of the whole batch).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from smartcity_th.services.common.kafka_admin import KafkaAdmin
from smartcity_th.services.common.mongo import make_client
from tests.support import MAILPIT, MONGO, SMTP_PORT, kafka_auth, kafka_client

Doc = dict[str, Any]
PAYLOAD = b"x" * 1000


async def _rate(n: int, concurrency: int, op: Callable[[int], Awaitable[None]]) -> float:
    """Operations per second of `op(0..n-1)`, `concurrency` workers each doing its share."""

    async def worker(w: int) -> None:
        for i in range(w, n, concurrency):
            await op(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return round(n / (time.perf_counter() - started), 1)


async def kafka(n: int = 3000, sequential: int = 300) -> Doc:
    topic = f"bench-baseline-{uuid.uuid4().hex[:8]}"
    # As the stack provisions topics: the cluster's replication (3 on three nodes, with
    # min.insync.replicas 2, which a topic of one replica could not be written to with acks=all)
    await asyncio.to_thread(KafkaAdmin(kafka_auth()).create_topics, {topic: 3}, {})
    producer = AIOKafkaProducer(**kafka_client(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, PAYLOAD, key=b"warm-up")

        async def one(i: int) -> None:
            await producer.send_and_wait(topic, PAYLOAD, key=str(i).encode())

        seq = await _rate(sequential, 1, one)
        started = time.perf_counter()
        pending = [await producer.send(topic, PAYLOAD, key=str(i).encode()) for i in range(n)]
        await asyncio.gather(*pending)
        pipelined = round(n / (time.perf_counter() - started), 1)
    finally:
        await producer.stop()
    total = n + sequential + 1
    consumer = AIOKafkaConsumer(**kafka_client(), enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        got = 0
        started = time.perf_counter()
        deadline = time.monotonic() + 120
        while got < total and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=1000)
            got += sum(len(r) for r in batch.values())
        consumed = round(got / (time.perf_counter() - started), 1)
    finally:
        await consumer.stop()
        admin = AIOKafkaAdminClient(**kafka_client())
        await admin.start()
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()
    return {
        "produce_sequential_per_s": seq,
        "produce_pipelined_per_s": pipelined,
        "consume_per_s": consumed,
        "records": total,
    }


async def ferretdb(n: int = 1000, concurrency: int = 8) -> Doc:
    client = make_client(MONGO, "bench-baseline")
    db = client[f"baseline_{uuid.uuid4().hex[:8]}"]
    collection = db["docs"]
    try:
        await collection.insert_one({"_id": "warm-up", "pad": PAYLOAD.decode()})

        async def insert(i: int) -> None:
            await collection.insert_one({"_id": f"d{i:07d}", "version": 0, "pad": PAYLOAD.decode()})

        async def update(i: int) -> None:
            await collection.update_one({"_id": f"d{i:07d}"}, {"$set": {"version": 1}})

        inserts = await _rate(n, concurrency, insert)
        updates = await _rate(n, concurrency, update)
    finally:
        await client.drop_database(db.name)
        await client.close()
    return {
        "insert_per_s": inserts,
        "update_by_id_per_s": updates,
        "documents": n,
        "concurrency": concurrency,
    }


async def smtp(n: int = 300, connections: int = 4) -> Doc:
    run = uuid.uuid4().hex[:8]

    def message(i: int) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = "bench@example.go.th"
        msg["To"] = f"r{i % 7}@example.go.th"
        msg["Subject"] = f"baseline {run} {i}"
        msg["Message-ID"] = f"<baseline-{run}-{i}@example.go.th>"
        msg.set_content("ทดสอบ / baseline " + "x" * 1500)
        return msg

    async def send(count: int, workers: int, offset: int) -> float:
        clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=SMTP_PORT) for _ in range(workers)]
        for c in clients:
            await c.connect()
        try:

            async def worker(w: int) -> None:
                for i in range(w, count, workers):
                    await clients[w].send_message(message(offset + i))

            started = time.perf_counter()
            await asyncio.gather(*(worker(w) for w in range(workers)))
            return round(count / (time.perf_counter() - started), 1)
        finally:
            for c in clients:
                await c.quit()

    one = await send(n, 1, 0)
    many = await send(n, connections, n)
    async with httpx.AsyncClient(base_url=MAILPIT, timeout=30) as http:
        await http.delete("/api/v1/search", params={"query": f'subject:"baseline {run}"'})
    return {
        "one_connection_per_s": one,
        f"{connections}_connections_per_s": many,
        "messages": 2 * n,
    }


async def measure() -> Doc:
    return {"kafka": await kafka(), "ferretdb": await ferretdb(), "smtp": await smtp()}


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    print(json.dumps(asyncio.run(measure()), indent=2))


if __name__ == "__main__":
    main()
