"""A Kafka node lost while the workflow runs (issue 27), on the local three-node cluster
(`make test-cluster`: SMARTCITY_KAFKA_NODES=3). The approvals and notifications services work
through fifteen proposals (submission, screening, a subcommittee meeting) while the node that
leads most of their partitions is SIGKILLed, stays down for the meeting, and comes back. Topics
are created by the stack's own provisioning with replication factor 3 and min.insync.replicas 2,
so every write goes on with two nodes. Nothing may be lost or doubled: each case takes each
step once, each step is one event on its topic (a record may repeat with the same event id:
publication is at-least-once), each email is in the delivery log once and reaches the SMTP
server once."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import time
from collections import Counter
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from pymongo import AsyncMongoClient

from smartcity_th.contracts.topics import Topics
from tests.builders import claim
from tests.chaos.run import mailpit_message_ids
from tests.e2e.approvals_support import PROVINCES_15, meeting, screened, submitted, wait_stage
from tests.support import (
    LOCAL,
    ROOT,
    facts,
    kafka_auth,
    poll,
    private_namespace,
    produce,
    service_process,
)

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        os.environ.get("SMARTCITY_KAFKA_NODES") != "3",
        reason="needs the three-node local Kafka: make test-cluster",
    ),
]

Doc = dict[str, Any]
STEPS = ("ProposalSubmitted", "ProposalScreened", "SubcommitteeApproved")


def admin() -> AdminClient:
    return AdminClient(dict(kafka_auth().librdkafka()))


def leaders(topics: Topics) -> Counter[int]:
    """How many of the namespace's partitions each node leads."""
    meta = admin().list_topics(timeout=10)
    return Counter(p.leader for name in topics.all() for p in meta.topics[name].partitions.values())


def under_replicated(topics: Topics) -> int:
    meta = admin().list_topics(timeout=10)
    return sum(
        1
        for name in topics.all()
        for p in meta.topics[name].partitions.values()
        if len(p.isrs) < len(p.replicas)
    )


def kill_node(node: int) -> None:
    pid = int((LOCAL / "run" / f"kafka-{node}.pid").read_text())
    os.killpg(pid, signal.SIGKILL)  # spawned with setsid: the node's process group


async def test_a_node_killed_mid_round_loses_and_doubles_nothing(
    stack: None, mongo: AsyncMongoClient[Doc]
) -> None:
    since = dt.datetime.now(dt.UTC)
    async with private_namespace(mongo) as (ns, topics, _):
        client = admin()  # kept while its futures resolve
        meta = client.list_topics(timeout=10)
        assert len(meta.brokers) == 3, f"brokers: {sorted(meta.brokers)}"
        for name in topics.all():
            assert {len(p.replicas) for p in meta.topics[name].partitions.values()} == {3}, name
        configs = client.describe_configs([ConfigResource("topic", topics.decisions)])
        described = next(iter(configs.values())).result()
        assert described["min.insync.replicas"].value == "2"
        assert described["unclean.leader.election.enable"].value == "false"

        approvals = service_process("approvals", ns, "approvals-broker-loss")
        notifications = service_process("notifications", ns, "notifications-broker-loss")
        with approvals.running(), notifications.running():
            cases = mongo[ns.db("approvals")]["cases"]
            subs = [submitted(code, i) for i, code in enumerate(PROVINCES_15)]
            pids = [s.proposal_id for s in subs]
            await produce(topics.proposals, subs)
            await wait_stage(cases, pids, "submitted")
            await produce(topics.intake, [screened(pid) for pid in pids[:8]])

            victim, led = leaders(topics).most_common(1)[0]
            kill_node(victim)
            killed = time.monotonic()
            print(f"killed kafka-{victim}, leader of {led} of the namespace's partitions")
            await produce(topics.intake, [screened(pid) for pid in pids[8:]])
            await wait_stage(cases, pids, "screened", timeout=180)
            decisions = [(pid, "SubcommitteeApproved") for pid in pids]
            await produce(
                topics.intake,
                [claim(meeting("subcommittee", "7/2565", decisions), "des-subcommittee", pids[0])],
            )
            await wait_stage(cases, pids, "subcommittee_approved", timeout=180)
            print(f"the round went on without kafka-{victim}: {time.monotonic() - killed:.1f} s")

            env = {**os.environ, "SMARTCITY_KAFKA_NODES": "3"}
            await asyncio.to_thread(
                subprocess.run,
                ["bash", str(ROOT / "infra" / "stack.sh"), "up", f"kafka-{victim}"],
                check=True,
                env=env,
            )
            back = time.monotonic()

            async def replicated() -> bool:
                return under_replicated(topics) == 0

            await poll(replicated, timeout=180, interval=1, what="every partition in sync")
            print(f"kafka-{victim} back in every ISR {time.monotonic() - back:.1f} s after start")

            # Every case took each step once.
            async for case in cases.find({"_id": {"$in": pids}}):
                applied = Counter(h["event_type"] for h in case["history"] if not h.get("refused"))
                assert all(applied[step] == 1 for step in STEPS), (case["_id"], applied)

            # One fact per step on the decisions topic. Publication is at-least-once: a
            # publish held up by the lost leader may also be sent by the relay, a second record
            # of the same event (same id), which every consumer skips; never a second event.
            found = await facts(topics.decisions, set(pids), min_records=2 * len(pids), wait=60)
            events = {(f["proposal_id"], f["event_type"], f["event_id"]) for f in found}
            per_step = Counter((pid, event_type) for pid, event_type, _ in events)
            assert len(per_step) == 2 * len(pids), sorted(per_step)
            assert set(per_step.values()) == {1}, per_step.most_common(3)
            republished = len(found) - len(events)

            # Each email once in the delivery log, sent, and once at the SMTP server.
            deliveries = mongo[ns.db("notifications")]["deliveries"]

            async def all_sent() -> list[Doc] | None:
                docs = await deliveries.find({"proposal_id": {"$in": pids}}).to_list(None)
                return docs if docs and all(d["status"] == "sent" for d in docs) else None

            sent = await poll(all_sent, timeout=300, interval=1, what="every email sent")
            message_ids = Counter(d["message_id"].strip("<>") for d in sent)
            assert set(message_ids.values()) == {1}
            received = await mailpit_message_ids(since)
            assert {m: received[m] for m in message_ids if received[m] != 1} == {}
            print(
                f"{len(sent)} emails, each sent once; {len(events)} facts, each once "
                f"({republished} published twice with the same event id)"
            )
