"""Idle cost of the stack with many proposals stored: `python -m tests.bench.idle --stored 10000`.

Loads N proposals straight into the stores of the proposals, approvals and notifications
services (each one commit plus its projection, as the services write them: a submitted proposal,
its case, three sent emails and their numbers in the letter register) and into the console's
audit log (the submission and its three emails, described and chained as the console appends
them), starts the four services with their production defaults, lets their start-up passes
finish, then measures the CPU time every process of the stack uses while nothing happens
(services, FerretDB, PostgreSQL, Kafka, Mailpit), as a share of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from smartcity_th.contracts.agencies import agency
from smartcity_th.contracts.envelope import new_envelope
from smartcity_th.contracts.notifications import NotificationSent
from smartcity_th.contracts.proposals import ProposalDraft
from smartcity_th.contracts.topics import DEFAULT_PARTITIONS, NOTIFICATIONS, PROPOSALS, Topics
from smartcity_th.services.approvals.adapters.repository import case_state
from smartcity_th.services.approvals.domain import open_case
from smartcity_th.services.common.kafka import ensure_topics
from smartcity_th.services.common.mongo import make_client
from smartcity_th.services.common.settings import ServiceSettings
from smartcity_th.services.common.store import VERSION, Commit, commit_id, record_of
from smartcity_th.services.console.audit import MongoAuditLog
from smartcity_th.services.notifications.adapters.register import entry_id
from smartcity_th.services.notifications.config import NotificationsSettings
from smartcity_th.services.notifications.domain import letter_id, register_id_now
from smartcity_th.services.proposals.adapters.repository import commit_of
from smartcity_th.services.proposals.domain import Proposal, content_from_draft
from tests.bench.history import HistoryWriter
from tests.support import (
    KAFKA,
    LOCAL,
    MONGO,
    Namespace,
    ServiceProcess,
    free_port,
    remove_namespace,
    service_env,
)

Doc = dict[str, Any]
BATCH = 200  # inserts (PostgreSQL backend); FerretDB wedged on large bulk upserts on SQLite
SERVICES = ("proposals", "approvals", "notifications", "console")
TICKS = os.sysconf("SC_CLK_TCK")


def _docs(aggregate_id: str, commit: Commit, at: dt.datetime) -> tuple[Doc, Doc]:
    stored = {
        "_id": commit_id(aggregate_id, 1),
        "aggregate_id": aggregate_id,
        "version": 1,
        "at": at,
        "state": commit.state,
        "events": [record_of(e) for e in commit.events],
        "processed": list(commit.processed),
        "published": True,
    }
    return stored, {**commit.state, "_id": aggregate_id, VERSION: 1}


async def _put(collection: AsyncCollection[Doc], docs: list[Doc]) -> None:
    for start in range(0, len(docs), BATCH):
        await collection.insert_many(docs[start : start + BATCH], ordered=False)


async def seed(ns: Namespace, n: int) -> None:
    """N proposals as the services would have stored them, in batches."""
    from tests.bench.run import DRAFT  # (run.py imports this module)

    content = content_from_draft(ProposalDraft.model_validate(DRAFT))
    applicant = agency("lg-phuket-city")
    client = make_client(MONGO, "bench-seed")
    now = dt.datetime.now(dt.UTC)
    topics = Topics(ns.topics_prefix)
    office = NotificationsSettings.model_fields["office"].get_default(call_default_factory=True)
    numbered = 0
    console = client[ns.db("console")]
    await MongoAuditLog(console).ensure_indexes()
    audit = HistoryWriter(topics)
    try:
        for start in range(0, n, 500):
            rows: dict[str, list[Doc]] = {}
            for i in range(start, min(n, start + 500)):
                pid = f"IDLE-{i:06d}-{uuid.uuid4().hex[:6]}"
                proposal = Proposal.submit(
                    proposal_id=pid,
                    actor=applicant.as_producer(),
                    content=content,
                    idempotency_key=pid,
                    now=now,
                    email_domains=applicant.email_domains,
                )
                submitted = next(
                    e for e in proposal.pending_events if e.event_type == "ProposalSubmitted"
                )
                for db, name, commit in (
                    ("proposals", "proposals", commit_of(proposal)),
                    (
                        "approvals",
                        "cases",
                        _case_commit(submitted, now),
                    ),
                ):
                    c, p = _docs(pid, commit, now)
                    rows.setdefault(f"{db}/{name}_commits", []).append(c)
                    rows.setdefault(f"{db}/{name}", []).append(p)
                facts: list[tuple[str, Any]] = [(PROPOSALS, submitted)]
                for k in range(3):
                    did = f"{submitted.event_id}:r{k}@example.go.th"
                    sent = new_envelope(
                        NotificationSent(
                            about_event_id=str(submitted.event_id),
                            about_event_type="ProposalSubmitted",
                            recipient_id=f"r{k}",
                            recipient_email=f"r{k}@example.go.th",
                            message_id=f"<{did}>",
                            attempts=1,
                        ),
                        producer="svc-notifications",
                        proposal_id=pid,
                    )
                    state = {
                        "kind": "event",
                        "event_id": str(submitted.event_id),
                        "event_type": "ProposalSubmitted",
                        "proposal_id": pid,
                        "email": f"r{k}@example.go.th",
                        "status": "sent",
                        "attempts": 1,
                        "created_at": now,
                        "sent_at": now,
                        "next_attempt_at": now,
                        "digest_id": None,
                    }
                    c, p = _docs(did, Commit(state=state, events=[sent]), now)
                    rows.setdefault("notifications/deliveries_commits", []).append(c)
                    rows.setdefault("notifications/deliveries", []).append(p)
                    facts.append((NOTIFICATIONS, sent))
                    register = register_id_now(office, now)  # issued as they were told
                    numbered += 1
                    rows.setdefault("notifications/letter_register", []).append(
                        {
                            "_id": entry_id(register, numbered),
                            "register": register,
                            "number": numbered,
                            "letter_id": letter_id(submitted, f"r{k}"),
                            "at": now,
                        }
                    )
                rows.setdefault("console/audit", []).extend(audit.envelopes(pid, facts, now))
            for where, docs in rows.items():
                db, collection = where.split("/")
                await _put(client[ns.db(db)][collection], docs)
        await audit.head(console)
    finally:
        await client.close()


def _case_commit(submitted: Any, now: dt.datetime) -> Commit:
    outcome = open_case(submitted)
    assert outcome.case is not None
    return Commit(state=case_state(outcome.case, now, now), processed=[str(submitted.event_id)])


def cpu_seconds(pid: int) -> float:
    """CPU time of the process and of the children it has reaped (utime, stime, cutime,
    cstime): a PostgreSQL backend that ends between two samples moves its time into the
    postmaster's, instead of out of the sum."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICKS


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                out.append(int(entry.name))
    return out


STACK = {  # a server -> its pid files (the three nodes of a local Kafka cluster count as kafka)
    "kafka": ("kafka", "kafka-1", "kafka-2", "kafka-3"),
    "postgres": ("postgres",),
    "ferretdb": ("ferretdb",),
    "mailpit": ("mailpit",),
    "jaeger": ("jaeger",),
}


def stack_pids() -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for name, pidfiles in STACK.items():
        tree: list[int] = []
        for pidfile in (LOCAL / "run" / f"{f}.pid" for f in pidfiles):
            if not pidfile.exists():
                continue
            todo = [int(pidfile.read_text())]
            while todo:  # the server and every process under it (PostgreSQL's backends)
                p = todo.pop()
                tree.append(p)
                todo += children(p)
        if tree:
            found[name] = tree
    return found


def sample(pids: dict[str, list[int]]) -> dict[str, float]:
    total: dict[str, float] = {}
    for name, group in pids.items():
        s = 0.0
        for pid in group:
            with contextlib.suppress(OSError):
                s += cpu_seconds(pid)
        total[name] = s
    return total


async def measure(stored: int, seconds: float, settle: float) -> Doc:
    ns = Namespace()
    topics = Topics(ns.topics_prefix)
    await ensure_topics(KAFKA, topics, DEFAULT_PARTITIONS)
    started = time.perf_counter()
    await seed(ns, stored)
    seeded_in = time.perf_counter() - started
    logs = LOCAL / "logs" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    procs = [
        ServiceProcess(
            name,
            service_env(name, ns, port := free_port(), _production(name)),
            port,
            logs / f"{ns.run_id}-idle-{name}.log",
        )
        for name in SERVICES
    ]
    client = make_client(MONGO, "bench-idle")
    try:
        for p in procs:
            p.start()
        for p in procs:
            await asyncio.to_thread(p.wait_healthy, 300)
        await asyncio.sleep(settle)  # start-up passes (relay, sender) finish
        pids = {p.name: [p.proc.pid] for p in procs if p.proc} | stack_pids()
        before = sample(pids)
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        elapsed = time.monotonic() - t0
        after = sample(pids)
        share = {k: round(100 * (after[k] - before[k]) / elapsed, 2) for k in before}
        return {
            "stored_proposals": stored,
            "seeded_in_s": round(seeded_in, 1),
            "measured_s": round(elapsed, 1),
            "cpu_percent_of_one_core": share,
            "total_percent_of_one_core": round(sum(share.values()), 2),
        }
    finally:
        for p in procs:
            p.stop()
        await remove_namespace(ns, client)
        await client.close()


def _production(name: str) -> dict[str, str]:
    """The services' own defaults for everything the test environment shortens."""
    prefix = name.upper()
    fields = ServiceSettings.model_fields
    return {
        f"{prefix}_LOG_LEVEL": "WARNING",
        f"{prefix}_OUTBOX_SWEEP_SECONDS": str(fields["outbox_sweep_seconds"].default),
        f"{prefix}_OUTBOX_GRACE_SECONDS": str(fields["outbox_grace_seconds"].default),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=20.0)
    args = parser.parse_args()
    result = asyncio.run(measure(args.stored, args.seconds, args.settle))
    out = LOCAL / "bench" / "idle.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
