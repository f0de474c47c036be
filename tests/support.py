"""Test support: the local stack, service processes, polling, Kafka and Mailpit readers.

Every test run uses its own topic namespace and database names on the shared stack, so runs
(and a developer's `make up`) never see each other's data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from faststream.security import BaseSecurity

from smartcity_th.contracts.access import ADMIN_PRINCIPAL, fact_topic_owners, service_principal
from smartcity_th.contracts.agencies import agencies
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.proposals import ProposalContactsRecorded
from smartcity_th.contracts.signing import sign
from smartcity_th.contracts.topics import (
    CONTACTS,
    DEFAULT_PARTITIONS,
    HEADER_EMITTED_BY,
    HEADER_EVENT_TYPE,
    INTAKE,
    PROPOSALS,
    Topics,
)
from smartcity_th.kit import ClaimSigner, SignedRecord
from smartcity_th.services.common.kafka_auth import KafkaAuth, default_bootstrap, local_password
from smartcity_th.services.common.mongo import OPERATOR_PRINCIPAL, local_store_url

ROOT = Path(__file__).resolve().parents[1]
LOCAL = Path(os.environ.get("SMARTCITY_LOCAL_DIR", ROOT / ".local"))
KAFKA = default_bootstrap()  # one node, or the three of SMARTCITY_KAFKA_NODES=3
MONGO = local_store_url(OPERATOR_PRINCIPAL)
"""The store as the operators' role (a member of every service's role): tests read and clean up
every service's database. A service the tests start logs in as its own role (service_env)."""
SMTP_PORT = int(os.environ.get("SMARTCITY_SMTP_PORT", "1025"))
MAILPIT = f"http://127.0.0.1:{os.environ.get('SMARTCITY_MAILPIT_HTTP_PORT', '8025')}"
JAEGER = f"http://127.0.0.1:{os.environ.get('SMARTCITY_JAEGER_UI_PORT', '16686')}"
OTLP = f"http://127.0.0.1:{os.environ.get('SMARTCITY_JAEGER_OTLP_HTTP_PORT', '4318')}"

T = TypeVar("T")


def kafka_auth(principal: str = ADMIN_PRINCIPAL, password: str | None = None) -> KafkaAuth:
    """How a test process connects: as the stack's admin unless told otherwise (tests play the
    services and the agencies; the admin, a super user, may write every topic)."""
    return KafkaAuth.for_principal(KAFKA, principal, password=password)


def kafka_client(principal: str = ADMIN_PRINCIPAL, password: str | None = None) -> dict[str, Any]:
    """aiokafka keyword arguments (bootstrap servers and credentials)."""
    return kafka_auth(principal, password).aiokafka()


def record_headers(envelope: AnyEnvelope, topic: str) -> list[tuple[str, bytes]]:
    """Kafka headers for a test that plays a service: on a fact topic, the owning service's
    `emitted-by` stamp and its signature with the tests' key of that service (as its outbox
    seals a commit); on the intake topic, an agency's signature."""
    headers = envelope.headers()
    if not topic.endswith(INTAKE):
        owner = service_principal(EVENTS[envelope.event_type].owner)
        headers[HEADER_EMITTED_BY] = owner
        headers |= sign(
            signer_for(owner).private_key,
            signer_for(owner).key_id,
            envelope.to_bytes(),
            envelope.key,
            envelope.event_type,
            topic=topic,
            signed_at=dt.datetime.now(dt.UTC),
        )
    elif not envelope.producer.startswith("svc-"):
        headers = signed(envelope, topic).headers  # an agency's claim: signed with its test key
    return [(k, v.encode()) for k, v in headers.items()]


def kafka_security(principal: str = ADMIN_PRINCIPAL) -> BaseSecurity | None:
    """FastStream's security object for a KafkaBroker in a test."""
    return kafka_auth(principal).faststream()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_stack() -> None:
    """Start Kafka, FerretDB and Mailpit unless they already answer (idempotent script)."""
    subprocess.run(["bash", str(ROOT / "infra" / "stack.sh"), "up"], check=True, cwd=ROOT)


async def poll(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = 30.0,
    interval: float = 0.2,
    what: str = "condition",
) -> T:
    """Call `probe` until it returns something other than None/False, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last not in (None, False):
            result: T = last
            return result
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


async def poll_progress(
    probe: Callable[[], Awaitable[T | None]],
    progress: Callable[[], Awaitable[Any]],
    *,
    stall: float = 60.0,
    interval: float = 0.5,
    what: str = "condition",
) -> T:
    """Like `poll`, but with no fixed budget: wait for as long as `progress()` keeps changing
    (records consumed, entries appended), and fail once it has not changed for `stall` seconds.
    A busy machine makes the work slower, not the test wrong."""
    last_change = time.monotonic()
    seen: Any = await progress()
    last: Any = None
    while True:
        last = await probe()
        if last not in (None, False):
            result: T = last
            return result
        now = await progress()
        if now != seen:
            seen, last_change = now, time.monotonic()
        elif time.monotonic() - last_change > stall:
            raise AssertionError(
                f"no progress for {stall}s waiting for {what} (progress {seen!r}, last {last!r})"
            )
        await asyncio.sleep(interval)


@dataclass
class Namespace:
    """One test run's private corner of the shared stack."""

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def topics_prefix(self) -> str:
        return f"test-{self.run_id}."

    def db(self, service: str) -> str:
        return f"t{self.run_id}_{service}"


async def remove_namespace(ns: Namespace, mongo: Any) -> None:
    """Delete a run's topics and ACLs (its whole namespace) and its databases from the shared
    stack; `mongo` is an AsyncMongoClient."""
    from smartcity_th.services.common.kafka import delete_topics

    await delete_topics(KAFKA, list(Topics(ns.topics_prefix).all()))
    for name in await mongo.list_database_names():
        if name.startswith(f"t{ns.run_id}_"):
            await mongo.drop_database(name)


def cpu_ticks(pid: int) -> int:
    """CPU time (user + system, in clock ticks) a process has used so far; 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


@dataclass
class ServiceProcess:
    """A service running as a real subprocess (`python -m smartcity_th.services.<name>`)."""

    name: str
    env: dict[str, str]
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    api_key: str = ""  # an operator key for the console (issued by the fixture that starts it)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} already running"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"smartcity_th.services.{self.name}"],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Wait until /healthz answers. The deadline follows progress: it moves on while the
        service's log grows or the process uses CPU (a loaded machine starts slowly but
        visibly: importing the libraries alone took over a minute at load average 17), and
        `timeout` is the longest stretch with neither; ten times it is the overall cap."""
        start = time.monotonic()
        stalled_at = start + timeout
        seen: tuple[int, int] = (-1, -1)
        while (now := time.monotonic()) < min(stalled_at, start + 10 * timeout):
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}; see "
                    f"{self.log_path}:\n{self.log_path.read_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            progress = (
                self.log_path.stat().st_size if self.log_path.exists() else 0,
                cpu_ticks(self.proc.pid) if self.proc is not None else 0,
            )
            if progress != seen:
                seen, stalled_at = progress, now + timeout
            time.sleep(0.2)
        raise RuntimeError(
            f"{self.name} not healthy after {time.monotonic() - start:.0f}s; see {self.log_path}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    @contextmanager
    def running(self, stop_signal: int = signal.SIGTERM) -> Iterator[ServiceProcess]:
        """Started and healthy for the block, stopped (with `stop_signal`) after it."""
        self.start()
        try:
            self.wait_healthy()
            yield self
        finally:
            self.stop(stop_signal)

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()
        self.wait_healthy()


def service_env(
    name: str, ns: Namespace, port: int, extra: dict[str, str] | None = None
) -> dict[str, str]:
    prefix = name.upper() + "_"
    env = {
        f"{prefix}KAFKA_BOOTSTRAP": KAFKA,
        f"{prefix}KAFKA_USERNAME": service_principal(name),
        f"{prefix}KAFKA_PASSWORD": local_password(service_principal(name)),
        f"{prefix}MONGO_URL": local_store_url(service_principal(name)),
        f"{prefix}MONGO_DB": ns.db(name),
        f"{prefix}TOPIC_NAMESPACE": ns.topics_prefix,
        f"{prefix}HTTP_PORT": str(port),
        f"{prefix}OUTBOX_GRACE_SECONDS": "1",
        f"{prefix}OUTBOX_SWEEP_SECONDS": "0.5",
        # A consumer group spans topics: runs must not share one, or they rebalance each other.
        f"{prefix}CONSUMER_GROUP": f"{ns.topics_prefix}{name}",
        f"{prefix}OTLP_ENDPOINT": OTLP,
    }
    if name == "notifications":
        env["NOTIFICATIONS_SMTP_PORT"] = str(SMTP_PORT)
    if name == "console":
        env["CONSOLE_JAEGER_URL"] = JAEGER
    # The tests' key of svc-<name>, which `seed_registry` registers: it signs the service's
    # facts (and seals approvals' awards).
    keys = LOCAL / "tests" / "service-signing-keys"
    keys.mkdir(parents=True, exist_ok=True)
    principal = service_principal(name)
    env[f"{prefix}SIGNING_KEY_FILE"] = str(write_private_key(principal, keys / f"{principal}.pem"))
    return {**env, **(extra or {})}


def service_process(
    name: str, ns: Namespace, label: str = "", extra_env: dict[str, str] | None = None
) -> ServiceProcess:
    """A service on `ns` (not started yet), on a free port, logging to .local/logs/tests
    (`label` tells its log apart from other processes of the same service)."""
    logs = LOCAL / "logs" / "tests"
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = logs / f"{ns.run_id}-{label or name}.log"
    return ServiceProcess(name, service_env(name, ns, port, extra_env), port, log)


@asynccontextmanager
async def private_namespace(
    mongo: Any, api_key_agencies: tuple[str, ...] = ()
) -> AsyncIterator[tuple[Namespace, Topics, dict[str, str]]]:
    """A namespace of its own with a seeded registry, for a test that kills or doubles services
    and must disturb no one; removed afterwards. Yields it, its topics and the API keys issued
    for `api_key_agencies`."""
    from smartcity_th.services.common.kafka import ensure_topics

    ns = Namespace()
    topics = Topics(ns.topics_prefix)
    await ensure_topics(KAFKA, topics, DEFAULT_PARTITIONS)
    api_keys = await seed_registry(topics, api_key_agencies or TEST_API_KEY_AGENCIES)
    try:
        yield ns, topics, api_keys
    finally:
        await remove_namespace(ns, mongo)


@asynccontextmanager
async def kafka_producer(**options: Any) -> AsyncIterator[AIOKafkaProducer]:
    """A plain producer on the test stack, as an agency system (or an attacker) would use."""
    producer = AIOKafkaProducer(**kafka_client(), **options)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


CONTENT_FACTS = frozenset(
    name for name, spec in EVENTS.items() if "content" in spec.payload.model_fields
)
TEST_CONTACTS = ["city@example.go.th"]
"""The applicant's contact address of a submission fact a test publishes itself."""


def contacts_fact(fact: AnyEnvelope, emails: list[str] | None = None) -> AnyEnvelope:
    """The applicant's contacts of a submission fact's version, as the proposals service
    publishes them just before the fact (schema version 2: on smartcity.contacts): `emails`,
    else the fact's own contact addresses, else `TEST_CONTACTS`."""
    payload = fact.payload
    return new_envelope(
        ProposalContactsRecorded(
            applicant=payload.applicant,
            revision=getattr(payload, "revision", 1),
            contact_emails=emails or payload.contact_emails or TEST_CONTACTS,
        ),
        producer="svc-proposals",
        proposal_id=fact.proposal_id,
        cause=fact,
    )


async def produce(topic: str, envelopes: Iterable[AnyEnvelope]) -> None:
    """Envelopes on a topic as their producers send them: a fact stamped by its service, an
    agency's claim signed with its test key (`record_headers`); a submission fact after its
    applicant's contacts on the contacts topic, as the proposals service publishes it."""
    async with kafka_producer(enable_idempotence=True) as producer:
        for e in envelopes:
            if topic.endswith(PROPOSALS) and e.event_type in CONTENT_FACTS:
                where = topic.removesuffix(PROPOSALS) + CONTACTS
                contacts = contacts_fact(e)
                await producer.send_and_wait(
                    where, contacts.to_bytes(), key=e.key, headers=record_headers(contacts, where)
                )
            await producer.send_and_wait(
                topic, e.to_bytes(), key=e.key, headers=record_headers(e, topic)
            )


async def send_signed_value(
    topic: str,
    value: bytes,
    key: bytes,
    event_type: str,
    agency: str,
    headers: dict[str, str] | None = None,
) -> None:
    """Bytes that are not a valid envelope, signed with `agency`'s test key like any of its
    claims (so what is refused is the content, not the signature)."""
    signer = signer_for(agency)
    signature = sign(
        signer.private_key,
        signer.key_id,
        value,
        key,
        event_type,
        topic=topic,
        signed_at=dt.datetime.now(dt.UTC),
    )
    sent = {HEADER_EVENT_TYPE: event_type, **(headers or {}), **signature}
    async with kafka_producer() as producer:
        await producer.send_and_wait(
            topic, value, key=key, headers=[(k, v.encode()) for k, v in sent.items()]
        )


async def topic_partitions(topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(**kafka_client())
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert described["error_code"] == 0, f"topic {topic}: error {described['error_code']}"
    return sorted(p["partition"] for p in described["partitions"])


async def read_topic(
    topic: str,
    *,
    min_records: int = 0,
    timeout: float = 20.0,
    where: Callable[[Any], bool] = lambda r: True,
) -> list[Any]:
    """Every record of a topic from the beginning (polling until at least `min_records` match
    `where`, or the deadline)."""
    consumer = AIOKafkaConsumer(
        **kafka_client(),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        partitions = await topic_partitions(topic)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: list[Any] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                found.extend(r for r in records if where(r))
            ends = await consumer.end_offsets(tps)
            caught_up = all([await consumer.position(tp) >= ends[tp] for tp in tps])
            if caught_up and len(found) >= min_records:
                break
        return found
    finally:
        await consumer.stop()


async def dead_letters(
    topics: Topics,
    event_id: object,
    consumer: str | None = None,
    *,
    min_records: int = 1,
    timeout: float = 30.0,
) -> list[dict[str, Any]]:
    """The dead letters of one event (by its id), of every consumer or of `consumer`'s."""

    def match(record: Any) -> bool:
        letter = envelope_of(record)
        return letter.get("event_id") == str(event_id) and consumer in (None, letter["consumer"])

    found = await read_topic(
        topics.deadletter, min_records=min_records, timeout=timeout, where=match
    )
    return [envelope_of(r) for r in found]


async def facts(
    topic: str,
    proposal_ids: set[str],
    *,
    event_type: str | None = None,
    min_records: int = 0,
    wait: float = 20.0,
) -> list[dict[str, Any]]:
    """The envelopes on `topic` about these proposals (of `event_type`, or all): at least
    `min_records` of them, or what there is at the deadline."""
    keys = {p.encode() for p in proposal_ids}

    def wanted(r: Any) -> bool:
        if r.key not in keys:
            return False
        return (
            event_type is None or dict(r.headers).get("smartcity-event-type") == event_type.encode()
        )

    records = await read_topic(topic, min_records=min_records, timeout=wait, where=wanted)
    return [envelope_of(r) for r in records]


TEST_API_KEY_AGENCIES = (
    "lg-phuket-city",
    "lg-khon-kaen-city",
    "pd-samyan",
    "depa",
    "des-subcommittee",
    "steering-committee",
    "cabinet-secretariat",
)


def signer_for(agency_id: str) -> ClaimSigner:
    """The tests' signing key of an agency: derived from its id, so every test helper can sign
    for it; `seed_registry` registers each directory agency's public half."""
    seed = hashlib.sha256(f"smartcity-tests:{agency_id}".encode()).digest()
    return ClaimSigner(agency_id, Ed25519PrivateKey.from_private_bytes(seed))


def write_private_key(agency_id: str, path: Path) -> Path:
    """The tests' signing key of an agency as the PKCS#8 PEM file an agency keeps."""
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    key = signer_for(agency_id).private_key
    path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return path


def kit_environment() -> dict[str, str]:
    """The SMARTCITY_KIT_* variables both integrator kits read (Python and Java), for the stack's
    admin (tests play every agency), and a PATH: all an agency's program gets."""
    auth = kafka_auth()
    env = {
        "PATH": "/usr/bin:/bin",
        "SMARTCITY_KIT_BOOTSTRAP": KAFKA,
        "SMARTCITY_KIT_SECURITY_PROTOCOL": auth.security_protocol,
    }
    if auth.sasl:
        env |= {
            "SMARTCITY_KIT_SASL_MECHANISM": auth.sasl_mechanism,
            "SMARTCITY_KIT_USERNAME": auth.username,
            "SMARTCITY_KIT_PASSWORD": auth.password.get_secret_value(),
        }
    return env


def signed(
    envelope: AnyEnvelope, topic: str = INTAKE, signed_at: dt.datetime | None = None
) -> SignedRecord:
    """A claim signed with the tests' key of its producer, for `topic` (the run's namespaced
    intake topic; the kit's `IntakeProducer` signs again for its own), now or at `signed_at`."""
    return signer_for(envelope.producer).sign(envelope, topic=topic, signed_at=signed_at)


async def seed_registry(
    topics: Topics, api_key_agencies: tuple[str, ...] = TEST_API_KEY_AGENCIES
) -> dict[str, str]:
    """What the admin does for a fresh stack, in a test namespace: the CSV seed, a signing key
    for every agency of the directory (the tests' keys), and an API key for each agency of
    `api_key_agencies`. Returns the API keys by agency id."""
    from smartcity_th.services.common.kafka import ensure_topics
    from smartcity_th.services.common.registry_admin import RegistryAdmin

    await ensure_topics(KAFKA, topics, 6)
    async with RegistryAdmin(KAFKA, topics) as admin:
        await admin.seed()
        for agency_id in agencies():
            if not any(k.agency_id == agency_id for k in admin.state.signing_keys.values()):
                await admin.register_signing_key(agency_id, signer_for(agency_id).private_key)
        return {a: await admin.issue_api_key(a, "tests") for a in api_key_agencies}


async def register_service_keys(topics: Topics) -> None:
    """What `make up` does for the services (`smartcity-admin seed`, then `signing-key ensure
    svc-<owner>`), in a test namespace: the tests' key of each fact-owning service registered,
    so that the facts it signs (service_env hands it that key) verify."""
    from smartcity_th.services.common.registry_admin import RegistryAdmin

    async with RegistryAdmin(KAFKA, topics) as admin:
        await admin.seed()  # as `make up` does first: the services are agencies of the CSV
        for owner in sorted(set(fact_topic_owners().values())):
            principal = service_principal(owner)
            if not any(k.agency_id == principal for k in admin.state.signing_keys.values()):
                await admin.register_signing_key(principal, signer_for(principal).private_key)


async def issue_api_key(topics: Topics, agency_id: str, label: str = "tests") -> str:
    """A new API key, issued as `smartcity-admin api-key issue` does."""
    from smartcity_th.services.common.registry_admin import RegistryAdmin

    async with RegistryAdmin(KAFKA, topics) as admin:
        return await admin.issue_api_key(agency_id, label)


async def wait_key_accepted(url: str, key: str, path: str = "/proposals") -> None:
    """Poll until the service at `url` has seen the key in its registry projection."""

    async def accepted() -> bool:
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.get(url + path, headers={"X-API-Key": key})
            return r.status_code != 401

    await poll(accepted, timeout=30, what=f"{url} to accept a new API key")


def envelope_of(record: Any) -> dict[str, Any]:
    """A record's JSON value; {} for one no test looks for (the hostile records that
    test_console_hostile_records stores on the shared topics: nesting past the recursion limit,
    invalid UTF-8, not JSON)."""
    try:
        data = json.loads(record.value)
    except (RecursionError, ValueError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


class Mailpit:
    """Reads what the loopback SMTP sink received."""

    def __init__(self, base: str = MAILPIT) -> None:
        self._http = httpx.AsyncClient(base_url=base, timeout=10)

    async def search(self, query: str) -> list[dict[str, Any]]:
        resp = await self._http.get("/api/v1/search", params={"query": query, "limit": 500})
        resp.raise_for_status()
        return list(resp.json()["messages"])

    async def by_message_id(self, message_id: str) -> list[dict[str, Any]]:
        return await self.search(f"message-id:{message_id.strip('<>')}")

    async def by_header(self, name: str, value: str) -> list[dict[str, Any]]:
        # Mailpit has no header search; our headers are also in the raw message.
        return [
            m
            for m in await self.search(f'"{value}"')
            if (await self.raw_header(m["ID"], name)) == value
        ]

    async def raw(self, mailpit_id: str) -> EmailMessage:
        resp = await self._http.get(f"/api/v1/message/{urllib.parse.quote(mailpit_id)}/raw")
        resp.raise_for_status()
        msg = message_from_bytes(resp.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg

    async def raw_header(self, mailpit_id: str, name: str) -> str | None:
        value = (await self.raw(mailpit_id)).get(name)
        return None if value is None else str(value)

    async def close(self) -> None:
        await self._http.aclose()


async def unpublished(collection: Any, ids: list[Any] | None = None) -> int:
    """How many commits of the aggregates projected into `collection` (all, or those with
    these ids) are not yet published (services/common/store.py)."""
    commits = collection.database[f"{collection.name}_commits"]
    query: dict[str, Any] = {"published": False}
    if ids is not None:
        query["aggregate_id"] = {"$in": ids}
    return int(await commits.count_documents(query))


async def find_published(collection: Any, query: dict[str, Any]) -> dict[str, Any] | None:
    """The projection document matching `query`, once every commit of it is published."""
    doc: dict[str, Any] | None = await collection.find_one(query)
    if doc is None or await unpublished(collection, [doc["_id"]]):
        return None
    return doc


async def count_published(collection: Any, query: dict[str, Any]) -> int:
    """How many projection documents match `query` with every commit of theirs published."""
    ids = [d["_id"] for d in await collection.find(query, {"_id": 1}).to_list(None)]
    if not ids:
        return 0
    commits = collection.database[f"{collection.name}_commits"]
    pending = await commits.distinct(
        "aggregate_id", {"published": False, "aggregate_id": {"$in": ids}}
    )
    return len(set(ids) - set(pending))


def admin_cli(ns: Namespace, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`smartcity-admin ARGS`, run as an operator runs it, against the run's topics."""
    env = {
        **os.environ,
        "SMARTCITY_ADMIN_KAFKA_BOOTSTRAP": KAFKA,
        "SMARTCITY_ADMIN_TOPIC_NAMESPACE": ns.topics_prefix,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "smartcity_th.services.admin.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
