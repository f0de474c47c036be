"""Two processes of every service against one FerretDB and one consumer group per service,
while HTTP decisions (to both instances) and intake claims race on the same proposals.

Nothing may be lost or doubled: each proposal gets exactly one fact per stage, every case ends
certified, certificate numbers are unique and without gaps, every email is delivered once."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from smartcity_th.contracts.approvals import ProposalScreened
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.notifications.letters import LETTERS
from tests.builders import claim
from tests.e2e.approvals_support import http_json, meeting, wait_stage
from tests.e2e.test_proposals_api import draft
from tests.support import (
    Mailpit,
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

SERVICES = ("proposals", "approvals", "notifications")
AGENCIES = (
    "lg-phuket-city",
    "depa",
    "des-subcommittee",
    "steering-committee",
    "cabinet-secretariat",
)
PROPOSALS = 6
STAGES = [
    "submitted",
    "screened",
    "subcommittee_approved",
    "steering_acknowledged",
    "cabinet_endorsed",
    "certified",
]
FACT_TYPES = [
    "ProposalScreened",
    "SubcommitteeApproved",
    "SteeringCommitteeAcknowledged",
    "CabinetEndorsed",
    "CertificationAwarded",
]

Doc = dict[str, Any]


@pytest.fixture
async def pair(
    stack: None, mongo: AsyncMongoClient[Doc]
) -> AsyncIterator[tuple[Namespace, dict[str, list[ServiceProcess]], dict[tuple[str, str], str]]]:
    # Signing keys for the claims; API keys (an agency's key is valid at every service).
    async with private_namespace(mongo, AGENCIES) as (ns, _, api_keys):
        procs = {
            name: [service_process(name, ns, f"{name}-{i}") for i in (1, 2)] for name in SERVICES
        }
        keys = {(name, agency): api_keys[agency] for name in SERVICES for agency in AGENCIES}
        everything = [p for ps in procs.values() for p in ps]
        for p in everything:
            p.start()
        try:
            for p in everything:
                await asyncio.to_thread(p.wait_healthy, 300)
            yield ns, procs, keys
        finally:
            for p in everything:
                p.stop()


async def test_two_instances_of_every_service_lose_and_double_nothing(
    pair: tuple[Namespace, dict[str, list[ServiceProcess]], dict[tuple[str, str], str]],
    mongo: AsyncMongoClient[Doc],
    mailpit: Mailpit,
) -> None:
    ns, procs, keys = pair
    topics = Topics(ns.topics_prefix)
    prop = [p.url for p in procs["proposals"]]
    appr = [p.url for p in procs["approvals"]]
    statuses: collections.Counter[str] = collections.Counter()

    # Submissions: each sent to both instances at once with the same Idempotency-Key.
    pids: list[str] = []
    for n in range(PROPOSALS):
        idem = f"race-{ns.run_id}-{n}"
        body = draft(area_name={"th": f"เมืองแข่ง {n}", "en": f"Race City {n}"})
        headers = {"X-API-Key": keys[("proposals", "lg-phuket-city")], "Idempotency-Key": idem}
        async with httpx.AsyncClient(timeout=60) as http:
            both = await asyncio.gather(
                *(http.post(f"{url}/proposals", json=body, headers=headers) for url in prop)
            )
        assert sorted(r.status_code for r in both) == [200, 201], [r.text for r in both]
        assert len({r.json()["proposal_id"] for r in both}) == 1
        pids.append(both[0].json()["proposal_id"])

    cases = mongo[ns.db("approvals")]["cases"]

    await wait_stage(cases, pids, "submitted", timeout=90)

    async def decide(i: int, pid: str, agency: str, body: Doc) -> None:
        resp = await http_json(
            "POST", f"{appr[i % 2]}/cases/{pid}/decisions", keys[("approvals", agency)], json=body
        )
        statuses[f"{body['event_type']}:{resp.status_code}"] += 1
        assert resp.status_code in (201, 409), resp.text

    # Screening: HTTP to both instances and an intake claim, all at once, for each proposal.
    screen = {"event_type": "ProposalScreened", "screened_by": "depa"}
    await asyncio.gather(
        produce(
            topics.intake, [claim(ProposalScreened(screened_by="depa"), "depa", p) for p in pids]
        ),
        *(decide(i, p, "depa", screen) for p in pids for i in (0, 1)),
    )
    await wait_stage(cases, pids, "screened", timeout=90)

    # Committee meetings: the same meeting recorded on both instances at once, and as a claim.
    for body_name, agency, meeting_id, decision, number, stage in (
        ("subcommittee", "des-subcommittee", "1/2565", "SubcommitteeApproved", None, STAGES[2]),
        (
            "steering_committee",
            "steering-committee",
            "2/2565",
            "SteeringCommitteeAcknowledged",
            None,
            STAGES[3],
        ),
        ("cabinet", "cabinet-secretariat", "20/2565", "CabinetEndorsed", "นร 0505/ว 9", STAGES[4]),
    ):
        recorded = meeting(body_name, meeting_id, [(p, decision) for p in pids], number)
        replies = await asyncio.gather(
            produce(topics.intake, [claim(recorded, agency, pids[0])]),
            *(
                http_json(
                    "POST",
                    f"{url}/meetings",
                    keys[("approvals", agency)],
                    json=recorded.model_dump(mode="json"),
                )
                for url in appr
            ),
        )
        for reply in replies[1:]:
            assert reply is not None
            assert reply.status_code == 200, reply.text
        await wait_stage(cases, pids, stage, timeout=90)

    # Awards: both instances at once; each award needs a certificate number.
    today = dt.datetime.now(dt.UTC).date()
    award = {"event_type": "CertificationAwarded", "valid_from": today.isoformat()}
    await asyncio.gather(*(decide(i, p, "depa", award) for p in pids for i in (0, 1)))
    await wait_stage(cases, pids, "certified", timeout=90)

    # Each stage happened exactly once per proposal, in order.
    docs = await cases.find({"_id": {"$in": pids}}).to_list(None)
    for doc in docs:
        moves = [h["to"] for h in doc["history"] if h["to"] is not None]
        assert moves == STAGES, (doc["_id"], moves)
    published = await facts(
        topics.decisions, set(pids), min_records=len(pids) * len(FACT_TYPES), wait=60
    )
    distinct = {(e["proposal_id"], e["event_type"], e["event_id"]) for e in published}
    per = collections.Counter((pid, t) for pid, t, _ in distinct if t in FACT_TYPES)
    assert per == {(p, t): 1 for p in pids for t in FACT_TYPES}

    # Certificate numbers: unique, and no gaps.
    numbers = sorted(d["certificate"]["certificate_number"] for d in docs)
    sequences = sorted(int(n.rsplit("-", 1)[1]) for n in numbers)
    assert len(set(numbers)) == len(pids)
    assert sequences == list(range(sequences[0], sequences[0] + len(pids)))

    # Every commit published; every email sent exactly once.
    deliveries = mongo[ns.db("notifications")]["deliveries"]

    waiting: Doc = {}

    async def settled() -> list[Doc] | None:
        docs = await deliveries.find({"proposal_id": {"$in": pids}}).to_list(None)
        waiting["unpublished"] = await unpublished(cases, pids) + await unpublished(deliveries)
        waiting["statuses"] = collections.Counter(d["status"] for d in docs)
        if waiting["unpublished"] or not docs:
            return None
        return None if set(waiting["statuses"]) - {"sent", "held", "failed"} else docs

    try:
        sent_docs = await poll(settled, timeout=180, what="every email settled")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {waiting}; {await unsettled(deliveries, pids)}") from None
    # The only failures: recipients the directory has no address for (never an SMTP error).
    assert [d["_id"] for d in sent_docs if d["status"] == "failed" and d["email"]] == []
    about = {d["event_id"] for d in sent_docs}
    routed = {e["event_id"] for e in published if e["event_type"] in set(LETTERS) & set(FACT_TYPES)}
    assert routed <= about  # no fact without its emails
    doubled = []
    lost = []
    for d in sent_docs:
        if d["status"] != "sent":
            continue
        found = await mailpit.by_message_id(d["message_id"])
        if len(found) > 1:
            doubled.append(d["message_id"])
        if not found:
            lost.append(d["message_id"])
    emails = sum(1 for d in sent_docs if d["status"] == "sent")
    print(
        f"\ntwo instances each: {len(pids)} proposals, HTTP replies {dict(statuses)}, "
        f"{len(distinct)} distinct facts, {emails} emails, certificates {numbers[0]}..{numbers[-1]}"
        f"; lost {len(lost)}, doubled {len(doubled)}"
    )
    assert lost == []
    assert doubled == []
    # Both HTTP instances answered decisions (the race was real), and every loser was refused.
    assert statuses["ProposalScreened:201"] + statuses["ProposalScreened:409"] == 2 * len(pids)
    assert statuses["ProposalScreened:201"] <= len(pids)
    assert statuses["CertificationAwarded:201"] == len(pids)
    assert statuses["CertificationAwarded:409"] == len(pids)


async def unsettled(deliveries: Any, pids: list[str]) -> list[Doc]:
    """What each email still waiting looks like, in its projection and in its commits (for the
    failure message: whether it was never taken up, leased and left, or sent but not shown)."""
    commits = deliveries.database[f"{deliveries.name}_commits"]
    out = []
    query = {"proposal_id": {"$in": pids}, "status": {"$nin": ["sent", "held", "failed"]}}
    for doc in await deliveries.find(query).to_list(None):
        steps = await commits.find({"aggregate_id": doc["_id"]}).sort("_id", 1).to_list(None)
        out.append(
            {
                "_id": doc["_id"],
                "projected": (doc.get("_version"), doc["status"], doc.get("attempts")),
                "next_attempt_at": str(doc.get("next_attempt_at")),
                "last_error": doc.get("last_error"),
                "commits": [(c["version"], c["state"].get("status"), str(c["at"])) for c in steps],
            }
        )
    return out
