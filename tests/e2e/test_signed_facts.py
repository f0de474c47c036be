"""No service can forge another's facts (issue 24, item 6), through the real broker: the console's
principal, which may write every fact topic for its replays, publishes decisions with the
approvals service's stamp but without its signature; they are dead-lettered as
`unverified_fact` (counted, listed in the console), not applied. A replay of a real dead letter
sends the original's exact bytes and headers, so it still carries its owner's signature."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from smartcity_th.contracts.approvals import RevisionRequested
from smartcity_th.contracts.common import BilingualText
from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.examples import example_envelope
from smartcity_th.contracts.signing import Authenticated, sign, verify_fact
from smartcity_th.contracts.topics import HEADER_EMITTED_BY, Topics
from smartcity_th.services.common.registry import RegistryProjection
from tests.e2e.test_cli_console import cli
from tests.e2e.test_walking_skeleton import DRAFT, submit
from tests.support import (
    Namespace,
    ServiceProcess,
    dead_letters,
    kafka_auth,
    kafka_client,
    kafka_producer,
    poll,
    private_namespace,
    read_topic,
    record_headers,
    service_process,
    signer_for,
)

pytestmark = pytest.mark.e2e


def revision_request(proposal_id: str) -> AnyEnvelope:
    return new_envelope(
        RevisionRequested(
            requested_by="depa",
            reasons=BilingualText(th="โปรดเพิ่มแผนการเงิน", en="Please add a financing plan"),
        ),
        producer="svc-approvals",
        proposal_id=proposal_id,
    )


def forged_headers(
    envelope: AnyEnvelope, topic: str, how: str, stamp: str = "svc-approvals"
) -> list[tuple[str, bytes]]:
    """The owner's stamp, and no signature or the console's own (registered) key's."""
    headers = envelope.headers() | {HEADER_EMITTED_BY: stamp}
    if how == "console's key":
        console = signer_for("svc-console")
        headers |= sign(
            console.private_key,
            console.key_id,
            envelope.to_bytes(),
            envelope.key,
            envelope.event_type,
            topic=topic,
            signed_at=dt.datetime.now(dt.UTC),
        )
    return [(k, v.encode()) for k, v in headers.items()]


async def proposal_status(services: dict[str, ServiceProcess], key: str, pid: str) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.get(
            f"{services['proposals'].url}/proposals/{pid}", headers={"X-API-Key": key}
        )
    resp.raise_for_status()
    return str(resp.json()["status"])


async def metric(service: ServiceProcess, name: str) -> list[str]:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(service.url + "/metrics")).text
    return [line for line in text.splitlines() if line.startswith(name)]


async def counted(service: ServiceProcess, name: str) -> dict[str, float]:
    """A counter's samples by their `reason` label."""
    found = {}
    for line in await metric(service, name):
        labels, _, value = line.rpartition(" ")
        reason = labels.partition('reason="')[2].partition('"')[0]
        found[reason] = float(value)
    return found


async def test_the_console_cannot_forge_a_decision_and_a_replay_keeps_the_owners_signature(
    services: dict[str, ServiceProcess],
    console: ServiceProcess,
    api_keys: dict[tuple[str, str], str],
    topics: Topics,
    ns: Namespace,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    key = api_keys[("proposals", "lg-phuket-city")]
    resp = await submit(services, key, DRAFT)
    assert resp.status_code == 201, resp.text
    pid = resp.json()["proposal_id"]

    unsigned, console_signed = revision_request(pid), revision_request(pid)
    # The services are the session's: other tests' hostile records count too.
    before = await counted(services["proposals"], "smartcity_facts_unverified_total")
    producer = AIOKafkaProducer(**kafka_client("svc-console"), enable_idempotence=True)
    await producer.start()
    try:
        for envelope, how in ((unsigned, "unsigned"), (console_signed, "console's key")):
            await producer.send_and_wait(
                topics.decisions,
                envelope.to_bytes(),
                key=envelope.key,
                headers=forged_headers(envelope, topics.decisions, how),
            )
    finally:
        await producer.stop()

    for envelope, reason in ((unsigned, "unsigned: "), (console_signed, "wrong_agency: ")):
        [letter] = await dead_letters(topics, envelope.event_id, "proposals")
        assert letter["error_kind"] == "unverified_fact"
        assert letter["error"].startswith(reason), letter["error"]
    assert await proposal_status(services, key, pid) == "submitted"
    after = await counted(services["proposals"], "smartcity_facts_unverified_total")
    for reason in ("unsigned", "wrong_agency"):
        assert after.get(reason, 0) == before.get(reason, 0) + 1, (reason, before, after)

    async with httpx.AsyncClient(
        base_url=console.url, timeout=15, headers={"X-API-Key": console.api_key}
    ) as depa:

        async def listed() -> list[dict[str, Any]] | None:
            """Both consumers of the decisions topic refused it (proposals, notifications)."""
            rows = (await depa.get("/api/deadletters", params={"error": "wrong_agency"})).json()
            mine = [r for r in rows if r["event_id"] == str(console_signed.event_id)]
            consumers = {r["consumer"] for r in mine}
            return mine if consumers == {"proposals", "notifications"} else None

        rows = await poll(listed, timeout=60, what="the forged fact among the console's letters")
        assert {r["error_kind"] for r in rows} == {"unverified_fact"}

        # A real dead letter of a genuinely signed fact: a decision about a proposal the
        # proposals service does not know (signed with the tests' key of svc-approvals).
        genuine = revision_request(f"X-{pid}")
        producer = AIOKafkaProducer(**kafka_client(), enable_idempotence=True)
        await producer.start()
        try:
            await producer.send_and_wait(
                topics.decisions,
                genuine.to_bytes(),
                key=genuine.key,
                headers=record_headers(genuine, topics.decisions),
            )
        finally:
            await producer.stop()
        [first] = await dead_letters(topics, genuine.event_id, "proposals")
        assert first["error_kind"] == "unknown_proposal"

        letter_url = f"/api/deadletters/{first['dead_letter_id']}"

        async def audited() -> bool:
            return (await depa.get(letter_url)).status_code == 200

        await poll(audited, timeout=60, what="the genuine dead letter in the console")
        replayed = await depa.post(f"{letter_url}/replay")
        assert replayed.status_code == 200, replayed.text

    records = await read_topic(
        topics.decisions, min_records=2, where=lambda r: r.key == genuine.key
    )
    records.sort(key=lambda r: r.offset)
    original, again = records[0], records[-1]
    assert again.offset != original.offset
    assert (again.value, again.key, list(again.headers)) == (
        original.value,
        original.key,
        list(original.headers),
    )
    # The replay passed the proposals service's fact check: refused again only because the
    # proposal is still unknown, not as an unverified fact.
    letters = await dead_letters(topics, genuine.event_id, "proposals", min_records=2)
    assert [d["error_kind"] for d in letters] == ["unknown_proposal", "unknown_proposal"]
    assert {d["offset"] for d in letters} == {original.offset, again.offset}

    registry = RegistryProjection(kafka_auth(), topics.registry, "tests-facts")
    await registry.start()
    try:
        verdict = verify_fact(
            value=again.value,
            key=again.key,
            headers=dict(again.headers),
            topic=topics.decisions,
            owner="svc-approvals",
            agencies=registry.state.agencies,
            keys=registry.state.signing_keys,
            received_at=dt.datetime.fromtimestamp(again.timestamp / 1000, dt.UTC),
        )
    finally:
        await registry.stop()
    assert isinstance(verdict, Authenticated)
    assert verdict.key_id == signer_for("svc-approvals").key_id
    assert base64.b64decode(first["value_b64"]) == original.value


async def test_audit_verify_flags_a_forged_fact_that_no_service_refused(
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    """Only the console reads `smartcity.notifications`, so a delivery result forged there by
    the console's principal is refused by no consumer: `audit verify --signatures` must flag it,
    and pass the genuine one. In a namespace of its own (the session's log stays clean)."""
    async with private_namespace(mongo, ("depa",)) as (ns, topics, keys):
        with service_process("console", ns).running() as console:
            console.api_key = keys["depa"]
            genuine = example_envelope("NotificationSent").model_copy(
                update={"event_id": uuid.uuid4()}
            )
            forged = genuine.model_copy(update={"event_id": uuid.uuid4()})
            async with kafka_producer() as admin:  # as the notifications service publishes
                await admin.send_and_wait(
                    topics.notifications,
                    genuine.to_bytes(),
                    key=genuine.key,
                    headers=record_headers(genuine, topics.notifications),
                )
            producer = AIOKafkaProducer(**kafka_client("svc-console"), enable_idempotence=True)
            await producer.start()
            try:
                await producer.send_and_wait(
                    topics.notifications,
                    forged.to_bytes(),
                    key=forged.key,
                    headers=forged_headers(
                        forged, topics.notifications, "console's key", "svc-notifications"
                    ),
                )
            finally:
                await producer.stop()
            audit = mongo[ns.db("console")]["audit"]

            async def recorded() -> bool:
                ids = [str(genuine.event_id), str(forged.event_id)]
                return await audit.count_documents({"event_id": {"$in": ids}}) == 2

            await poll(recorded, timeout=60, what="both delivery results in the audit log")
            result = cli(console, "audit", "verify", "--signatures", "--output", "json")
            assert result.exit_code == 1, result.output
            report = json.loads(result.output)
            assert report["intact"] is True
            facts = report["signatures"]["facts"]
            assert facts["verified"] == 1
            assert facts["refused"] == {"wrong_agency": 1}
            assert report["signatures"]["unexplained"] == [str(forged.event_id)]
            text = cli(console, "audit", "verify", "--signatures")
            assert f"fact {forged.event_id}: wrong_agency" in text.output, text.output
