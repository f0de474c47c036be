"""A crash between committing and publishing: the events wait in the proposal's unpublished
commits, and the relay of the restarted service publishes each of them exactly once."""

from __future__ import annotations

import asyncio
import collections
import signal
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from smartcity_th.contracts.topics import Topics
from tests.e2e.test_proposals_api import draft
from tests.support import (
    Namespace,
    envelope_of,
    issue_api_key,
    poll,
    private_namespace,
    read_topic,
    service_env,
    service_process,
    unpublished,
    wait_key_accepted,
)

pytestmark = pytest.mark.e2e

DEFERRED = {"PROPOSALS_OUTBOX_PUBLISH_ON_WRITE": "false", "PROPOSALS_OUTBOX_RELAY_ENABLED": "false"}


@pytest.fixture
async def private_ns(
    stack: None, mongo: AsyncMongoClient[dict[str, Any]]
) -> AsyncIterator[Namespace]:
    """A namespace of its own, so that no other proposals process consumes or publishes here."""
    async with private_namespace(mongo) as (namespace, _, _):
        yield namespace


async def test_the_relay_publishes_after_a_crash_exactly_once_per_event(
    private_ns: Namespace, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    topics = Topics(private_ns.topics_prefix)
    proc = service_process("proposals", private_ns, "proposals-crash", DEFERRED)
    proc.start()
    try:
        await asyncio.to_thread(proc.wait_healthy)
        db = mongo[private_ns.db("proposals")]
        key = await issue_api_key(topics, "lg-phuket-city", "crash test")
        await wait_key_accepted(proc.url, key)
        async with httpx.AsyncClient(
            base_url=proc.url, timeout=15, headers={"X-API-Key": key}
        ) as http:
            first = await http.post("/proposals", json=draft(), headers={"Idempotency-Key": "a"})
            second = await http.post("/proposals", json=draft(), headers={"Idempotency-Key": "b"})
            assert first.status_code == 201, first.text
            assert second.status_code == 201, second.text
            pid_a, pid_b = first.json()["proposal_id"], second.json()["proposal_id"]
            withdrawn = await http.post(f"/proposals/{pid_a}/withdrawal", json={"reason": "x"})
            assert withdrawn.status_code == 200, withdrawn.text

        proposals = db["proposals"]
        pending = (
            await db["proposals_commits"]
            .find({"aggregate_id": {"$in": [pid_a, pid_b]}, "published": False})
            .sort("_id", 1)
            .to_list(None)
        )
        waiting = {
            pid: [e["event_type"] for d in pending if d["aggregate_id"] == pid for e in d["events"]]
            for pid in (pid_a, pid_b)
        }
        assert waiting == {
            pid_a: ["ProposalContactsRecorded", "ProposalSubmitted", "ProposalWithdrawn"],
            pid_b: ["ProposalContactsRecorded", "ProposalSubmitted"],
        }
        expected = {
            e["event_id"]
            for d in pending
            for e in d["events"]
            if e["event_type"] != "ProposalContactsRecorded"  # on smartcity.contacts
        }
        assert len(expected) == 3
        keys = {pid_a.encode(), pid_b.encode()}
        assert await read_topic(topics.proposals, timeout=3, where=lambda r: r.key in keys) == []

        proc.stop(signal.SIGKILL)
        assert proc.proc is not None
        assert proc.proc.returncode == -signal.SIGKILL
        proc.env = service_env("proposals", private_ns, proc.port)
        proc.start()
        await asyncio.to_thread(proc.wait_healthy)

        await poll(
            _drained(proposals, [pid_a, pid_b]), timeout=30, what="the relay to publish both"
        )
        records = await read_topic(
            topics.proposals, min_records=3, timeout=20, where=lambda r: r.key in keys
        )
        counts = collections.Counter(envelope_of(r)["event_id"] for r in records)
        assert set(counts) == expected
        assert set(counts.values()) == {1}
        order_a = [envelope_of(r)["event_type"] for r in records if r.key == pid_a.encode()]
        assert order_a == ["ProposalSubmitted", "ProposalWithdrawn"]
        async with httpx.AsyncClient(base_url=proc.url, timeout=10) as http:
            metrics = (await http.get("/metrics")).text
        assert (
            'smartcity_events_published_total{event_type="ProposalWithdrawn",'
            'service="proposals"} 1.0'
        ) in metrics
    finally:
        proc.stop()


def _drained(proposals: Any, ids: list[str]) -> Any:
    async def probe() -> bool:
        return await unpublished(proposals, ids) == 0

    return probe
