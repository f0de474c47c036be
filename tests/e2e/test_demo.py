"""The main job (`make demo`) against the real stack: the printed figures and the emails."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from smartcity_th.contracts.agencies import Agency
from smartcity_th.contracts.common import AgencyKind
from smartcity_th.contracts.topics import DEFAULT_PARTITIONS, Topics
from smartcity_th.services.common.kafka import delete_topics, ensure_topics
from smartcity_th.services.common.registry_admin import RegistryAdmin
from smartcity_th.services.notifications.proofread import problems
from tests.support import (
    KAFKA,
    LOCAL,
    MAILPIT,
    ROOT,
    Mailpit,
    Namespace,
    ServiceProcess,
    free_port,
    kafka_client,
    read_topic,
    register_service_keys,
    service_env,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo_stack(stack: None) -> Iterator[tuple[Namespace, dict[str, str]]]:
    """The three services on their own databases and topics: the registry must hold only what
    the demo put there."""
    ns = Namespace()
    topics = Topics(ns.topics_prefix)
    asyncio.run(ensure_topics(KAFKA, topics, DEFAULT_PARTITIONS))
    # What `make up` does before the demo: each fact-owning service's signing key registered
    # (the services here sign with the tests' keys: service_env).
    asyncio.run(register_service_keys(topics))
    logs = LOCAL / "logs" / "tests"
    logs.mkdir(parents=True, exist_ok=True)
    # The local stack's go-live (infra/services.sh): the 2022 round live, the 2021 round history.
    go_live = {"APPROVALS_GO_LIVE": "2022-01-01", "NOTIFICATIONS_GO_LIVE": "2022-01-01"}
    procs = [
        ServiceProcess(
            name,
            {**service_env(name, ns, port := free_port()), **go_live},
            port,
            logs / f"{ns.run_id}-demo-{name}.log",
        )
        for name in ("proposals", "approvals", "notifications")
    ]
    # The scenario acts as the admin too (the registry seed, keys): in this namespace.
    env: dict[str, str] = {"SMARTCITY_ADMIN_TOPIC_NAMESPACE": ns.topics_prefix}
    for proc in procs:
        env.update(proc.env)
        proc.start()
    try:
        for proc in procs:
            proc.wait_healthy()
        yield ns, env
    finally:
        for proc in procs:
            proc.stop()
        asyncio.run(delete_topics(KAFKA, list(topics.all())))


def run_demo(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "scenarios"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **env, "COLUMNS": "200", "SMARTCITY_MAILPIT_URL": MAILPIT},
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


async def test_the_demo_plays_the_2022_round_and_prints_figures_from_the_registry(
    demo_stack: tuple[Namespace, dict[str, str]],
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    ns, env = demo_stack
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    out = await asyncio.to_thread(run_demo, env)

    assert "30 certified areas in 23 provinces" in out
    assert "15 areas in 14 provinces approved at meeting 1/2565" in out
    assert "ภูเก็ต (Phuket)" in out
    assert "กรุงเทพมหานคร (Bangkok)" in out
    # The printed table, computed from the registry: the 15th 2021 area is in Chon Buri.
    assert re.search(r"กรุงเทพมหานคร \(Bangkok\)\s*│\s*4\s*│", out), out[-4000:]
    assert re.search(r"ชลบุรี \(Chon Buri\)\s*│\s*2\s*│", out), out[-4000:]

    # The figures are the registry's: 30 certified cases, 23 provinces, 15 at 1/2565.
    cases = mongo[ns.db("approvals")]["cases"]
    certified = await cases.find({"stage": "certified"}, {"province_code": 1}).to_list(None)
    assert len(certified) == 30
    assert len({c["province_code"] for c in certified}) == 23
    # One proposal went back for revision and was resubmitted.
    proposals = mongo[ns.db("proposals")]["proposals"]
    assert await proposals.count_documents({"revision": 2}) == 1

    # The emails: as many as printed, each at the SMTP server exactly once; one letter per
    # event of the 2022 round (six steps for each of its 15 areas, and Pattani's revision and
    # resubmission), none about the 2021 round (before the go-live).
    match = re.search(r"(\d+) emails delivered", out)
    assert match, out[-2000:]
    printed = int(match.group(1))
    deliveries = mongo[ns.db("notifications")]["deliveries"]
    sent = await deliveries.find({"status": "sent"}).to_list(None)
    assert printed == len(sent)
    letters = [d for d in sent if not d.get("copy_of")]
    assert len(letters) == 15 * 6 + 2, Counter(d["event_type"] for d in letters)
    assert min(d["letter"]["date"] for d in letters) >= "2022-01-01"
    # The letter table on the wire: no address twice on one letter; the applicant is the
    # addressee; every decision about an area is copied to the area's governor.
    decisions = {
        "ProposalScreened",
        "SubcommitteeApproved",
        "SteeringCommitteeAcknowledged",
        "CabinetEndorsed",
        "CertificationAwarded",
        "RevisionRequested",
    }
    for d in letters:
        addresses = [d["email"].lower()] + [c["email"].lower() for c in d.get("cc") or []]
        assert len(addresses) == len(set(addresses)), d["_id"]
        assert d["recipient_id"].startswith(("lg-", "pd-", "pao-")), d["_id"]
        if d["event_type"] in decisions:
            names = [c["name"] for c in d["cc"]]
            assert any(n.startswith("ผู้ว่าราชการ") for n in names) or (
                d["name_th"] == "กรุงเทพมหานคร"
            ), (d["_id"], names)
    # Each letter has its own number in the register of its (Buddhist-era) year: none reused.
    numbers = [(d["letter"]["th"], d["letter"]["date"][:4]) for d in letters]
    assert len(set(numbers)) == len(numbers)
    ids = Counter(d["message_id"].strip("<>") for d in sent)
    import httpx

    async with httpx.AsyncClient(base_url=MAILPIT, timeout=30) as http:
        received: Counter[str] = Counter()
        for message_id in ids:
            resp = await http.get("/api/v1/search", params={"query": f"message-id:{message_id}"})
            # The demo's ids are deterministic: earlier demo runs left the same Message-IDs.
            received[message_id] = sum(
                1
                for m in resp.json()["messages"]
                if dt.datetime.fromisoformat(m["Created"].replace("Z", "+00:00")) >= started
            )
    assert {m: n for m, n in received.items() if n != 1} == {}

    # The decisions carry their historical dates (the public status page and timelines show
    # these, not the minute the demo ran).
    view = mongo[ns.db("notifications")]["proposals"]
    dates: dict[str, set[str]] = {}
    async for doc in view.find({}, {"history": 1}):
        for h in doc.get("history", []):
            if h.get("decided_on"):
                dates.setdefault(h["event_type"], set()).add(h["decided_on"])
    assert "2022-08-06" in dates["SubcommitteeApproved"]
    assert "2022-11-09" in dates["SteeringCommitteeAcknowledged"]
    assert dates["CertificationAwarded"] == {"2021-12-24", "2023-01-09"}

    # Every letter the demo sent reads as a letter an official would sign (the proofreader
    # over all of them, as received), in all eight kinds of the round.
    assert len({d["event_type"] for d in letters}) == 8
    mail = Mailpit()
    try:
        for d in letters:
            kind, kind_message_id = d["event_type"], d["message_id"]
            [found] = (await mail.by_message_id(kind_message_id.strip("<>")))[:1]
            msg = await mail.raw(found["ID"])
            text_part, html_part = msg.get_body(("plain",)), msg.get_body(("html",))
            assert text_part is not None
            assert html_part is not None
            found_problems = problems(
                str(msg["Subject"]), text_part.get_content(), html_part.get_content()
            )
            assert found_problems == [], (kind, found_problems)
    finally:
        await mail.close()

    # History is history: the 2021 and 2022 deadlines passed before the system knew them, so
    # the deadline scan (which the demo runs as of today) reminds no one.
    scanned = r"deadline\s+scan\s+as\s+of\s+\S+\s+\(go-live\s+2022-01-01\):\s+0\s+reminders"
    assert re.search(scanned, out), out[-2000:]
    reminders = await deliveries.count_documents({"event_type": "DeliveryDeadlineReminder"})
    assert reminders == 0

    # A second run finds the round played, creates nothing and sends nothing new. (Mailpit is
    # shared with whatever else runs on the stack: only the demo's own Message-IDs count.)
    before = await proposals.count_documents({})
    emails_before = await deliveries.count_documents({})
    second_run = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    again = await asyncio.to_thread(run_demo, env)
    assert "has already been played" in again
    assert "30 certified areas in 23 provinces" in again
    assert "0 reminders" in again
    assert await proposals.count_documents({}) == before
    emails_after = await deliveries.count_documents({})
    resent: list[str] = []
    async with httpx.AsyncClient(base_url=MAILPIT, timeout=30) as http:
        start = 0
        while True:  # newest first, down to the second run's start
            page = (
                await http.get("/api/v1/messages", params={"start": start, "limit": 500})
            ).json()["messages"]
            newer = [
                m
                for m in page
                if dt.datetime.fromisoformat(m["Created"].replace("Z", "+00:00")) >= second_run
            ]
            resent += [m["MessageID"] for m in newer if m["MessageID"] in ids]
            if not page or len(newer) < len(page):
                break
            start += len(page)
    print(f"a second demo: deliveries {emails_before}/{emails_after}, resent {len(resent)}")
    assert emails_after == emails_before
    assert resent == []


EMAIL = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
PHONE = re.compile(rb"(?<![\w.+-])(?:\+66[- ]?\d|0\d)(?:[- ]?\d){7,8}(?![\w-])")
"""A Thai telephone number as people write it: 0X XXXX XXXX, 0XX-XXX-XXXX, +66 X XXXX XXXX."""


async def _read_all_as(principal: str, password: str, names: list[str]) -> list[Any]:
    """Every record of `names`, read from the beginning as `principal` (its ACLs apply)."""
    consumer = AIOKafkaConsumer(
        **kafka_client(principal, password), enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        # The test made each topic with DEFAULT_PARTITIONS partitions (an agency may not
        # describe the cluster); a partition it may not read fails the reads below.
        tps = [TopicPartition(name, p) for name in names for p in range(DEFAULT_PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        found: list[Any] = []
        deadline = asyncio.get_running_loop().time() + 120
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            assert asyncio.get_running_loop().time() < deadline, "reading the topics took too long"
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(records)
        return found
    finally:
        await consumer.stop()


async def _visible_topics(principal: str, password: str) -> set[str]:
    """The topics the broker lists to `principal`: it lists only those the principal may
    describe (which reading needs)."""
    consumer = AIOKafkaConsumer(**kafka_client(principal, password), group_id=None)
    await consumer.start()
    try:
        return set(await consumer.topics())
    finally:
        await consumer.stop()


def _personal_data(record: Any) -> list[str]:
    texts = [record.value or b"", *(v or b"" for _k, v in record.headers or ())]
    return [
        m.group().decode("utf-8", "replace")
        for text in texts
        for pattern in (EMAIL, PHONE)
        for m in pattern.finditer(text)
    ]


async def test_no_agency_reads_personal_data_on_kafka_after_the_demo(
    demo_stack: tuple[Namespace, dict[str, str]],
) -> None:
    """Issue 24 item 3: every record an agency principal may read (the facts and refusals on the
    proposals and decisions topics), after the demo, holds no email address and no phone
    number, its own included; the contact addresses are on smartcity.contacts, which no agency
    may read (and which holds them, so the scan is not blind)."""
    ns, _env = demo_stack
    topics = Topics(ns.topics_prefix)
    reader = Agency(
        f"lg-reader-{ns.run_id[-6:]}", AgencyKind.LOCAL_GOVERNMENT, "เทศบาลผู้อ่าน", "Reader", "83"
    )
    async with RegistryAdmin(KAFKA, topics) as admin:
        onboarded = await admin.onboard(reader)
    assert onboarded.kafka is not None
    user, password = onboarded.kafka.username, onboarded.kafka.password

    records = await _read_all_as(user, password, [topics.proposals, topics.decisions])
    assert len(records) >= 15 * 6, "the demo's facts are on the topics"
    found = {
        (r.topic.removeprefix(ns.topics_prefix), r.offset): hits
        for r in records
        if (hits := _personal_data(r))
    }
    print(f"personal-data scan: {len(records)} records an agency reads, {len(found)} with any")
    assert found == {}

    visible = await _visible_topics(user, password)
    assert {topics.proposals, topics.decisions} <= visible
    assert topics.contacts not in visible
    held = await read_topic(topics.contacts, min_records=15)
    assert sum(bool(EMAIL.search(r.value or b"")) for r in held) >= 15
