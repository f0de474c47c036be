"""Bad input on the Kafka path, against the real broker: clients without or with wrong
credentials are refused at connect with a clear error; principals can do only what their ACLs
allow (docs/security.md)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from pydantic import SecretStr
from typer.testing import CliRunner

from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common import kafka_cli
from smartcity_th.services.common.kafka_admin import KafkaAdmin
from smartcity_th.services.common.kafka_auth import (
    KafkaAuth,
    KafkaAuthenticationError,
    admin_auth,
    authenticate,
)
from tests.support import KAFKA, LOCAL, Namespace, ServiceProcess, free_port, kafka_client, poll
from tests.support import service_env as make_service_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def agency(ns: Namespace) -> AsyncIterator[tuple[str, str]]:
    """A throw-away agency principal with its ACLs in this run's namespace."""
    admin = KafkaAdmin(admin_auth(KAFKA))
    agency_id = f"lg-test-{ns.run_id}"
    password = await asyncio.to_thread(admin.add_agency, agency_id, None, ns.topics_prefix)
    yield agency_id, password
    await asyncio.to_thread(admin.remove_agency, agency_id, ns.topics_prefix)


async def produce(options: dict[str, Any], topic: str) -> None:
    producer = AIOKafkaProducer(**options, request_timeout_ms=10_000)
    await asyncio.wait_for(producer.start(), 30)
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"{}", key=b"SC-test"), 30)
    finally:
        await producer.stop()


async def test_a_client_without_credentials_is_refused_at_connect() -> None:
    plain = KafkaAuth(bootstrap=KAFKA, security_protocol="PLAINTEXT")
    with pytest.raises(KafkaAuthenticationError, match="requires SASL authentication") as caught:
        await authenticate(plain)
    assert "has no credentials" in str(caught.value)
    with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
        await produce(plain.aiokafka(), "smartcity.intake")


async def test_a_wrong_password_is_refused_at_connect(agency: tuple[str, str]) -> None:
    agency_id, _ = agency
    wrong = KafkaAuth(bootstrap=KAFKA, username=agency_id, password=SecretStr("not-it"))
    with pytest.raises(KafkaAuthenticationError, match="invalid credentials") as caught:
        await authenticate(wrong)
    assert f"refused the credentials of {agency_id}" in str(caught.value)


async def test_an_agency_writes_intake_but_the_broker_refuses_its_facts(
    agency: tuple[str, str], topics: Topics
) -> None:
    agency_id, password = agency
    options = kafka_client(agency_id, password)
    await produce(options, topics.intake)
    for fact_topic in (topics.proposals, topics.decisions, topics.deadletter):
        with pytest.raises(TopicAuthorizationFailedError, match=fact_topic):
            await produce(options, fact_topic)


async def test_a_service_cannot_write_another_services_facts_nor_delete_topics(
    topics: Topics,
) -> None:
    proposals = kafka_client("svc-proposals")
    await produce(proposals, topics.proposals)
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(proposals, topics.decisions)
    admin = AIOKafkaAdminClient(**kafka_client("svc-approvals"))
    await admin.start()
    try:
        response = await admin.delete_topics([topics.decisions])
        codes = {code for _topic, code, *_ in response.topic_error_codes}
    finally:
        await admin.close()
    assert codes == {29}  # TOPIC_AUTHORIZATION_FAILED
    assert topics.decisions in await asyncio.to_thread(
        KafkaAdmin(admin_auth(KAFKA)).existing_topics
    )


async def test_a_removed_agency_is_refused_at_once(ns: Namespace, topics: Topics) -> None:
    admin = KafkaAdmin(admin_auth(KAFKA))
    agency_id = f"lg-gone-{uuid.uuid4().hex[:6]}"
    password = await asyncio.to_thread(admin.add_agency, agency_id, None, ns.topics_prefix)
    await produce(kafka_client(agency_id, password), topics.intake)
    await asyncio.to_thread(admin.remove_agency, agency_id, ns.topics_prefix)
    assert await asyncio.to_thread(admin.acls_of, agency_id) == []

    async def refused() -> bool:
        try:
            await authenticate(
                KafkaAuth(bootstrap=KAFKA, username=agency_id, password=SecretStr(password))
            )
        except KafkaAuthenticationError:
            return True
        return False

    assert await poll(refused, timeout=20, what="the removed agency refused")
    # Revoked by a new secret, never deleted: a deletion in a broker's metadata log could lock
    # every principal out at its next restart (KafkaAdmin.disable_user).
    assert await asyncio.to_thread(admin.has_user, agency_id)


def test_a_service_with_a_wrong_password_says_so_in_its_log_and_exits(ns: Namespace) -> None:
    logs = LOCAL / "logs" / "tests"
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path: Path = logs / f"{ns.run_id}-proposals-wrong-password.log"
    env = make_service_env("proposals", ns, port, {"PROPOSALS_KAFKA_PASSWORD": "wrong"})
    proc = ServiceProcess("proposals", env, port, log_path)
    proc.start()
    try:
        assert proc.proc is not None
        proc.proc.wait(timeout=120)
    finally:
        proc.stop()
    text = log_path.read_text(encoding="utf-8")
    assert "service.start_failed" in text
    assert "refused the credentials of svc-proposals" in text
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in text


def test_an_admin_command_with_a_refused_login_says_so_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """librdkafka reports a refused login as a timeout two minutes later; the admin commands
    log in first and say what happened, with the way to a lost-users broker."""
    monkeypatch.setenv("SMARTCITY_KAFKA_ADMIN_PASSWORD", "wrong")
    result = CliRunner().invoke(kafka_cli.app, ["acls", "--principal", "svc-console"])
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert "refused the credentials of admin" in said
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in said
    assert "Why a revoked user is not deleted" in said


def test_a_principals_live_acls_as_json() -> None:
    result = CliRunner().invoke(
        kafka_cli.app, ["acls", "--principal", "svc-console", "--output", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows
    assert set(rows[0]) == {"resource", "name", "pattern", "operation", "permission"}
    assert {r["operation"] for r in rows} >= {"READ"}


def intake_timestamp_type(admin: KafkaAdmin, topic: str) -> str:
    return admin.topic_configs(topic)["message.timestamp.type"]


async def settled_timestamp_type(admin: KafkaAdmin, topic: str, expected: str) -> str:
    """`expected` once the topic's timestamp type reached the broker answering (the controller
    commits a config change before every broker applies it); fails at a generous deadline."""

    async def seen() -> str | None:
        value = await asyncio.to_thread(intake_timestamp_type, admin, topic)
        return value if value == expected else None

    return await poll(seen, timeout=15, what=f"{topic}'s message.timestamp.type {expected}")


async def test_the_intake_and_the_fact_topics_are_stamped_with_the_brokers_time_even_if_made_before(
    ns: Namespace, topics: Topics
) -> None:
    """A claim's age, a fact's signing key and the facts' signing cut-over are judged by when the
    broker took the record (docs/events.md, "Signed claims", "Signed facts"): provisioning sets
    LogAppendTime on the intake and the fact topics, and again on one set otherwise."""
    admin = KafkaAdmin(admin_auth(KAFKA))
    stamped = (topics.intake, topics.proposals, topics.decisions, topics.notifications)
    for topic in (*stamped, topics.contacts):
        assert intake_timestamp_type(admin, topic) == "LogAppendTime", topic
    assert intake_timestamp_type(admin, topics.deadletter) == "CreateTime"
    admin.set_topic_configs(
        {t: {"message.timestamp.type": "CreateTime"} for t in (topics.intake, topics.decisions)}
    )
    await settled_timestamp_type(admin, topics.intake, "CreateTime")
    await settled_timestamp_type(admin, topics.decisions, "CreateTime")
    await asyncio.to_thread(admin.provision, topics.namespace, 6)
    for topic in (topics.intake, topics.decisions):
        await settled_timestamp_type(admin, topic, "LogAppendTime")
