"""`make chaos`: drive N proposals through the whole lifecycle while things break, then check
from the stores and the SMTP server that nothing was lost or doubled.

Faults, while the proposals move: each service is SIGKILLed (and a few SIGTERMed) and restarted
several times; the Kafka broker is restarted once, just after an operator revoked an agency's
Kafka access (the revocation that once locked every principal out at the restart:
`KafkaAdmin.disable_user`); FerretDB is restarted once; the SMTP server is
stopped for a while; a slice of already-published events is published again (duplicates); poison
messages are produced to every consumed topic.

It fails fast, naming what is stuck, when a service's /healthz has not answered 200 for
`--stuck-after` seconds (with the store's own answer to a ping beside it) or a fault step fails,
instead of waiting out the driver's deadlines. It reports how often the store watchdog
(infra/storewatch.py) restarted FerretDB during the run: a watchdog must not hide a bug.

At the end it checks: every proposal reached `certified`; every expected transition happened
exactly once (case histories); every expected email arrived exactly once (by Message-ID, at the
SMTP server); every poison message is in the dead-letter topic with its reason, once per consumer
group that reads its topic. It prints one summary line and writes .local/chaos/latest.json.

It restarts the shared local servers: do not run it while other test runs use them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from smartcity_th.contracts.agencies import agencies
from smartcity_th.contracts.common import AgencyKind
from smartcity_th.contracts.topics import DEFAULT_PARTITIONS, Topics
from smartcity_th.contracts.workflow import event_name
from smartcity_th.services.common.kafka import ensure_topics
from smartcity_th.services.common.kafka_admin import KafkaAdmin
from smartcity_th.services.common.kafka_auth import admin_auth
from tests.chaos import cluster
from tests.support import (
    KAFKA,
    LOCAL,
    MAILPIT,
    MONGO,
    ROOT,
    Namespace,
    ServiceProcess,
    ensure_stack,
    free_port,
    issue_api_key,
    kafka_client,
    read_topic,
    remove_namespace,
    seed_registry,
    service_env,
    unpublished,
)

SERVICES = ("proposals", "approvals", "notifications")
CHAOS_AGENCIES = tuple(agencies())
CONSUMERS = {  # topic -> the consumers (as named in dead-letter records) that read it
    "proposals": ("approvals", "notifications"),
    "decisions": ("proposals", "notifications"),
    "intake": ("proposals", "approvals"),
}
BATCH = 15  # proposals per committee meeting, as at meeting 1/2565


@dataclass
class Figures:
    proposals: int = 0
    kills: int = 0
    terms: int = 0
    broker_restarts: int = 0
    revocations: int = 0
    revoked_login_accepted: int = 0
    store_restarts: int = 0
    smtp_outages: int = 0
    duplicates_injected: int = 0
    poison_injected: int = 0
    http_retries: int = 0
    notes: list[str] = field(default_factory=list)


RESTARTS_LOG = LOCAL / "run" / "ferretdb-restarts.log"


def watchdog_restarts() -> list[str]:
    """The store watchdog's restarts of FerretDB so far (infra/storewatch.py), one line each."""
    try:
        return RESTARTS_LOG.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []


class Stuck(RuntimeError):
    """Something stopped making progress; the message says what."""


async def store_answer() -> str:
    probe: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        MONGO, serverSelectionTimeoutMS=5000, socketTimeoutMS=5000
    )
    try:
        await probe.admin.command("ping")
        return "the store answers a ping"
    except Exception as exc:
        return f"the store does not answer a ping ({type(exc).__name__})"
    finally:
        await probe.close()


async def watch_health(stack: Stack, stuck_after: float) -> None:
    """Raise `Stuck` once a service's /healthz has failed for `stuck_after` seconds in a row
    (a fault step restarts a service within seconds; an outage heals within a minute)."""
    failing_since: dict[str, float] = {}
    last: dict[str, str] = {}
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            now = time.monotonic()
            for name, proc in stack.procs.items():
                try:
                    resp = await http.get(f"{proc.url}/healthz")
                    ok, why = resp.status_code == 200, f"{resp.status_code} {resp.text[:300]}"
                except httpx.HTTPError as exc:
                    ok, why = False, f"no answer ({type(exc).__name__})"
                if ok:
                    failing_since.pop(name, None)
                    continue
                failing_since.setdefault(name, now)
                last[name] = why
                if now - failing_since[name] > stuck_after:
                    raise Stuck(
                        f"stuck: {name}'s /healthz has failed for {now - failing_since[name]:.0f} s"
                        f" (last: {last[name]}); {await store_answer()}; store watchdog restarts "
                        f"so far: {len(watchdog_restarts())}; see {proc.log_path}"
                    )
            await asyncio.sleep(5)


async def first_failure(*tasks: asyncio.Task[Any]) -> None:
    """Wait for the first task; if any fails, cancel the rest and raise its error at once."""
    pending: set[asyncio.Task[Any]] = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if (exc := task.exception()) is not None:
                for other in pending:
                    other.cancel()
                raise exc
        return


def java_hash_first(prefix: str) -> str:
    """A name that comes first when Java's HashMap (up to 256 buckets) iterates its keys:
    String.hashCode, spread as HashMap.hash does, lands in bucket 0. The Kafka metadata replay
    that lost every SCRAM user walked such a map (`KafkaAdmin.disable_user`)."""
    for i in range(1_000_000):
        name = f"{prefix}{i:04d}"
        h = 0
        for ch in name:
            h = (31 * h + ord(ch)) & 0xFFFFFFFF
        if (h ^ (h >> 16)) & 0xFF == 0:
            return name
    raise AssertionError(f"no name with prefix {prefix!r} lands in bucket 0")


def revoke_then_restart_broker(ns: Namespace, figures: Figures) -> None:
    """An operator revokes an agency's Kafka access, then the broker restarts: the revoked
    password must stay refused and every other principal must still log in."""
    admin = KafkaAdmin(admin_auth(KAFKA))
    agency_id = java_hash_first("lg-revoked-")
    password = admin.add_agency(agency_id, None, ns.topics_prefix)
    admin.remove_agency(agency_id, ns.topics_prefix)
    figures.revocations += 1
    infra("restart", "kafka")
    figures.broker_restarts += 1
    if admin.can_login(agency_id, password):
        figures.revoked_login_accepted += 1


def infra(*args: str) -> None:
    subprocess.run(
        ["bash", str(ROOT / "infra" / "stack.sh"), *args],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )


class Stack:
    def __init__(self, ns: Namespace, figures: Figures) -> None:
        self.ns = ns
        self.topics = Topics(ns.topics_prefix)
        self.figures = figures
        logs = LOCAL / "logs" / "chaos"
        logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, ServiceProcess] = {}
        for name in SERVICES:
            port = free_port()
            extra = {f"{name.upper()}_LOG_LEVEL": "WARNING"}
            if name == "notifications":  # keep retrying through the SMTP outage
                extra.update(
                    {
                        "NOTIFICATIONS_SEND_BASE_DELAY_SECONDS": "0.5",
                        "NOTIFICATIONS_SEND_MAX_DELAY_SECONDS": "5",
                        "NOTIFICATIONS_SEND_MAX_ATTEMPTS": "60",
                    }
                )
            env = service_env(name, ns, port, extra)
            self.procs[name] = ServiceProcess(name, env, port, logs / f"{ns.run_id}-{name}.log")

    def start(self) -> None:
        for p in self.procs.values():
            p.start()
        for p in self.procs.values():
            p.wait_healthy(120)

    def stop(self) -> None:
        for p in self.procs.values():
            p.stop()


class Agencies:
    """API keys per agency, issued in the registry before the services start (seed_registry)
    and then as `smartcity-admin api-key issue` does."""

    def __init__(self, topics: Topics, issued: dict[str, str]) -> None:
        self.topics = topics
        self.keys = dict(issued)

    async def key(self, service: str, agency_id: str) -> str:
        del service  # one key per agency works at every service
        if agency_id not in self.keys:
            self.keys[agency_id] = await issue_api_key(self.topics, agency_id, "chaos")
        return self.keys[agency_id]


class Driver:
    """Moves the proposals through the workflow over HTTP, as the agencies would, retrying
    (with the same idempotency keys) while a service is down."""

    def __init__(self, stack: Stack, keys: Agencies, figures: Figures) -> None:
        self.stack = stack
        self.keys = keys
        self.figures = figures
        self.http = httpx.AsyncClient(timeout=30)

    async def call(
        self, service: str, agency: str, method: str, path: str, ok: tuple[int, ...], **kwargs: Any
    ) -> httpx.Response:
        deadline = time.monotonic() + 300
        while True:
            headers = {
                "X-API-Key": await self.keys.key(service, agency),
                **kwargs.pop("headers", {}),
            }
            try:
                resp = await self.http.request(
                    method, self.stack.procs[service].url + path, headers=headers, **kwargs
                )
                if resp.status_code in ok:
                    return resp
                if resp.status_code < 500 and resp.status_code not in (404, 409):
                    raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method} {path}: gave up after 300 s")
            self.figures.http_retries += 1
            kwargs["headers"] = {k: v for k, v in headers.items() if k != "X-API-Key"}
            await asyncio.sleep(0.5)

    async def submit(self, i: int, applicant: Any) -> str:
        draft = {
            "province": applicant.province_code,
            "area_name": {"th": f"พื้นที่ทดสอบความทนทาน {i}", "en": f"Chaos test area {i}"},
            "dimensions": ["governance", "mobility"],
            "plan": {
                k: f"{k} of area {i}"
                for k in (
                    "area_boundary_and_goals",
                    "infrastructure_plan",
                    "city_data_platform",
                    "smart_solutions",
                    "management_model",
                )
            },
            "has_city_data_platform": True,
            "budget_baht": "1000000",
            "expected_value_baht": "3000000",
            "contact_emails": [f"area{i}@chaos.example.go.th"],
        }
        resp = await self.call(
            "proposals",
            applicant.agency_id,
            "POST",
            "/proposals",
            (200, 201),
            json=draft,
            headers={"Idempotency-Key": f"chaos-{i}"},
        )
        return str(resp.json()["proposal_id"])

    async def decide(self, agency: str, pid: str, body: dict[str, Any], key: str) -> None:
        await self.call(
            "approvals",
            agency,
            "POST",
            f"/cases/{pid}/decisions",
            (200, 201),
            json=body,
            headers={"Idempotency-Key": key},
        )

    async def meeting(
        self, agency: str, body: str, meeting_id: str, decision: str, pids: list[str], **extra: Any
    ) -> None:
        payload = {
            "body": body,
            "meeting": {
                "meeting_id": meeting_id,
                "held_on": "2022-08-06",
                "chair": {"th": "ประธานที่ประชุม", "en": "Meeting chair"},
            },
            "decisions": [
                {
                    "proposal_id": p,
                    "decision": decision,
                    # In words (a letter quoting an event's code is held by proofreading).
                    "resolution": {
                        "th": f"ที่ประชุมมีมติ: {event_name(decision).th}",
                        "en": f"The meeting resolved: {event_name(decision).en}",
                    },
                }
                for p in pids
            ],
            **extra,
        }
        await self.call("approvals", agency, "POST", "/meetings", (200,), json=payload)

    async def close(self) -> None:
        await self.http.aclose()


async def wait_stage(
    mongo: AsyncMongoClient[dict[str, Any]],
    ns: Namespace,
    pids: list[str],
    stage: str,
    timeout: float = 600,
) -> None:
    cases = mongo[ns.db("approvals")]["cases"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            n = await cases.count_documents({"_id": {"$in": pids}, "stage": stage})
            if n == len(pids):
                return
        except Exception:
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError(f"not every proposal reached {stage} within {timeout:.0f}s")


async def lifecycle(
    driver: Driver, mongo: AsyncMongoClient[dict[str, Any]], ns: Namespace, n: int
) -> list[str]:
    applicants = [
        a for a in agencies().values() if a.kind is AgencyKind.LOCAL_GOVERNMENT and a.province_code
    ]
    sem = asyncio.Semaphore(8)

    async def bounded(coro: Any) -> Any:
        async with sem:
            return await coro

    pids: list[str] = list(
        await asyncio.gather(
            *(bounded(driver.submit(i, applicants[i % len(applicants)])) for i in range(n))
        )
    )
    await wait_stage(mongo, ns, pids, "submitted")
    await asyncio.gather(
        *(
            bounded(
                driver.decide(
                    "depa",
                    p,
                    {"event_type": "ProposalScreened", "screened_by": "depa"},
                    f"screen-{p}",
                )
            )
            for p in pids
        )
    )
    await wait_stage(mongo, ns, pids, "screened")
    batches = [pids[i : i + BATCH] for i in range(0, len(pids), BATCH)]
    steps = [
        ("des-subcommittee", "subcommittee", "SubcommitteeApproved", {}, "subcommittee_approved"),
        (
            "steering-committee",
            "steering_committee",
            "SteeringCommitteeAcknowledged",
            {},
            "steering_acknowledged",
        ),
        (
            "cabinet-secretariat",
            "cabinet",
            "CabinetEndorsed",
            {"resolution_number": "chaos-cabinet"},
            "cabinet_endorsed",
        ),
    ]
    for agency, body, decision, extra, stage in steps:
        await asyncio.gather(
            *(
                bounded(driver.meeting(agency, body, f"{k + 1}/2565", decision, batch, **extra))
                for k, batch in enumerate(batches)
            )
        )
        await wait_stage(mongo, ns, pids, stage)
    await asyncio.gather(
        *(
            bounded(
                driver.decide(
                    "depa",
                    p,
                    {"event_type": "CertificationAwarded", "valid_from": "2023-01-20"},
                    f"award-{p}",
                )
            )
            for p in pids
        )
    )
    await wait_stage(mongo, ns, pids, "certified")
    return pids


async def faults(
    stack: Stack,
    figures: Figures,
    stop: asyncio.Event,
    rng: random.Random,
    kill_every: float,
    min_kills: int,
    servers: tuple[str, ...] = ("kafka", "ferretdb", "smtp"),
) -> None:
    """Kill/restart services on a schedule and restart each of `servers` once. Runs until `stop`
    is set AND every kind of fault has happened (each server once, `min_kills` service kills)."""
    once = list(servers)
    rng.shuffle(once)
    tick = 0
    while not (stop.is_set() and not once and figures.kills + figures.terms >= min_kills):
        await asyncio.sleep(kill_every)
        tick += 1
        name = SERVICES[tick % len(SERVICES)]
        sig = signal.SIGTERM if tick % 4 == 0 else signal.SIGKILL
        await asyncio.to_thread(stack.procs[name].stop, sig)
        if sig is signal.SIGKILL:
            figures.kills += 1
        else:
            figures.terms += 1
        await asyncio.to_thread(stack.procs[name].start)
        if tick % 3 == 0 and once:
            server = once.pop()
            if server == "kafka":
                await asyncio.to_thread(revoke_then_restart_broker, stack.ns, figures)
            elif server == "ferretdb":
                await asyncio.to_thread(infra, "restart", "ferretdb")
                figures.store_restarts += 1
            else:
                await asyncio.to_thread(infra, "down", "mailpit")
                await asyncio.sleep(kill_every)
                await asyncio.to_thread(infra, "up", "mailpit")
                figures.smtp_outages += 1
        await asyncio.to_thread(stack.procs[name].wait_healthy, 180)


async def inject(topics: Topics, figures: Figures, rng: random.Random, poison: int) -> list[bytes]:
    """Re-publish a slice of published events (duplicates) and produce poison messages."""
    producer = AIOKafkaProducer(**kafka_client(), enable_idempotence=True, acks="all")
    await producer.start()
    keys: list[bytes] = []
    try:
        for topic in (topics.proposals, topics.decisions):
            records = await read_topic(topic, timeout=10)
            for r in rng.sample(records, min(len(records), 40)):
                await producer.send_and_wait(
                    topic, r.value, key=r.key, headers=list(r.headers or ())
                )
                figures.duplicates_injected += 1
        bodies = [
            b"\x00\xff garbage",
            b'{"event_type": "ProposalSubmitted"}',
            b"[1, 2, 3]",
            json.dumps({"event_type": "NoSuchEvent", "event_id": str(uuid.uuid4())}).encode(),
        ]
        for i in range(poison):
            topic = (topics.intake, topics.proposals, topics.decisions)[i % 3]
            key = f"poison-{i}-{uuid.uuid4().hex[:6]}".encode()
            await producer.send_and_wait(topic, bodies[i % len(bodies)], key=key)
            keys.append(key)
            figures.poison_injected += 1
    finally:
        await producer.stop()
    return keys


async def mailpit_message_ids(since: dt.datetime) -> Counter[str]:
    """Every Message-ID the SMTP server received since `since`, with its count."""
    counts: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=MAILPIT, timeout=30) as http:
        start = 0
        while True:
            resp = await http.get("/api/v1/messages", params={"start": start, "limit": 1000})
            resp.raise_for_status()
            page = resp.json()["messages"]
            if not page:
                return counts
            for m in page:
                created = dt.datetime.fromisoformat(m["Created"].replace("Z", "+00:00"))
                if created < since:
                    return counts
                counts[m["MessageID"]] += 1
            start += len(page)


async def verify(
    mongo: AsyncMongoClient[dict[str, Any]],
    ns: Namespace,
    topics: Topics,
    pids: list[str],
    poison_keys: list[bytes],
    since: dt.datetime,
) -> dict[str, Any]:
    cases = mongo[ns.db("approvals")]["cases"]
    expected_path = [
        "ProposalSubmitted",
        "ProposalScreened",
        "SubcommitteeApproved",
        "SteeringCommitteeAcknowledged",
        "CabinetEndorsed",
        "CertificationAwarded",
    ]
    not_certified, doubled_transitions, missing_transitions = [], 0, 0
    async for case in cases.find({"_id": {"$in": pids}}):
        if case["stage"] != "certified":
            not_certified.append(case["_id"])
        applied = Counter(h["event_type"] for h in case["history"] if not h.get("refused"))
        for event_type in expected_path:
            if applied[event_type] == 0:
                missing_transitions += 1
            doubled_transitions += max(0, applied[event_type] - 1)
    deliveries = mongo[ns.db("notifications")]["deliveries"]
    expected_ids: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    async for d in deliveries.find({"proposal_id": {"$in": pids}}, {"message_id": 1, "status": 1}):
        statuses[d["status"]] += 1
        if d.get("message_id"):
            expected_ids[d["message_id"].strip("<>")] += 1
    received = await mailpit_message_ids(since)
    lost_emails = [m for m in expected_ids if received[m] == 0]
    # Doubled: two delivery records (two emails) for one (event, recipient). Repeated: the same
    # email (same Message-ID) accepted twice by the SMTP server, which at-least-once delivery
    # allows after a kill between the server's reply and the delivery-log write.
    doubled_emails = [m for m, n in expected_ids.items() if n > 1]
    repeated_emails = [m for m in expected_ids if received[m] > 1]
    letters = await read_topic(topics.deadletter, min_records=1, timeout=20)
    by_key: dict[bytes, set[str]] = {}
    for r in letters:
        if r.key in poison_keys:
            letter = json.loads(r.value)
            assert letter["error"], "a dead letter without a reason"
            by_key.setdefault(r.key, set()).add(letter["consumer"])
    missing_letters = []
    for i, key in enumerate(poison_keys):
        topic = ("intake", "proposals", "decisions")[i % 3]
        if not set(CONSUMERS[topic]) <= by_key.get(key, set()):
            missing_letters.append((key.decode(), topic, sorted(by_key.get(key, set()))))
    return {
        "not_certified": len(not_certified),
        "missing_transitions": missing_transitions,
        "doubled_transitions": doubled_transitions,
        "emails_expected": len(expected_ids),
        "emails_by_status": dict(statuses),
        "lost_emails": len(lost_emails),
        "doubled_emails": len(doubled_emails),
        "repeated_emails_same_message_id": len(repeated_emails),
        "dead_lettered": sum(len(v) for v in by_key.values()),
        "poison_not_dead_lettered": missing_letters[:10],
    }


async def cluster_faults(
    ns: Namespace, topics: Topics, figures: Figures, spacing: float, outage: float
) -> list[dict[str, Any]]:
    """On the three-node cluster: the broker faults of tests/chaos/cluster.py in turn, then the
    revocation followed by a restart of every node (the one-node run's broker restart)."""
    recoveries = await cluster.broker_faults(topics, spacing, outage, short_outage=spacing)
    await asyncio.sleep(spacing)
    await asyncio.to_thread(revoke_then_restart_broker, ns, figures)
    return recoveries


async def run(
    n: int,
    poison: int,
    kill_every: float,
    seed: int,
    stuck_after: float,
    on_cluster: bool = False,
    outage: float = 60.0,
) -> dict[str, Any]:
    rng = random.Random(seed)
    restarts_before = len(watchdog_restarts())
    figures = Figures(proposals=n)
    ns = Namespace()
    topics = Topics(ns.topics_prefix)
    await ensure_topics(KAFKA, topics, DEFAULT_PARTITIONS)
    issued = await seed_registry(topics, CHAOS_AGENCIES)
    stack = Stack(ns, figures)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO, tz_aware=True)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    started = time.monotonic()
    stack.start()
    driver = Driver(stack, Agencies(topics, issued), figures)
    stop = asyncio.Event()
    servers = ("ferretdb", "smtp") if on_cluster else ("kafka", "ferretdb", "smtp")
    chaos = asyncio.create_task(
        faults(stack, figures, stop, rng, kill_every, min_kills=3 * len(SERVICES), servers=servers)
    )
    health = asyncio.create_task(watch_health(stack, stuck_after))
    brokers: asyncio.Task[list[dict[str, Any]]] | None = None
    if on_cluster:
        brokers = asyncio.create_task(
            cluster_faults(ns, topics, figures, spacing=kill_every * 2, outage=outage)
        )
    faulting = [chaos] if brokers is None else [chaos, brokers]
    try:
        lifecycle_task = asyncio.create_task(lifecycle(driver, mongo, ns, n))
        await asyncio.sleep(kill_every * 1.5)
        poison_keys = await inject(topics, figures, rng, poison)
        # The proposals' journey, unless a fault step fails or a service stays unhealthy.
        await first_failure(lifecycle_task, *faulting, health)
        pids = await lifecycle_task
        poison_keys += await inject(topics, figures, rng, 0)  # duplicates of the late events
        stop.set()
        for task in faulting:  # returns once every kind of fault has happened
            await first_failure(task, health)
        # Let the consumers and the sender finish, for as long as emails keep settling, then
        # check. (A thousand proposals queue about 31,000 emails.)
        deliveries = mongo[ns.db("notifications")]["deliveries"]
        left, stalled_at = -1, time.monotonic() + stuck_after
        while True:
            if health.done():
                health.result()  # a service stuck while the emails drain: say which
            queued = await deliveries.count_documents({"status": "queued"})
            waiting = queued + await unpublished(deliveries)
            if waiting == 0:
                break
            if waiting != left:
                left, stalled_at = waiting, time.monotonic() + stuck_after
            if time.monotonic() > stalled_at:
                raise Stuck(
                    f"stuck: {waiting} emails queued or unpublished, none settled for "
                    f"{stuck_after:.0f} s; {await store_answer()}; see "
                    f"{stack.procs['notifications'].log_path}"
                )
            await asyncio.sleep(5)
        await asyncio.sleep(3)
        result = await verify(mongo, ns, topics, pids, poison_keys, since)
    finally:
        stop.set()
        for task in (*faulting, health):
            if not task.done():
                task.cancel()
        await driver.close()
        stack.stop()
        try:
            await remove_namespace(ns, mongo)
        except Exception as exc:  # never hide why the run failed behind its clean-up
            print(f"chaos: namespace {ns.topics_prefix} left behind: {exc!r}", file=sys.stderr)
        await mongo.close()
    result.update(
        {
            "proposals": n,
            "kills": figures.kills,
            "sigterms": figures.terms,
            "broker_restarts": figures.broker_restarts,
            "revocations": figures.revocations,
            "revoked_login_accepted": figures.revoked_login_accepted,
            "store_restarts": figures.store_restarts,
            "smtp_outages": figures.smtp_outages,
            "duplicates_injected": figures.duplicates_injected,
            "poison_injected": figures.poison_injected,
            "http_retries": figures.http_retries,
            "store_watchdog_restarts": len(watchdog_restarts()) - restarts_before,
            "kafka_nodes": 3 if on_cluster else 1,
            "broker_faults": brokers.result() if brokers is not None else [],
            "elapsed_s": round(time.monotonic() - started, 1),
        }
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--proposals", type=int, default=300)
    parser.add_argument("--poison", type=int, default=12)
    parser.add_argument(
        "--kill-every", type=float, default=8.0, help="seconds between service kills"
    )
    parser.add_argument("--seed", type=int, default=2565)
    parser.add_argument(
        "--stuck-after",
        type=float,
        default=180.0,
        help="fail once a service's /healthz has failed this many seconds in a row",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="on the three-node Kafka (SMARTCITY_KAFKA_NODES=3): kill the partition leader, "
        "then the active controller, then two nodes at once (tests/chaos/cluster.py)",
    )
    parser.add_argument(
        "--outage",
        type=float,
        default=60.0,
        help="with --cluster: seconds two of the three nodes stay down",
    )
    args = parser.parse_args()
    if args.cluster:
        cluster.require_cluster()
    ensure_stack()
    result = asyncio.run(
        run(
            args.proposals,
            args.poison,
            args.kill_every,
            args.seed,
            args.stuck_after,
            on_cluster=args.cluster,
            outage=args.outage,
        )
    )
    out = LOCAL / "chaos" / "latest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    lost = (
        result["missing_transitions"]
        + result["not_certified"]
        + result["lost_emails"]
        + len(result["poison_not_dead_lettered"])
    )
    breached = result["revoked_login_accepted"]
    doubled = result["doubled_transitions"] + result["doubled_emails"]
    print(
        f"chaos: proposals={result['proposals']} "
        f"emails={result['emails_expected']} kills={result['kills']} "
        f"sigterms={result['sigterms']} broker_restarts={result['broker_restarts']} "
        f"revocations={result['revocations']} revoked_login_accepted={breached} "
        f"store_restarts={result['store_restarts']} "
        f"store_watchdog_restarts={result['store_watchdog_restarts']} "
        f"smtp_outages={result['smtp_outages']} "
        f"duplicates_injected={result['duplicates_injected']} "
        f"poison={result['poison_injected']} lost={lost} doubled={doubled} "
        f"repeated_same_message_id={result['repeated_emails_same_message_id']} "
        f"dead_lettered={result['dead_lettered']} elapsed={result['elapsed_s']}s"
    )
    for recovery in result["broker_faults"]:
        print(f"chaos: {cluster.Recovery(**recovery).summary()}")
    if lost or doubled or breached:
        print(json.dumps(result, indent=2))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
