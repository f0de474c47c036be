"""A crash (SIGKILL) of the approvals service in the middle of a 15-proposal meeting claim: after
a restart every proposal has exactly one SubcommitteeApproved, on the topic and in its history."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from smartcity_th.contracts.topics import Topics
from smartcity_th.services.approvals.handlers import MEETING_CONCURRENCY
from tests.builders import claim
from tests.e2e.approvals_support import (
    PROVINCES_15,
    meeting,
    screened,
    submitted,
    wait_stage,
)
from tests.support import (
    Namespace,
    ServiceProcess,
    facts,
    poll,
    private_namespace,
    produce,
    service_process,
    unpublished,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
async def private(
    stack: None, mongo: AsyncMongoClient[dict[str, Any]]
) -> AsyncIterator[tuple[Namespace, Topics, ServiceProcess]]:
    """An approvals process on its own topics and database, so killing it disturbs no one."""
    async with private_namespace(mongo) as (ns, topics, _):
        with service_process("approvals", ns, "approvals-restart").running() as proc:
            yield ns, topics, proc


async def test_sigkill_during_a_meeting_loses_and_doubles_nothing(
    private: tuple[Namespace, Topics, ServiceProcess],
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    ns, topics, proc = private
    subs = [submitted(code, i) for i, code in enumerate(PROVINCES_15)]
    pids = [s.proposal_id for s in subs]
    await produce(topics.proposals, subs)
    cases = mongo[ns.db("approvals")]["cases"]

    async def count(stage: str) -> int:
        found: int = await cases.count_documents({"_id": {"$in": pids}, "stage": stage})
        return found

    await wait_stage(cases, pids, "submitted")
    await produce(topics.intake, [screened(pid) for pid in pids])
    await wait_stage(cases, pids, "screened")

    decisions = [(pid, "SubcommitteeApproved") for pid in pids]
    await produce(
        topics.intake,
        [claim(meeting("subcommittee", "9/2565", decisions), "des-subcommittee", pids[0])],
    )
    await poll(
        lambda: _at_least(count("subcommittee_approved"), 1),
        timeout=60,
        interval=0.01,
        what="the meeting's first decision",
    )
    proc.stop(signal.SIGKILL)
    done_before_kill = await count("subcommittee_approved")

    proc.start()
    proc.wait_healthy()
    await wait_stage(cases, pids, "subcommittee_approved", timeout=90)

    await poll(
        lambda: _equals(unpublished(cases, pids), 0),
        timeout=30,
        what="every outbox drained",
    )
    approved = await facts(
        topics.decisions, set(pids), event_type="SubcommitteeApproved", min_records=15, wait=30
    )
    ids_per_proposal: dict[str, set[str]] = {}
    for e in approved:
        ids_per_proposal.setdefault(e["proposal_id"], set()).add(e["event_id"])
    assert {pid: len(ids) for pid, ids in ids_per_proposal.items()} == dict.fromkeys(pids, 1)
    # The outbox is at-least-once: a record may repeat only with the same event id, and
    # only for a decision in flight between Kafka's ack and the outbox removal at the kill.
    repeats = Counter(e["proposal_id"] for e in approved)
    assert sum(repeats.values()) - 15 <= MEETING_CONCURRENCY, repeats
    for doc in await cases.find({"_id": {"$in": pids}}).to_list(None):
        types = [h["event_type"] for h in doc["history"]]
        assert types == ["ProposalSubmitted", "ProposalScreened", "SubcommitteeApproved"]
    print(f"decisions applied before SIGKILL: {done_before_kill}/15")


async def _equals(value: Any, expected: int) -> bool:
    return bool(await value == expected)


async def _at_least(value: Any, expected: int) -> bool:
    return bool(await value >= expected)
