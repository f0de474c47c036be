"""The notifications service as a real process on the real Kafka and FerretDB: every routed
event's email arrives (parsed and checked), a redelivered event sends nothing twice, a
recipient missing from the directory is a clear failure, the directory has an admin API and
CLI, digests hold non-critical mail, and an SMTP outage loses nothing and duplicates nothing.

The events are published as the other services would (`new_envelope` to the namespaced fact
topics). Each process here has its own topic namespace, database and consumer group, so the
e2e services of the same run never see these events. The shared Mailpit receives the normal
mail; the outage test uses a private aiosmtpd server on a free port (never the shared one)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient

from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.common import BilingualText
from smartcity_th.contracts.envelope import AnyEnvelope
from smartcity_th.contracts.topics import DEFAULT_PARTITIONS, Topics
from smartcity_th.services.common.kafka import delete_topics, ensure_topics
from smartcity_th.services.common.mongo import make_client
from smartcity_th.services.common.store import AggregateStore, CommitPublisher
from smartcity_th.services.notifications.adapters.bodies import MessageBodies
from smartcity_th.services.notifications.adapters.delivery_log import MongoDeliveryLog
from smartcity_th.services.notifications.adapters.directory import (
    RecipientChange,
    RecipientsDirectory,
    seed_documents,
)
from smartcity_th.services.notifications.adapters.register import LetterRegister, entry_id
from smartcity_th.services.notifications.adapters.secret import load_or_create_secret
from smartcity_th.services.notifications.adapters.view import ProposalsView
from smartcity_th.services.notifications.bootstrap import mail_settings
from smartcity_th.services.notifications.config import NotificationsSettings
from smartcity_th.services.notifications.handlers import NotificationHandlers
from smartcity_th.services.notifications.letters import LETTERS, PARTY_AGENCY, Party
from smartcity_th.services.notifications.messages import message_id
from smartcity_th.services.notifications.proofread import problems, visible_text
from smartcity_th.services.notifications.rendering import status_page_csp
from smartcity_th.services.notifications.samples import sample_envelope
from smartcity_th.services.notifications.view import CONTENT_EVENTS
from tests import builders
from tests.support import (
    KAFKA,
    LOCAL,
    MONGO,
    ROOT,
    Mailpit,
    Namespace,
    ServiceProcess,
    contacts_fact,
    count_published,
    envelope_of,
    find_published,
    free_port,
    issue_api_key,
    kafka_client,
    poll,
    read_topic,
    record_headers,
    seed_registry,
    service_env,
    unpublished,
    wait_key_accepted,
)

pytestmark = pytest.mark.integration

DOMAIN = "smartcity.example.go.th"
DIRECTORY = {d["_id"]: d for d in seed_documents()}
CONTACT = "smartcity@phuketcity.example.go.th"
"""The sample proposal's contact address (in Cc of every letter to its applicant)."""
APPLICANT = str(DIRECTORY["lg-phuket-city"]["email"])
"""The sample applicant's address: the addressee of every letter about its proposal."""
Doc = dict[str, Any]


@dataclass
class Notifier:
    """One private notifications process: its topics, database and HTTP address."""

    proc: ServiceProcess
    topics: Topics
    db_name: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.proc.url


def start_notifier(ns: Namespace, label: str, extra: dict[str, str]) -> Iterator[Notifier]:
    prefix = f"{ns.topics_prefix}{label}."
    topics = Topics(prefix)
    asyncio.run(ensure_topics(KAFKA, topics, DEFAULT_PARTITIONS))
    asyncio.run(seed_registry(topics, ("depa", "svc-approvals", "lg-phuket-city")))
    port = free_port()
    db_name = ns.db(f"notif_{label}")
    env = service_env(
        "notifications",
        ns,
        port,
        {
            "NOTIFICATIONS_MONGO_DB": db_name,
            "NOTIFICATIONS_TOPIC_NAMESPACE": prefix,
            "NOTIFICATIONS_CONSUMER_GROUP": f"{prefix}notifications",
            "NOTIFICATIONS_SENDER_POLL_SECONDS": "0.2",
            **extra,
        },
    )
    logs = LOCAL / "logs" / "tests"
    logs.mkdir(parents=True, exist_ok=True)
    proc = ServiceProcess("notifications", env, port, logs / f"{ns.run_id}-notif-{label}.log")
    proc.start()
    try:
        proc.wait_healthy()
        yield Notifier(proc, topics, db_name, env)
    finally:
        proc.stop()
        asyncio.run(delete_topics(KAFKA, [*topics.all(), topics.registry]))


@pytest.fixture(scope="module")
def notifier(ns: Namespace) -> Iterator[Notifier]:
    """Pointed at the shared Mailpit."""
    yield from start_notifier(ns, "it", {})


@pytest.fixture(scope="module")
async def producer() -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(**kafka_client(), acks="all", enable_idempotence=True)
    await p.start()
    yield p
    await p.stop()


async def publish(
    producer: AIOKafkaProducer,
    topics: Topics,
    *envelopes: AnyEnvelope,
    contacts: list[str] | None = None,
) -> None:
    """Publish facts as their owners do: a submission after its applicant's contacts (the
    sample's contact address unless `contacts` are given)."""
    for e in envelopes:
        if e.event_type in CONTENT_EVENTS:
            await publish(producer, topics, contacts_fact(e, contacts or [CONTACT]))
        await producer.send_and_wait(
            topics.name(EVENTS[e.event_type].fact_topic),
            e.to_bytes(),
            key=e.key,
            headers=record_headers(e, topics.name(EVENTS[e.event_type].fact_topic)),
        )


def event(event_type: str, proposal_id: str, **kwargs: Any) -> AnyEnvelope:
    return sample_envelope(event_type, proposal_id=proposal_id, fixed=False, **kwargs)


def new_proposal_id() -> str:
    return builders.new_proposal_id("PRP-IT")


def expected_letter(
    event_type: str,
    producer_id: str = "depa",
    applicant: str = "lg-phuket-city",
    province: str = "83",
    contact: str = CONTACT,
) -> tuple[str, set[str]]:
    """The address a letter about the event goes to, and the addresses in its Cc (the
    letter table's copies, then the applicant's contact address when not already there)."""
    rule = LETTERS[event_type]

    def address(party: Party) -> str:
        if party is Party.APPLICANT:
            return str(DIRECTORY[applicant]["email"])
        if party is Party.GOVERNOR:
            return str(DIRECTORY[f"governor-{province}"]["email"])
        if party is Party.PRODUCER:
            return str(DIRECTORY[producer_id]["email"])
        return str(DIRECTORY[PARTY_AGENCY[party]]["email"])

    to = address(rule.to)
    cc = {address(p) for p in rule.cc} - {to}
    if rule.to is Party.APPLICANT and contact != to:
        cc.add(contact)
    return to, cc


async def received(mailpit: Mailpit, msg_id: str, count: int = 1) -> list[Doc]:
    # Generous: a loaded 2-core machine (the demo's services, another test run) was seen to
    # take over 45 s from publish to delivery; a healthy one takes well under a second.
    return await poll(
        lambda: _exactly(mailpit, msg_id, count),
        timeout=180,
        what=f"{count} message(s) {msg_id} at Mailpit",
    )


async def _exactly(mailpit: Mailpit, msg_id: str, count: int) -> list[Doc] | None:
    found = await mailpit.by_message_id(msg_id)
    return found if len(found) >= count else None


def body_parts(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


# -- every routed event's email --------------------------------------------------------------


async def test_every_routed_event_is_emailed_in_thai_and_english(
    notifier: Notifier,
    producer: AIOKafkaProducer,
    mailpit: Mailpit,
) -> None:
    # Every lettered event, in orders the workflow allows (the service holds a fact read
    # before the one it follows): one proposal's whole life, and the three other endings.
    paths = [
        (
            "ProposalSubmitted",
            "RevisionRequested",
            "ProposalResubmitted",
            "ProposalScreened",
            "SubcommitteeApproved",
            "SteeringCommitteeAcknowledged",
            "CabinetEndorsed",
            "CertificationAwarded",
            "DeliveryDeadlineReminder",
            "DeliveryReported",
            "DeliveryReturned",
            "DeliveryAcknowledged",
            "CertificationRenewed",
            "CertificationLapsed",
            "IntakeRejected",
            "TransitionRefused",
        ),
        ("ProposalSubmitted", "ProposalScreened", "SubcommitteeRejected"),
        ("ProposalSubmitted", "ProposalWithdrawn"),
        (
            "ProposalSubmitted",
            "ProposalScreened",
            "SubcommitteeApproved",
            "SteeringCommitteeAcknowledged",
            "CabinetReturned",
        ),
    ]
    envelopes = [event(t, pid) for path in paths if (pid := new_proposal_id()) for t in path]
    assert {e.event_type for e in envelopes} == set(LETTERS)
    # The refusals name the proposal they are about: sent once its submission is told (read
    # first, a refusal is told at once and says "-" for the area, which proofreading holds).
    refusals = {"IntakeRejected", "TransitionRefused"}
    await publish(
        producer, notifier.topics, *(e for e in envelopes if e.event_type not in refusals)
    )
    first = next(e for e in envelopes if e.event_type == "ProposalSubmitted")
    await received(
        mailpit, message_id(str(first.event_id), expected_letter(first.event_type)[0], DOMAIN)
    )
    await publish(producer, notifier.topics, *(e for e in envelopes if e.event_type in refusals))
    for e in envelopes:
        address, copies = expected_letter(e.event_type)
        msg_id = message_id(str(e.event_id), address, DOMAIN)
        [summary] = await received(mailpit, msg_id)
        msg = await mailpit.raw(summary["ID"])
        assert [a.addr_spec for a in msg["To"].addresses] == [address]
        cc = [a.addr_spec for a in msg["Cc"].addresses] if msg["Cc"] else []
        assert sorted(cc) == sorted(copies), e.event_type
        assert msg["Reply-To"].addresses[0].addr_spec == "smartcity@depa.example.go.th"
        assert msg["X-Smartcity-Letter-Number"].startswith("DEPA 04/")
        assert str(msg["Subject"]).startswith("[เมืองอัจฉริยะ]"), e.event_type
        assert msg["X-Smartcity-Event-Type"] == e.event_type
        text, html = body_parts(msg)
        assert text.index("เรียน") < text.index("Dear")
        assert "ภูเก็ต" in text
        assert "Phuket" in text
        assert problems(str(msg["Subject"]), text, html) == [], e.event_type
        assert f"{notifier.url}/status/" in html
        assert "/proposals/" not in html  # never the operators' console
        if e.event_type != "IntakeRejected":
            assert "ภูเก็ตเมืองอัจฉริยะ" in str(msg["Subject"]) + text, e.event_type
    cabinet = next(e for e in envelopes if e.event_type == "CabinetEndorsed")
    msg = await mailpit.raw(
        (
            await received(
                mailpit,
                message_id(str(cabinet.event_id), expected_letter("CabinetEndorsed")[0], DOMAIN),
            )
        )[0]["ID"]
    )
    text, _html = body_parts(msg)
    assert "อ้างถึง  หนังสือสำนักเลขาธิการคณะรัฐมนตรี ที่ นร 0505/ว 123" in text
    assert "สำเนาส่ง  ผู้ว่าราชการจังหวัดภูเก็ต" in text
    assert "20 ธันวาคม 2565" in text
    assert "20 December 2022" in text


async def test_sent_emails_are_recorded_and_announced(
    notifier: Notifier,
    producer: AIOKafkaProducer,
    mailpit: Mailpit,
    mongo: AsyncMongoClient[Doc],
) -> None:
    pid = new_proposal_id()
    submitted = event("ProposalSubmitted", pid)
    await publish(producer, notifier.topics, submitted)
    deliveries = mongo[notifier.db_name]["deliveries"]
    addresses = {expected_letter("ProposalSubmitted")[0]}

    async def all_sent() -> list[Doc] | None:
        docs = await deliveries.find({"event_id": str(submitted.event_id)}).to_list(None)
        return (
            docs
            if len(docs) == len(addresses)
            and all(d["status"] == "sent" for d in docs)
            and await unpublished(deliveries, [d["_id"] for d in docs]) == 0
            else None
        )

    docs = await poll(all_sent, timeout=45, what="deliveries sent")
    assert {d["email"] for d in docs} == addresses
    assert all(d["attempts"] == 1 and d["smtp_reply"] for d in docs)
    # Two commits each: queued already leased to the sender of the process that queued it
    # (no claim of its own), then sent.
    commits = mongo[notifier.db_name]["deliveries_commits"]
    for d in docs:
        assert await commits.count_documents({"aggregate_id": d["_id"]}) == 2
    # The delivery documents stay small: the body and the event bytes are stored apart,
    # under the same id, once.
    assert all(not {"text", "html", "event_value"} & set(d) for d in docs)
    bodies = (
        await mongo[notifier.db_name]["messages"]
        .find({"_id": {"$in": [d["_id"] for d in docs]}})
        .to_list(None)
    )
    assert len(bodies) == len(docs)
    assert all("Phuket" in b["text"] and "<html" in b["html"].lower() for b in bodies)
    assert {b["event_value"] for b in bodies} == {submitted.model_dump_json()}
    records = await read_topic(
        notifier.topics.notifications,
        min_records=len(addresses),
        where=lambda r: envelope_of(r)["payload"].get("about_event_id") == str(submitted.event_id),
    )
    sent = [envelope_of(r) for r in records]
    assert {s["payload"]["recipient_email"] for s in sent} == addresses
    assert {s["event_type"] for s in sent} == {"NotificationSent"}
    assert {s["causation_id"] for s in sent} == {str(submitted.event_id)}
    assert {s["correlation_id"] for s in sent} == {str(submitted.correlation_id)}
    assert {s["payload"]["message_id"] for s in sent} == {d["message_id"] for d in docs}


async def test_html_and_line_breaks_in_fields_are_harmless(
    notifier: Notifier,
    producer: AIOKafkaProducer,
    mailpit: Mailpit,
) -> None:
    """Markup and line breaks that proofreading lets through (a bare tag such as <b> would be
    held as a placeholder: test_a_letter_that_fails_proofreading_...) are escaped in the HTML
    part and cannot add headers."""
    pid = new_proposal_id()
    area = BilingualText(
        th="<b class=x>เมือง</b>\r\nBcc: victim@example.com",
        en="<script type=x>x</script>\nBcc: victim@example.com",
    )
    envelopes = [
        event("ProposalSubmitted", pid, area=area),
        event(
            "RevisionRequested",
            pid,
            reason=BilingualText(th="<img src=x>\r\nX-Evil: 1", en="<i class=x>why</i>\nX-Evil: 1"),
        ),
    ]
    await publish(producer, notifier.topics, *envelopes)
    for e in envelopes:
        msg_id = message_id(str(e.event_id), APPLICANT, DOMAIN)
        [summary] = await received(mailpit, msg_id)
        msg = await mailpit.raw(summary["ID"])
        assert msg["Bcc"] is None
        assert msg["X-Evil"] is None
        assert [a.addr_spec for a in msg["To"].addresses] == [APPLICANT]
        assert [a.addr_spec for a in msg["Cc"].addresses][-1] == CONTACT
        _text, html = body_parts(msg)
        assert "<script type=x>" not in html
        assert "<b class=x>เมือง</b>" not in html
        assert "&lt;b class=x&gt;เมือง&lt;/b&gt;" in html


async def test_a_decision_read_before_its_submission_waits_for_it(
    notifier: Notifier,
    producer: AIOKafkaProducer,
    mailpit: Mailpit,
) -> None:
    """One consumer reads the proposals and the decisions topics: catching up on a backlog it
    can read a screening before the submission it follows. The screening's letter must still
    name the area and reach the applicant's contact (it used to say "-" and miss them)."""
    pid = new_proposal_id()
    area = BilingualText(th="เทศบาลนครรอคอย", en="Waiting City Municipality")
    submitted = event("ProposalSubmitted", pid, area=area)
    screened = event("ProposalScreened", pid)
    await publish(producer, notifier.topics, screened)  # the decision first
    await publish(producer, notifier.topics, submitted)
    for e in (submitted, screened):
        [summary] = await received(mailpit, message_id(str(e.event_id), APPLICANT, DOMAIN))
        text, _html = body_parts(await mailpit.raw(summary["ID"]))
        assert "เทศบาลนครรอคอย" in text
        assert "Waiting City Municipality" in text
    [letter] = await received(mailpit, message_id(str(screened.event_id), APPLICANT, DOMAIN))
    text, _html = body_parts(await mailpit.raw(letter["ID"]))
    assert "ขั้นตอน ณ วันที่ของหนังสือ: -" not in text


# -- idempotency and failures ----------------------------------------------------------------


async def test_a_redelivered_event_sends_no_second_email(
    notifier: Notifier,
    producer: AIOKafkaProducer,
    mailpit: Mailpit,
    mongo: AsyncMongoClient[Doc],
) -> None:
    pid = new_proposal_id()
    submitted = event("ProposalSubmitted", pid)
    screened = event("ProposalScreened", pid)
    revision = event("RevisionRequested", pid)
    marker = event("DeliveryDeadlineReminder", pid)
    await publish(producer, notifier.topics, submitted, screened, screened, submitted)
    await received(mailpit, message_id(str(screened.event_id), APPLICANT, DOMAIN))
    # An old event redelivered after a newer one: no email, and the stage does not go back.
    await publish(producer, notifier.topics, revision, screened, marker)
    # The marker follows the copies on the proposal's partition: once its email is here,
    # every copy has been consumed.
    [summary] = await received(mailpit, message_id(str(marker.event_id), APPLICANT, DOMAIN))
    for e in (submitted, screened, revision):
        address = expected_letter(e.event_type)[0]
        msg_id = message_id(str(e.event_id), address, DOMAIN)
        await received(mailpit, msg_id)
        assert len(await mailpit.by_message_id(msg_id)) == 1, (e.event_type, address)
    view = await mongo[notifier.db_name]["proposals"].find_one({"_id": pid})
    assert view is not None
    assert view["stage"] == "revision_requested"
    text, _html = body_parts(await mailpit.raw(summary["ID"]))
    # The reminder's facts give the stage the view holds (a reminder moves no stage).
    assert "ขั้นตอน ณ วันที่ของหนังสือ: รอผู้ยื่นแก้ไขข้อเสนอ" in text


@pytest.fixture(scope="module")
def sleepy_notifier(ns: Namespace) -> Iterator[Notifier]:
    """A process whose sender looks through the delivery log only at start and then once an
    hour: an email it sends sooner, it was woken for."""
    yield from start_notifier(ns, "wake", {"NOTIFICATIONS_SENDER_POLL_SECONDS": "3600"})


async def test_a_redelivered_event_wakes_the_emails_an_earlier_try_queued(
    sleepy_notifier: Notifier,
    producer: AIOKafkaProducer,
    mailpit: Mailpit,
    mongo: AsyncMongoClient[Doc],
) -> None:
    """A first try queued an event's emails and stopped before any sender was woken (a crash
    right after the commits, or a rebalance that gave the event to another instance): the
    redelivered event sends them, without waiting for the sender's hourly look."""
    pid = new_proposal_id()
    submitted = event("ProposalSubmitted", pid)
    # The first try: the service's own handler code on the same database, with no sender.
    db = mongo[sleepy_notifier.db_name]
    publisher = CommitPublisher(KafkaBroker(), sleepy_notifier.topics, "notifications")
    deliveries = MongoDeliveryLog(AggregateStore(db, "deliveries", publisher))
    mail = mail_settings(NotificationsSettings())
    mail.links.secret = await load_or_create_secret(db, "status-links")  # the service's
    first_try = NotificationHandlers(
        ProposalsView(AggregateStore(db, "proposals", publisher)),
        RecipientsDirectory(db),
        deliveries,
        MessageBodies(db),
        mail,
        LetterRegister(db),
    )
    await first_try.on_event(contacts_fact(submitted, [CONTACT]))
    await first_try.on_event(submitted)
    addresses = [expected_letter("ProposalSubmitted")[0]]
    ids = [f"{submitted.event_id}:{a.lower()}" for a in addresses]
    queued = await deliveries.collection.find({"_id": {"$in": ids}}).to_list(None)
    assert sorted(d["status"] for d in queued) == ["queued"] * len(addresses)
    # The redelivery.
    await publish(producer, sleepy_notifier.topics, submitted)
    for address in addresses:
        await received(mailpit, message_id(str(submitted.event_id), address, DOMAIN))


async def test_a_recipient_missing_from_the_directory_is_a_clear_failure(
    notifier: Notifier,
    producer: AIOKafkaProducer,
    mailpit: Mailpit,
    mongo: AsyncMongoClient[Doc],
) -> None:
    pid = new_proposal_id()
    refused = event("TransitionRefused", pid, producer="lg-nowhere-city")
    after = event("ProposalSubmitted", pid)
    await publish(producer, notifier.topics, refused, after)
    deliveries = mongo[notifier.db_name]["deliveries"]
    failure = await poll(
        lambda: find_published(deliveries, {"event_id": str(refused.event_id), "status": "failed"}),
        timeout=30,
        what="failure record",
    )
    assert failure["recipient_id"] == "lg-nowhere-city"
    assert "lg-nowhere-city" in failure["last_error"]
    assert "recipients directory" in failure["last_error"]
    records = await read_topic(
        notifier.topics.notifications,
        min_records=1,
        where=lambda r: envelope_of(r)["payload"].get("about_event_id") == str(refused.event_id),
    )
    [failed] = [envelope_of(r) for r in records]
    assert failed["event_type"] == "NotificationFailed"
    assert failed["payload"]["recipient_id"] == "lg-nowhere-city"
    assert failed["payload"]["attempts"] == 0
    # Nothing crashed: the next event is emailed as usual.
    await received(mailpit, message_id(str(after.event_id), APPLICANT, DOMAIN))
    async with httpx.AsyncClient(base_url=notifier.url, timeout=5) as http:
        assert (await http.get("/healthz")).status_code == 200


# -- directory admin, digests, health ---------------------------------------------------------


@pytest.fixture(scope="module")
async def admin_keys(notifier: Notifier) -> dict[str, str]:
    keys = {
        a: await issue_api_key(notifier.topics, a)
        for a in ("depa", "svc-approvals", "lg-phuket-city")
    }
    for key in keys.values():
        await wait_key_accepted(notifier.url, key, "/recipients")
    return keys


async def test_the_directory_admin_api(notifier: Notifier, admin_keys: dict[str, str]) -> None:
    depa = {"X-API-Key": admin_keys["depa"]}
    async with httpx.AsyncClient(base_url=notifier.url, timeout=10) as http:
        assert (await http.get("/recipients")).status_code == 401
        refused = await http.get("/recipients", headers={"X-API-Key": admin_keys["lg-phuket-city"]})
        assert refused.status_code == 403
        assert "error_th" in refused.json()
        governors = (
            await http.get("/recipients", params={"prefix": "governor-"}, headers=depa)
        ).json()
        assert len(governors) == 77
        assert all(g["email"].endswith("@provinces.example.go.th") for g in governors)
        one = (await http.get("/recipients/governor-83", headers=depa)).json()
        assert one["name_th"] == "ผู้ว่าราชการจังหวัดภูเก็ต"
        assert (await http.get("/recipients/nobody", headers=depa)).status_code == 404
        new = {
            "recipient_id": "lg-test-town",
            "email": "town@test.example.go.th",
            "name_th": "เทศบาลทดสอบ",
            "name_en": "Test Town",
        }
        system = {"X-API-Key": admin_keys["svc-approvals"]}
        created = await http.post("/recipients", json=new, headers=system)
        assert created.status_code == 201, created.text
        assert created.json()["updated_by"] == "svc-approvals"
        assert (await http.post("/recipients", json=new, headers=depa)).status_code == 409
        changed = await http.patch(
            "/recipients/lg-test-town", headers=depa, json={"email": "Mayor@Test.example.go.th"}
        )
        assert changed.json()["email"] == "mayor@test.example.go.th"
        bad = await http.patch(
            "/recipients/lg-test-town", headers=depa, json={"name_en": "Town\r\nBcc: x@example.com"}
        )
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "name_en"
        assert "error_th" in bad.json()
        bad_email = await http.patch(
            "/recipients/lg-test-town",
            headers=depa,
            json={"email": "a@b.example.go.th\r\nBcc: x@y.z"},
        )
        assert bad_email.status_code == 422
        digest = await http.put(
            "/recipients/lg-test-town/digest", headers=depa, json={"digest": True}
        )
        assert digest.json()["digest"] is True
        stored = (await http.get("/recipients/lg-test-town", headers=depa)).json()
        assert stored["email"] == "mayor@test.example.go.th"
        assert stored["name_en"] == "Test Town"
        assert stored["digest"] is True
        # The delivery log: depa sees every email, an applicant only those addressed to it.
        everything = (await http.get("/deliveries", headers=depa)).json()
        assert {d["recipient_id"] for d in everything} >= {"depa", "lg-phuket-city"}
        own = (
            await http.get("/deliveries", headers={"X-API-Key": admin_keys["lg-phuket-city"]})
        ).json()
        assert own
        assert {d["recipient_id"] for d in own} == {"lg-phuket-city"}


def test_the_recipients_cli(notifier: Notifier) -> None:
    env = {**os.environ, **notifier.env}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "smartcity_th.services.notifications", "recipients", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    added = cli(
        "add",
        "lg-cli-town",
        "cli@town.example.go.th",
        "--name-th",
        "เทศบาลซีแอลไอ",
        "--name-en",
        "CLI Town",
    )
    assert added.returncode == 0, added.stderr
    assert (
        cli(
            "add", "lg-cli-town", "cli@town.example.go.th", "--name-th", "x", "--name-en", "x"
        ).returncode
        == 1
    )
    assert cli("set", "lg-cli-town", "--email", "not an address").returncode == 2
    assert cli("set", "lg-cli-town", "--email", "new@town.example.go.th").returncode == 0
    assert cli("digest", "lg-cli-town", "--on").returncode == 0
    shown = cli("show", "lg-cli-town")
    assert shown.returncode == 0
    assert "new@town.example.go.th" in shown.stdout
    assert "yes" in shown.stdout
    listed = cli("list", "--prefix", "governor-8")
    assert "governor-83" in listed.stdout
    assert cli("show", "nobody").returncode == 1


async def test_digest_recipients_get_their_copies_in_one_letter_and_critical_ones_at_once(
    notifier: Notifier,
    producer: AIOKafkaProducer,
    mailpit: Mailpit,
    admin_keys: dict[str, str],
    mongo: AsyncMongoClient[Doc],
) -> None:
    """A governor who chose a digest gets the copies of non-critical letters in one covering
    letter a day; the copy of a critical letter (the Cabinet's) comes in its Cc at once. The
    letter's addressee always gets it at once."""
    depa = {"X-API-Key": admin_keys["depa"]}
    applicant = DIRECTORY["lg-khon-kaen-city"]
    governor = DIRECTORY["governor-40"]
    async with httpx.AsyncClient(base_url=notifier.url, timeout=10) as http:
        resp = await http.put("/recipients/governor-40/digest", headers=depa, json={"digest": True})
        assert resp.status_code == 200
        pid = new_proposal_id()
        contact = f"kk-{uuid.uuid4().hex[:6]}@khonkaen.example.go.th"
        submitted = sample_envelope("ProposalSubmitted", proposal_id=pid, fixed=False)
        payload = submitted.payload.model_copy(
            update={
                "applicant": "lg-khon-kaen-city",
                "content": submitted.payload.content.model_copy(
                    update={
                        "province": submitted.payload.content.province.model_copy(
                            update={"code": "40", "name_th": "ขอนแก่น", "name_en": "Khon Kaen"}
                        ),
                    }
                ),
            }
        )
        submitted = submitted.model_copy(update={"payload": payload})
        screened = event("ProposalScreened", pid)
        approved = event("SubcommitteeApproved", pid)
        acknowledged = event("SteeringCommitteeAcknowledged", pid)
        endorsed = event("CabinetEndorsed", pid)
        await publish(
            producer,
            notifier.topics,
            submitted,
            screened,
            approved,
            acknowledged,
            endorsed,
            contacts=[contact],
        )
        # Critical: the governor's copy in Cc at once, even though the governor chose a digest.
        [critical] = await received(
            mailpit, message_id(str(endorsed.event_id), applicant["email"], DOMAIN)
        )
        msg = await mailpit.raw(critical["ID"])
        assert governor["email"] in [a.addr_spec for a in msg["Cc"].addresses]
        # Non-critical: at once to the applicant (with its contact in Cc), held for the governor.
        [first] = await received(
            mailpit, message_id(str(screened.event_id), applicant["email"], DOMAIN)
        )
        msg = await mailpit.raw(first["ID"])
        des = DIRECTORY["des-subcommittee"]["email"]
        assert [a.addr_spec for a in msg["Cc"].addresses] == [des, contact]
        assert "สำเนาส่ง  ผู้ว่าราชการจังหวัดขอนแก่น" in body_parts(msg)[0]
        deliveries = mongo[notifier.db_name]["deliveries"]
        held = await poll(
            lambda: _held(deliveries, pid, governor["email"], 3), what="three held copies"
        )
        assert {h["event_type"] for h in held} == {
            "ProposalScreened",
            "SubcommitteeApproved",
            "SteeringCommitteeAcknowledged",
        }
        for e in (screened, approved, acknowledged):
            msg_id = message_id(str(e.event_id), governor["email"], DOMAIN)
            assert await mailpit.by_message_id(msg_id) == []
        run = await http.post("/digests/run", headers=depa)
        assert run.status_code == 200
        queued = [d for d in run.json()["queued"]]
        assert len(queued) == 1
        digest_msg_id = message_id(queued[0], governor["email"], DOMAIN)
        [summary] = await received(mailpit, digest_msg_id)
        msg = await mailpit.raw(summary["ID"])
        assert "ส่งสำเนาหนังสือ" in str(msg["Subject"])
        text, html = body_parts(msg)
        assert text.count("สำเนาหนังสือที่ สศด 04/") == 3
        assert "ผลการกลั่นกรองข้อเสนอ" in text
        assert "Proposal screened" in html
        assert problems(str(msg["Subject"]), text, html) == []
        again = await http.post("/digests/run", headers=depa)
        assert again.json()["queued"] == []
        await http.put("/recipients/governor-40/digest", headers=depa, json={"digest": False})
    records = await read_topic(
        notifier.topics.notifications,
        min_records=3,
        where=lambda r: envelope_of(r)["payload"].get("message_id") == digest_msg_id,
    )
    assert {envelope_of(r)["payload"]["about_event_id"] for r in records} == {
        str(screened.event_id),
        str(approved.event_id),
        str(acknowledged.event_id),
    }


async def _held(deliveries: Any, pid: str, email: str, count: int) -> list[Doc] | None:
    docs = await deliveries.find({"proposal_id": pid, "email": email, "status": "held"}).to_list(
        None
    )
    return docs if len(docs) == count else None


async def test_health_and_metrics(notifier: Notifier) -> None:
    async with httpx.AsyncClient(base_url=notifier.url, timeout=10) as http:
        health = await http.get("/healthz")
        assert health.json()["status"] == "ok"
        metrics = (await http.get("/metrics")).text
    for name in (
        "smartcity_emails_sent_total",
        "smartcity_emails_failed_total",
        "smartcity_emails_retrying",
        "smartcity_email_queue_oldest_age_seconds",
        "smartcity_emails_held_for_digest",
    ):
        assert name in metrics
    assert 'smartcity_emails_sent_total{event_type="ProposalSubmitted"}' in metrics


# -- SMTP outage, on a private SMTP server ------------------------------------------------------


class Sink:
    """aiosmtpd handler: keeps each received message; answers 451 (try later) for busy@
    addresses and 550 (never) for nobody@ addresses."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.startswith("busy@"):
            return "451 4.3.2 mailbox busy, try later"
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        msg = message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        return "250 Message accepted"

    def count(self, msg_id: str) -> int:
        return sum(1 for m in self.messages if m["Message-ID"] == msg_id)


@pytest.fixture(scope="module")
def smtp_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def private_notifier(ns: Namespace, smtp_port: int) -> Iterator[Notifier]:
    yield from start_notifier(
        ns,
        "down",
        {
            "NOTIFICATIONS_SMTP_PORT": str(smtp_port),
            "NOTIFICATIONS_SMTP_TIMEOUT_SECONDS": "3",
            "NOTIFICATIONS_SEND_MAX_ATTEMPTS": "12",
            "NOTIFICATIONS_SEND_BASE_DELAY_SECONDS": "0.2",
            "NOTIFICATIONS_SEND_MAX_DELAY_SECONDS": "1.0",
        },
    )


async def test_smtp_down_then_back_delivers_everything_once_and_gives_up_on_the_hopeless(
    private_notifier: Notifier,
    smtp_port: int,
    producer: AIOKafkaProducer,
    mongo: AsyncMongoClient[Doc],
) -> None:
    notifier = private_notifier
    pid = new_proposal_id()
    envelopes = [
        event("ProposalSubmitted", pid),
        event("ProposalScreened", pid),
        event("SubcommitteeApproved", pid),
    ]
    await publish(producer, notifier.topics, *envelopes)
    expected = {
        message_id(str(e.event_id), expected_letter(e.event_type)[0], DOMAIN): e for e in envelopes
    }
    deliveries = mongo[notifier.db_name]["deliveries"]

    async def retrying() -> list[Doc] | None:
        docs = await deliveries.find({"proposal_id": pid}).to_list(None)
        ok = len(docs) == len(expected) and all(
            d["status"] == "queued" and d["attempts"] >= 2 and d.get("last_error") for d in docs
        )
        return docs if ok else None

    docs = await poll(retrying, timeout=45, what="every email queued and retrying")
    assert {d["message_id"] for d in docs} == set(expected)
    async with httpx.AsyncClient(base_url=notifier.url, timeout=10) as http:
        metrics = await poll(
            lambda: _metric_at_least(http, "smartcity_emails_retrying", 1), what="retrying gauge"
        )
    assert metrics >= 1

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    back_at = time.monotonic()
    try:
        await poll(
            lambda: _all_there(sink, set(expected)),
            timeout=60,
            what="every email at the private SMTP server",
        )

        async def all_sent() -> bool:
            return await count_published(deliveries, {"proposal_id": pid, "status": "sent"}) == len(
                expected
            )

        await poll(all_sent, timeout=30, what="every delivery marked sent")
        recovered_in = time.monotonic() - back_at
        print(f"\nall {len(expected)} emails delivered {recovered_in:.1f}s after SMTP came back")
        assert recovered_in < 15  # the longest retry delay is 1 s here
        for msg_id in expected:
            assert sink.count(msg_id) == 1, msg_id
        assert all(m["Auto-Submitted"] == "auto-generated" for m in sink.messages)

        # Contact addresses (in Cc) the server keeps refusing with 4xx, or refuses with 5xx,
        # while it takes the letter for its addressee: each gets the letter again alone, with
        # bounded retries, then failed and dead-lettered with the SMTP reply recorded.
        hopeless_pid = new_proposal_id()
        busy = "busy@hopeless.example.go.th"
        nobody = "nobody@rejected.example.go.th"
        hopeless = sample_envelope("ProposalSubmitted", proposal_id=hopeless_pid, fixed=False)
        await publish(producer, notifier.topics, hopeless, contacts=[busy, nobody])
        failed = await poll(
            lambda: find_published(
                deliveries, {"proposal_id": hopeless_pid, "email": busy, "status": "failed"}
            ),
            timeout=60,
            what="the hopeless email failed",
        )
        assert failed["copy_of"] == f"{hopeless.event_id}:{APPLICANT}"
        # A 5xx is final at once.
        refused = await deliveries.find_one({"proposal_id": hopeless_pid, "email": nobody})
        assert refused is not None
        assert refused["status"] == "failed"
        assert refused["attempts"] == 1
        assert "550" in refused["last_error"]
        assert failed["attempts"] == 12
        assert "451" in failed["last_error"]
        assert "mailbox busy" in failed["last_error"]
        letters = await read_topic(
            notifier.topics.deadletter,
            min_records=2,
            where=lambda r: envelope_of(r).get("event_id") == str(hopeless.event_id),
        )
        errors = sorted(envelope_of(r)["error"] for r in letters)
        assert len(errors) == 2
        assert any(busy in e and "451" in e for e in errors)
        assert any(nobody in e and "550 5.1.1 no such mailbox" in e for e in errors)
        notes = await read_topic(
            notifier.topics.notifications,
            min_records=2,
            where=lambda r: (
                envelope_of(r)["event_type"] == "NotificationFailed"
                and envelope_of(r)["payload"]["about_event_id"] == str(hopeless.event_id)
            ),
        )
        attempts = {
            envelope_of(r)["payload"]["recipient_email"]: envelope_of(r)["payload"]["attempts"]
            for r in notes
        }
        assert attempts == {busy: 12, nobody: 1}
        # The addressee got the letter, once.
        letter_id = message_id(str(hopeless.event_id), APPLICANT, DOMAIN)
        await poll(lambda: _all_there(sink, {letter_id}), what="the addressee's letter")
        assert sink.count(letter_id) == 1
    finally:
        controller.stop()


async def _all_there(sink: Sink, ids: set[str]) -> bool:
    return all(sink.count(i) >= 1 for i in ids)


async def _metric_at_least(http: httpx.AsyncClient, name: str, value: float) -> float | None:
    for line in (await http.get("/metrics")).text.splitlines():
        if line.startswith(name + " "):
            found = float(line.split()[1])
            return found if found >= value else None
    return None


def test_sample_time_is_fixed_only_when_asked() -> None:
    assert sample_envelope("ProposalSubmitted").occurred_at == dt.datetime(
        2022, 8, 6, 3, 30, tzinfo=dt.UTC
    )


async def test_the_directory_cache_sees_changes_in_time(
    ns: Namespace, mongo: AsyncMongoClient[Doc]
) -> None:
    """`get` answers from a copy of the directory: a change through the same directory object
    (the admin API) is seen at once, a change by another process (the CLI) within the cache
    time, an entry added elsewhere at once (a miss is looked up)."""
    now = [0.0]
    db = mongo[ns.db("notif_cache")]
    directory = RecipientsDirectory(db, cache_seconds=5.0, monotonic=lambda: now[0])
    await directory.seed()
    depa = await directory.get("depa")
    assert depa is not None
    assert depa.email == DIRECTORY["depa"]["email"]
    elsewhere = "changed-elsewhere@depa.example.go.th"
    await db["recipients"].update_one({"_id": "depa"}, {"$set": {"email": elsewhere}})
    cached = await directory.get("depa")
    assert cached is not None
    assert cached.email == DIRECTORY["depa"]["email"]  # still the copy
    now[0] += 5.0
    fresh = await directory.get("depa")
    assert fresh is not None
    assert fresh.email == elsewhere
    await directory.update("depa", RecipientChange(digest=True), "tests")
    changed = await directory.get("depa")
    assert changed is not None
    assert changed.digest is True  # at once: the change cleared the copy
    await db["recipients"].insert_one(
        {"_id": "lg-new-town", "email": "new@town.example.go.th", "name_th": "x", "name_en": "x"}
    )
    added = await directory.get("lg-new-town")
    assert added is not None
    assert added.email == "new@town.example.go.th"
    assert await directory.get("lg-nowhere") is None


async def test_the_status_link_in_an_email_opens_the_public_page(
    notifier: Notifier, producer: AIOKafkaProducer, mailpit: Mailpit
) -> None:
    """No API key, no login: the signed link alone opens the proposal's page; an altered one
    opens nothing."""
    import re

    pid = new_proposal_id()
    submitted = event("ProposalSubmitted", pid)
    screened = event("ProposalScreened", pid)
    approved = event("SubcommitteeApproved", pid)
    await publish(producer, notifier.topics, submitted, screened, approved)
    [summary] = await received(mailpit, message_id(str(approved.event_id), APPLICANT, DOMAIN))
    text, _html = body_parts(await mailpit.raw(summary["ID"]))
    match = re.search(r"(http://\S+/status/(\S+))", text)
    assert match is not None, text
    link, token = match.group(1), match.group(2)
    async with httpx.AsyncClient(timeout=10) as http:
        page = await http.get(link)
        assert page.status_code == 200, page.text
        assert page.headers["cache-control"] == "no-store"
        assert_status_page_headers(page)
        seen = visible_text(page.text)
        assert seen.index("สถานะข้อเสนอ") < seen.index("proposal status")
        assert "ภูเก็ตเมืองอัจฉริยะ" in seen
        assert "คณะอนุกรรมการฯ เห็นชอบ" in seen  # where it stands
        assert "เสนอคณะกรรมการฯ เพื่อรับทราบ" in seen  # what happens next
        assert "6 สิงหาคม 2565" in seen  # decided at meeting 1/2565 on that date
        assert "การประชุมครั้งที่ 1/2565" in seen
        forged = await http.get(link.replace(token, token[:-3] + "abc"))
        assert forged.status_code == 404
        assert "ลิงก์นี้ไม่ถูกต้อง" in forged.text
        assert_status_page_headers(forged)


def assert_status_page_headers(page: httpx.Response) -> None:
    """Its own policy (no script; only its style sheet, by hash) and every response's headers
    (issue 24)."""
    assert page.headers["content-security-policy"] == status_page_csp()
    assert "frame-ancestors 'none'" in status_page_csp()
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"


async def test_a_letter_that_fails_proofreading_is_held_then_released_once_fixed(
    notifier: Notifier,
    producer: AIOKafkaProducer,
    mailpit: Mailpit,
    admin_keys: dict[str, str],
    mongo: AsyncMongoClient[Doc],
) -> None:
    """Bad data (a placeholder in the addressee's name) never goes out: the letter is held
    with its reason and a NotificationHeld; released before the fix it stays held (409);
    after the fix it is rendered again and sent, once."""
    depa = {"X-API-Key": admin_keys["depa"]}
    entry = DIRECTORY["lg-khon-kaen-city"]
    pid = new_proposal_id()
    submitted = sample_envelope("ProposalSubmitted", proposal_id=pid, fixed=False)
    submitted = submitted.model_copy(
        update={"payload": submitted.payload.model_copy(update={"applicant": "lg-khon-kaen-city"})}
    )
    letter_id = f"{submitted.event_id}:{entry['email']}"
    deliveries = mongo[notifier.db_name]["deliveries"]
    async with httpx.AsyncClient(base_url=notifier.url, timeout=10) as http:
        broken = await http.patch(
            "/recipients/lg-khon-kaen-city",
            headers=depa,
            json={"name_th": f"{entry['name_th']} TODO"},
        )
        assert broken.status_code == 200, broken.text
        try:
            await publish(producer, notifier.topics, submitted)
            held = await poll(
                lambda: find_published(deliveries, {"_id": letter_id, "status": "review"}),
                what="the letter held for review",
            )
            assert "a placeholder: 'TODO'" in held["last_error"]
            facts = await read_topic(
                notifier.topics.notifications,
                min_records=1,
                where=lambda r: envelope_of(r)["payload"].get("delivery_id") == letter_id,
            )
            assert envelope_of(facts[0])["event_type"] == "NotificationHeld"
            # Released before the fix: still held, with the reason.
            early = await http.post(f"/deliveries/{letter_id}/release", headers=depa)
            assert early.status_code == 409, early.text
            assert "TODO" in early.json()["errors"][0]["message"]["en"]
        finally:
            fixed = await http.patch(
                "/recipients/lg-khon-kaen-city", headers=depa, json={"name_th": entry["name_th"]}
            )
            assert fixed.status_code == 200
        released = await http.post(f"/deliveries/{letter_id}/release", headers=depa)
        assert released.status_code == 200, released.text
        again = await http.post(f"/deliveries/{letter_id}/release", headers=depa)
        assert again.status_code == 404
    msg_id = message_id(str(submitted.event_id), entry["email"], DOMAIN)
    [summary] = await received(mailpit, msg_id)
    text, _html = body_parts(await mailpit.raw(summary["ID"]))
    assert "TODO" not in text
    assert "เรียน  นายกเทศมนตรีนครขอนแก่น" in text
    sent = await poll(
        lambda: find_published(deliveries, {"_id": letter_id, "status": "sent"}),
        what="the released letter sent",
    )
    assert sent["attempts"] == 1
    assert len(await mailpit.by_message_id(msg_id)) == 1


async def test_the_register_numbers_a_letter_once_and_reads_nothing_for_a_new_one() -> None:
    """A new letter costs one insert (the unique letter id is the check that it has no number
    yet); the same letter numbered by two instances at once, or again after a redelivery,
    keeps its one number; no number is skipped or given twice."""

    def finds() -> float:
        value = REGISTRY.get_sample_value(
            "smartcity_store_round_trips_total", {"operation": "find"}
        )
        return value or 0.0

    db_name = f"t_register_{uuid.uuid4().hex[:8]}"
    mine_client, theirs_client = make_client(MONGO, "mine"), make_client(MONGO, "theirs")
    try:
        mine = LetterRegister(mine_client[db_name])
        theirs = LetterRegister(theirs_client[db_name])
        await mine.ensure_indexes()
        now = dt.datetime.now(dt.UTC)
        assert await mine.number("depa:2569", "e1:a", now=now) == 1
        before = finds()
        assert await mine.number("depa:2569", "e2:a", now=now) == 2
        assert finds() == before
        both = await asyncio.gather(
            mine.number("depa:2569", "e3:a", now=now), theirs.number("depa:2569", "e3:a", now=now)
        )
        assert list(both) == [3, 3]
        assert await theirs.number("depa:2569", "e1:a", now=now) == 1  # a redelivery
        assert await mine.number("depa:2569", "e4:a", now=now) == 4
        entries = await mine.entries_of("depa:2569")
        assert [(e["number"], e["letter_id"]) for e in entries] == [
            (1, "e1:a"),
            (2, "e2:a"),
            (3, "e3:a"),
            (4, "e4:a"),
        ]
    finally:
        await mine_client.drop_database(db_name)
        await mine_client.close()
        await theirs_client.close()


async def test_a_long_register_is_continued_after_a_few_lookups() -> None:
    """A process that has not numbered in a register yet finds its highest number by looking
    numbers up (about 2 log2(N) finds), not by reading the register."""

    def finds() -> float:
        value = REGISTRY.get_sample_value(
            "smartcity_store_round_trips_total", {"operation": "find"}
        )
        return value or 0.0

    db_name = f"t_register_{uuid.uuid4().hex[:8]}"
    client = make_client(MONGO, "long-register")
    try:
        register = LetterRegister(client[db_name])
        await register.ensure_indexes()
        now = dt.datetime.now(dt.UTC)
        await register.entries.insert_many(
            [
                {
                    "_id": entry_id("depa:2569", n),
                    "register": "depa:2569",
                    "number": n,
                    "letter_id": f"old-{n}:a",
                    "at": now,
                }
                for n in range(1, 1001)
            ]
        )
        before = finds()
        assert await LetterRegister(client[db_name]).number("depa:2569", "new:a", now=now) == 1001
        assert finds() - before <= 2 * 10 + 2  # 2 log2(1000) + 2 lookups, not the register
        assert await LetterRegister(client[db_name]).number("depa:2570", "new2:a", now=now) == 1
    finally:
        await client.drop_database(db_name)
        await client.close()
