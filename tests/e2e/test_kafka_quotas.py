"""Kafka quotas per agency principal (issue 24): while one agency floods the intake at ten times
its quota, the broker throttles it to about its quota, and another agency's claims still become
facts (their times reported against the 2 s p99 target, which is a speed target and so not
asserted: none may starve), against the real broker and services. The figures are printed
(`pytest -s`) and written to `.local/security/quota.json`."""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka.admin import AdminClient
from pymongo import AsyncMongoClient

from smartcity_th.contracts.access import AgencyQuota
from smartcity_th.contracts.agencies import Agency
from smartcity_th.contracts.common import AgencyKind
from smartcity_th.contracts.topics import Topics
from smartcity_th.kit import ClaimSigner
from smartcity_th.services.common.kafka_auth import admin_auth
from smartcity_th.services.common.kafka_quotas import agency_quota
from smartcity_th.services.common.registry_admin import Onboarded, RegistryAdmin
from tests import builders
from tests.support import (
    KAFKA,
    LOCAL,
    Namespace,
    ServiceProcess,
    find_published,
    kafka_auth,
    kafka_client,
    poll,
)

pytestmark = pytest.mark.e2e

FLOOD_QUOTA = AgencyQuota(producer_byte_rate=50_000, request_percentage=10.0)
FLOOD_FACTOR = 10
RECORD_BYTES = 10_000
CLAIMS = int(os.environ.get("SMARTCITY_QUOTA_CLAIMS", "40"))
WARM_UP_S = 12.0
"""The broker measures a rate over its quota window (11 samples of 1 s): a new flood gets a
burst through before it is throttled, so rates are measured after it."""
MEASURED_S = 10.0
P99_TARGET_S = 2.0
"""Issue 24's target for another agency's claim-to-fact time under a flood: a speed target, so
it is reported (the figures above) and not asserted here; a test waits with a deadline that a
loaded machine tolerates. One run of `.ci/run` measured 2.95 s (p50 0.46 s)."""
STARVED_S = 30.0
"""What the test does assert: no claim of the calm agency waits this long behind the flood."""
UDON = builders.province_ref("41")


def local_government(prefix: str) -> Agency:
    return Agency(
        f"{prefix}-{uuid.uuid4().hex[:6]}",
        AgencyKind.LOCAL_GOVERNMENT,
        "เทศบาลทดสอบ",
        "Test Municipality",
        "41",
        ("example.go.th",),
    )


def producer_for(onboarded: Onboarded) -> AIOKafkaProducer:
    assert onboarded.kafka is not None
    return AIOKafkaProducer(
        **kafka_client(onboarded.kafka.username, onboarded.kafka.password),
        client_id=onboarded.agency.agency_id,
        acks="all",
    )


@dataclass
class Flood:
    """Offers FLOOD_FACTOR times the quota, in 10 ms steps, of records no service can read (they
    are dead-lettered), over several connections of the same principal, never waiting for one
    to be taken (the client's own back-pressure would hide the flood)."""

    producers: list[AIOKafkaProducer]
    topic: str
    offered: int = 0
    acked: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def _one(self, producer: AIOKafkaProducer, key: bytes, value: bytes) -> None:
        await producer.send_and_wait(self.topic, value, key=key)
        self.acked += len(value)

    async def run(self) -> None:
        rate = FLOOD_FACTOR * FLOOD_QUOTA.producer_byte_rate
        junk = os.urandom(RECORD_BYTES)
        sends: set[asyncio.Task[None]] = set()
        started = time.monotonic()
        while not self.stop.is_set():
            due = rate * (time.monotonic() - started)
            while self.offered + RECORD_BYTES <= due:
                n = self.offered // RECORD_BYTES
                key = f"FLOOD-{n}".encode()
                task = asyncio.create_task(
                    self._one(self.producers[n % len(self.producers)], key, junk)
                )
                sends.add(task)
                task.add_done_callback(sends.discard)
                self.offered += RECORD_BYTES
            await asyncio.sleep(0.01)
        for task in list(sends):
            task.cancel()
        await asyncio.gather(*sends, return_exceptions=True)


async def claim_to_fact_seconds(
    producer: AIOKafkaProducer, signer: ClaimSigner, topic: str, proposals: Any
) -> float:
    record = signer.claim(
        builders.submission(signer.agency_id, where=UDON).payload,
        proposal_id=builders.new_proposal_id("QT"),
        topic=topic,  # signature version 2 binds the claim to the topic it is sent to
    )
    started = time.monotonic()
    await producer.send_and_wait(
        topic, record.value, key=record.key, headers=record.kafka_headers()
    )
    await poll(
        lambda: find_published(proposals, {"_id": record.envelope.proposal_id}),
        timeout=60,
        interval=0.02,
        what="the claim's fact",
    )
    return time.monotonic() - started


def leading_brokers(topic: str) -> int:
    """How many brokers lead the topic's partitions: Kafka enforces a client quota on each
    broker, so a producer writing to partitions led by N brokers gets up to N times it."""
    meta = AdminClient(dict(kafka_auth().librdkafka())).list_topics(topic, timeout=10)
    return len({p.leader for p in meta.topics[topic].partitions.values()})


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


async def test_a_flooding_agency_is_throttled_and_another_agencys_claims_stay_fast(
    services: dict[str, ServiceProcess],
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    auth = admin_auth(KAFKA)
    async with RegistryAdmin(KAFKA, topics) as admin:
        flooder = await admin.onboard(local_government("lg-flood"), quota=FLOOD_QUOTA)
        other = await admin.onboard(local_government("lg-calm"))
    assert other.signing_key is not None
    signer = ClaimSigner(other.agency.agency_id, other.signing_key.private_key)
    expected = FLOOD_QUOTA.as_kafka()

    async def quota_in_force() -> bool:
        return await agency_quota(auth, flooder.agency.agency_id) == expected

    await poll(quota_in_force, timeout=30, what="the flooder's quota at the broker")
    proposals = mongo[ns.db("proposals")]["proposals"]
    calm, noisy = producer_for(other), [producer_for(flooder) for _ in range(3)]
    await calm.start()
    for producer in noisy:
        await producer.start()
    try:
        # The services know the new agency (registry) before anything is timed.
        await claim_to_fact_seconds(calm, signer, topics.intake, proposals)
        flood = Flood(noisy, topics.intake)
        flooding = asyncio.create_task(flood.run())
        await asyncio.sleep(WARM_UP_S)  # past the quota window's first burst: throttled now
        offered, acked, started = flood.offered, flood.acked, time.monotonic()
        took: list[float] = []
        while len(took) < CLAIMS or time.monotonic() - started < MEASURED_S:
            took.append(await claim_to_fact_seconds(calm, signer, topics.intake, proposals))
        elapsed = time.monotonic() - started
        rates = {
            "offered_bytes_per_s": (flood.offered - offered) / elapsed,
            "acked_bytes_per_s": (flood.acked - acked) / elapsed,
        }
        flood.stop.set()
        await flooding
    finally:
        await calm.stop()
        for producer in noisy:
            await asyncio.wait_for(producer.stop(), 60)
    figures = {
        "quota_bytes_per_s": FLOOD_QUOTA.producer_byte_rate,
        "brokers_leading_intake": leading_brokers(topics.intake),
        **{k: round(v) for k, v in rates.items()},
        "measured_s": round(elapsed, 1),
        "claims": len(took),
        "claim_to_fact_p50_s": round(sorted(took)[len(took) // 2], 3),
        "claim_to_fact_p99_s": round(p99(took), 3),
        "claim_to_fact_max_s": round(max(took), 3),
        "claim_to_fact_p99_target_s": P99_TARGET_S,
        "claim_to_fact_p99_met": p99(took) < P99_TARGET_S,
    }
    out = LOCAL / "security" / "quota.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nquota figures: {figures}")
    assert rates["offered_bytes_per_s"] >= 0.8 * FLOOD_FACTOR * FLOOD_QUOTA.producer_byte_rate
    # throttled: to about the quota on each broker leading an intake partition (1 locally, 3
    # on the three-node cluster of make test-cluster)
    brokers = figures["brokers_leading_intake"]
    assert rates["acked_bytes_per_s"] <= 2 * brokers * FLOOD_QUOTA.producer_byte_rate, figures
    assert max(took) < STARVED_S, figures
