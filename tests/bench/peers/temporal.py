"""The same lifecycle on Temporal, side by side with the backbone in one `make bench` run
(`make bench BENCH_ARGS="--peer temporal"`, or alone: `python -m tests.bench.peers.temporal`).

What runs (tests/bench/peers/temporal_workflow.py has the workflow):
  - Temporal's server (infra/temporal.sh: built from the Go module proxy, the module's own
    SQLite-file configuration; the workflows' durable state in one SQLite file),
  - one worker process (`python -m tests.bench.peers.temporal worker`) with the workflow and
    three activities doing the work the backbone's services do for the same lifecycle:
    `store_proposal` (the proposal into the same FerretDB, one insert), `certificate_number`
    (one counter update), and `send_letter`: the letter of one event through the notifications
    service's own code (the recipients directory's entries, the office's register of letter
    numbers in FerretDB, `domain.plan_event` that addresses, renders and proofreads it,
    `sender.letter_message`, `SmtpMailer` on one reused connection) to the same Mailpit, one
    email per event as the backbone sends;
  - the driver (this process, as the agencies are in tests/bench/lifecycle.py): starts the
    workflow (the submission), then one workflow update per decision (screening, subcommittee,
    steering committee, Cabinet, award), each answered once Temporal has recorded it.
PDFs are off, as in the comparison the issue asks for (`--pdfs` renders them as the backbone
does, with its renderer).

Figures, from the same sources the backbone's are taken from: a lifecycle starts when the
driver submits and ends when its last email is in Mailpit (by Message-ID); the offered-rate
search, `sustained` and the completion rate are tests/bench/stats.py's; CPU seconds from /proc
for Temporal's server, the worker, and the shares of Mailpit, FerretDB and PostgreSQL over the
run (the driver, like the backbone's, is not counted).

Not what the backbone also does, and this does not: HTTP with API keys, signed claims, Kafka
facts for other consumers (the console, agencies), the projections the console reads,
tracing. The comparison is of what a team would have to run to get the same visible outcome
(decisions recorded durably, the same letters in the same mailbox), not of the same design.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from google.protobuf.duration_pb2 import Duration
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from temporalio import activity
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from smartcity_th.contracts.approvals import (
    CertificationAwarded,
    MeetingRecorded,
    ProposalScreened,
    ValidityPeriod,
)
from smartcity_th.contracts.common import BilingualText, Contract
from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.proposals import (
    ProposalContactsRecorded,
    ProposalDraft,
    ProposalSubmitted,
)
from smartcity_th.contracts.workflow import stage_after
from smartcity_th.services.approvals.domain import (
    DEFAULT_RULES,
    certificate_number,
    meeting_payload,
)
from smartcity_th.services.common.certificate_document import (
    CertificateFacts,
    certificate_url,
    render_certificate,
)
from smartcity_th.services.common.certificate_document import (
    pdf_filename as certificate_pdf_filename,
)
from smartcity_th.services.notifications import domain, view
from smartcity_th.services.notifications.adapters.directory import _recipient, seed_documents
from smartcity_th.services.notifications.adapters.register import LetterRegister
from smartcity_th.services.notifications.adapters.smtp import SmtpMailer
from smartcity_th.services.notifications.bootstrap import mail_settings
from smartcity_th.services.notifications.config import NotificationsSettings
from smartcity_th.services.notifications.domain import MailSettings, Recipient
from smartcity_th.services.notifications.letters import addressing
from smartcity_th.services.notifications.messages import Attachment, pdf_filename
from smartcity_th.services.notifications.rendering import split_subject
from smartcity_th.services.notifications.sender import letter_message
from smartcity_th.services.proposals.domain import content_from_draft, public_content
from tests.bench import idle
from tests.bench.lifecycle import rate_search, runs_for
from tests.bench.peers.temporal_workflow import (
    CertificationLifecycle,
    Decision,
    Letter,
    Outcome,
    Submission,
    Told,
)
from tests.bench.stats import completion_rate, spread, sustained
from tests.support import LOCAL, MAILPIT, MONGO, ROOT, SMTP_PORT, poll, poll_progress

Doc = dict[str, Any]
SCRIPT = ROOT / "infra" / "temporal.sh"
NAMESPACE = "smartcity-bench"
APPLICANT = "lg-phuket-city"
MEETINGS = (  # as tests/bench/lifecycle.py records them
    ("subcommittee", "des-subcommittee", "1/2565", "SubcommitteeApproved", None),
    ("steering_committee", "steering-committee", "1/2565", "SteeringCommitteeAcknowledged", None),
    ("cabinet", "cabinet-secretariat", "50/2565", "CabinetEndorsed", "นร 0505/ว 610"),
)
SMOKE_DEADLINE_S = 600.0  # the first lifecycle, on a machine as busy as this one gets


def address() -> str:
    return subprocess.run(
        ["bash", str(SCRIPT), "address"], check=True, capture_output=True, text=True
    ).stdout.strip()


# ---------------------------------------------------------------- the worker's activities


def _producer(agency: str) -> str:
    return "svc-proposals" if agency == APPLICANT else "svc-approvals"


@dataclass
class Activities:
    db: AsyncDatabase[Doc]
    mailer: SmtpMailer
    mail: MailSettings
    pdfs: Any = None
    """The notifications service's PDF renderer, or None: no PDFs (the comparison's setting)."""
    directory: dict[str, Recipient] = field(
        default_factory=lambda: {d["_id"]: _recipient(d) for d in seed_documents()}
    )

    def __post_init__(self) -> None:
        self.register = LetterRegister(self.db)

    @activity.defn(name="store_proposal")
    async def store_proposal(self, s: Submission) -> None:
        """The proposal as the proposals service keeps it: checked, its province resolved,
        stored once (a retried activity finds it stored)."""
        content = content_from_draft(ProposalDraft.model_validate(s.draft))
        doc = {
            "_id": s.proposal_id,
            "applicant": s.applicant,
            "content": content.model_dump(mode="json"),
            "submitted_at": dt.datetime.now(dt.UTC),
        }
        with contextlib.suppress(DuplicateKeyError):
            await self.db["proposals"].insert_one(doc)

    @activity.defn(name="certificate_number")
    async def certificate_number(self, be_year: int) -> str:
        counter = await self.db["certificates"].find_one_and_update(
            {"_id": f"certificates:{be_year}"},
            {"$inc": {"last": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert counter is not None  # upserted
        return certificate_number(be_year, int(counter["last"]))

    def envelopes(self, job: Letter) -> tuple[AnyEnvelope, list[AnyEnvelope]]:
        """The contacts record and the case's events as the services would have published
        them (the same payloads, from the same requests)."""
        draft = ProposalDraft.model_validate(job.draft)
        content = content_from_draft(draft)
        first = job.events[0]
        contacts = new_envelope(
            ProposalContactsRecorded(
                applicant=job.applicant, revision=1, contact_emails=content.contact_emails
            ),
            producer="svc-proposals",
            proposal_id=job.proposal_id,
            occurred_at=dt.datetime.fromisoformat(first.occurred_at),
        )
        out = []
        for told in job.events:
            out.append(
                new_envelope(
                    self.payload(told, job, content),
                    producer=_producer(told.agency),
                    proposal_id=job.proposal_id,
                    occurred_at=dt.datetime.fromisoformat(told.occurred_at),
                    event_id=uuid.UUID(told.event_id),
                )
            )
        return contacts, out

    def payload(self, told: Told, job: Letter, content: Any) -> Contract:
        if told.event_type == "ProposalSubmitted":
            return ProposalSubmitted(applicant=job.applicant, content=public_content(content))
        if told.event_type == "ProposalScreened":
            return ProposalScreened(screened_by=told.agency)
        if told.event_type == "CertificationAwarded":
            approved = next(t.body for t in job.events if t.event_type == "SubcommitteeApproved")
            return CertificationAwarded(
                certificate_number=told.body["certificate_number"],
                area_name=BilingualText(**content.area_name.model_dump()),
                province_code=content.province.code,
                subcommittee_meeting_id=approved["meeting"]["meeting_id"],
                validity=ValidityPeriod.starting(
                    dt.date.fromisoformat(told.body["valid_from"]),
                    DEFAULT_RULES.delivery_years,
                    DEFAULT_RULES.renewal_min_progress_percent,
                ),
            )
        meeting = MeetingRecorded.model_validate(told.body)
        return meeting_payload(meeting, meeting.decisions[0], told.agency)

    @activity.defn(name="send_letter")
    async def send_letter(self, job: Letter) -> str:
        """The letter about the case's last event, as the notifications service writes and
        sends it; returns its Message-ID (the same on every attempt)."""
        contacts, envelopes = self.envelopes(job)
        state: Doc = view.applied({"_id": job.proposal_id}, contacts, None)
        for e in envelopes:
            stage = stage_after(e.event_type)
            state = view.applied(state, e, stage.value if stage else None)
        envelope = envelopes[-1]
        proposal = domain.letter_proposal(envelope, state)
        to = addressing(envelope.event_type, proposal, None)
        if to is None or to.to not in self.directory:
            raise ApplicationError(f"no addressee for {envelope.event_type}", non_retryable=True)
        missing = [c for c in to.cc if c not in self.directory]
        letter = domain.address_letter(
            envelope.event_type,
            self.directory[to.to],
            [self.directory[c] for c in to.cc if c in self.directory],
            to.contacts,
            missing,
        )
        now = dt.datetime.now(dt.UTC)
        issued = await self.register.issue(
            domain.register_id_now(self.mail.office, now),
            domain.letter_id(envelope, letter.to.recipient_id),
            now=now,
        )
        plan = domain.plan_event(
            envelope,
            proposal,
            letter,
            missing,
            self.mail,
            now=now,
            number=issued.number,
            numbered_at=issued.at,
        )
        d, body = plan.deliveries[0], plan.bodies[0]
        if d.status != "queued":
            raise ApplicationError(f"letter held: {d.last_error}", non_retryable=True)
        attachments: list[Attachment] = []
        if self.pdfs is not None:
            attachments.append(
                Attachment(
                    pdf_filename(split_subject(d.subject or "")[1], d.proposal_id),
                    await self.pdfs.render_async(body.html or ""),
                )
            )
            if isinstance(envelope.payload, CertificationAwarded):
                award = envelope.payload
                facts = CertificateFacts(
                    award,
                    job.proposal_id,
                    certificate_url(self.mail.certificate_url, award.certificate_number),
                )
                attachments.append(
                    Attachment(
                        certificate_pdf_filename(award.certificate_number),
                        await self.pdfs.render_async(render_certificate(facts)),
                    )
                )
        message = letter_message(d, body, self.mail, attachments)
        await self.mailer.send(message)
        return d.message_id or ""


async def serve(address_: str, task_queue: str, db_name: str, pdfs: bool) -> None:
    """The worker process: the workflow and the activities on one task queue, until SIGTERM."""
    client = await Client.connect(address_, namespace=NAMESPACE)
    mongo: AsyncMongoClient[Doc] = AsyncMongoClient(MONGO, tz_aware=True)
    mailer = SmtpMailer("127.0.0.1", SMTP_PORT)
    renderer = None
    if pdfs:
        from smartcity_th.services.notifications.pdf import shared_renderer

        renderer = shared_renderer()
        renderer.require_font()
    settings = NotificationsSettings(status_link_secret="peer-benchmark-status-links")
    acts = Activities(mongo[db_name], mailer, mail_settings(settings), renderer)
    await acts.register.ensure_indexes()
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[CertificationLifecycle],
        activities=[acts.store_proposal, acts.certificate_number, acts.send_letter],
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with worker:
        print("worker ready", flush=True)
        await stop.wait()
    await mailer.close()
    await mongo.close()


# ---------------------------------------------------------------- the driver


async def ensure_namespace(client: Client) -> None:
    """The benchmark's namespace, registered through the SDK once (idempotent), and waited
    for until the frontend knows it."""
    with contextlib.suppress(RPCError):
        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(
                namespace=NAMESPACE,
                description="make bench: the certification lifecycle as a Temporal workflow",
                workflow_execution_retention_period=Duration(seconds=86400),
            )
        )

    async def known() -> bool:
        try:
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=NAMESPACE)
            )
        except RPCError as exc:
            if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.UNAVAILABLE):
                return False
            raise
        return True

    await poll(known, timeout=60, interval=0.5, what=f"namespace {NAMESPACE}")


@dataclass
class Driver:
    client: Client
    mailpit: httpx.AsyncClient
    task_queue: str
    run_id: str
    processes: Callable[[], dict[str, list[int]]]
    """The processes whose CPU is counted, looked up anew for each sample (PostgreSQL's
    backends come and go with FerretDB's pools)."""
    lifecycles: int = 0

    async def lifecycle(self) -> tuple[float, Outcome]:
        """One lifecycle as the agencies drive it; (when it was submitted, its outcome)."""
        from tests.bench.run import DRAFT  # (run.py imports this module)

        self.lifecycles += 1
        pid = f"PEER-{self.run_id}-{self.lifecycles:06d}"
        started = time.time()
        handle: WorkflowHandle[Any, Outcome] = await self.client.start_workflow(
            CertificationLifecycle.run,
            Submission(pid, APPLICANT, DRAFT),
            id=pid,
            task_queue=self.task_queue,
        )
        await handle.execute_update(
            CertificationLifecycle.decide, Decision("ProposalScreened", "depa")
        )
        for body, agency, meeting_id, decision, number in MEETINGS:
            from tests.e2e.approvals_support import meeting

            recorded = meeting(body, meeting_id, [(pid, decision)], number)
            await handle.execute_update(
                CertificationLifecycle.decide,
                Decision(decision, agency, recorded.model_dump(mode="json")),
            )
        await handle.execute_update(
            CertificationLifecycle.decide,
            Decision("CertificationAwarded", "depa", {"valid_from": dt.date.today().isoformat()}),
        )
        return started, await handle.result()

    async def mail_total(self) -> int:
        r = await self.mailpit.get("/api/v1/messages", params={"limit": 1})
        r.raise_for_status()
        return int(r.json()["total"])

    async def arrivals(self, since: float) -> dict[str, float]:
        """Message-ID -> arrival (epoch s) of every message Mailpit received since `since`."""
        found: dict[str, float] = {}
        start = 0
        while True:
            r = await self.mailpit.get("/api/v1/messages", params={"start": start, "limit": 1000})
            r.raise_for_status()
            page = r.json()["messages"]
            for m in page:
                at = dt.datetime.fromisoformat(m["Created"].replace("Z", "+00:00")).timestamp()
                if at < since:
                    return found
                found[m["MessageID"]] = at
            if len(page) < 1000:
                return found
            start += len(page)

    async def offered(self, rate: float, n: int, label: str) -> Doc:
        """`n` lifecycles started at `rate` per second; every email waited for in Mailpit."""
        cpu0 = cpu_seconds(self.processes())
        since = time.time()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        tasks = []
        for k in range(n):
            await asyncio.sleep(max(0.0, t0 + k / rate - loop.time()))
            tasks.append(asyncio.create_task(self.lifecycle()))
        done = await asyncio.gather(*tasks)
        wanted = {m.strip("<>") for _, o in done for m in o.message_ids}

        async def all_in() -> dict[str, float] | None:
            got = await self.arrivals(since - 1)
            return got if wanted <= got.keys() else None

        mail = await poll_progress(all_in, self.mail_total, stall=90, what=f"{len(wanted)} emails")
        cpu1 = cpu_seconds(self.processes())
        starts = [s for s, _ in done]
        ends = [max(mail[m.strip("<>")] for m in o.message_ids) for _, o in done]
        span = max(ends) - min(starts)
        ok, why = sustained(rate, starts, ends)
        cpu = {k: round(cpu1[k] - cpu0[k], 2) for k in cpu0}
        return {
            "label": label,
            "offered_per_s": round(rate, 3),
            "lifecycles": n,
            "completed": sum(1 for _, o in done if o.stage == "certified"),
            "sustained": ok,
            "why": why,
            "span_s": round(span, 2),
            "lifecycles_per_s": round(completion_rate(ends), 3),
            "emails": len(wanted),
            "emails_per_s": round(completion_rate([mail[m] for m in wanted]), 1),
            "lifecycle_s": spread([e - s for s, e in zip(starts, ends, strict=True)]),
            "cpu_s": cpu,
            "cpu_percent_of_one_core": {k: round(100 * v / span, 1) for k, v in cpu.items()},
            "cpu_s_per_lifecycle": round(sum(cpu.values()) / n, 3),
        }

    async def smoke(
        self, expected_emails: int | None, worker: asyncio.subprocess.Process, log: Path
    ) -> Doc:
        """One lifecycle, checked: certified, one email per event, each in Mailpit with the
        workflow's Message-ID, as many as the backbone sends for one lifecycle. A worker that
        exits meanwhile fails it with the end of its log (its tasks would wait for ever)."""
        since = time.time()
        life = asyncio.create_task(self.lifecycle())
        gone = asyncio.create_task(worker.wait())
        await asyncio.wait({life, gone}, timeout=SMOKE_DEADLINE_S, return_when="FIRST_COMPLETED")
        if not life.done():
            life.cancel()
            with contextlib.suppress(BaseException):
                await life  # its update is cancelled: nothing to report but why
            why = (
                f"the worker exited ({worker.returncode})"
                if gone.done()
                else f"no lifecycle in {SMOKE_DEADLINE_S:g} s"
            )
            text = await asyncio.to_thread(log.read_text, errors="replace")
            tail = text.strip().splitlines()[-15:]
            raise RuntimeError(f"{why}; worker log {log}: " + " | ".join(tail))
        gone.cancel()
        _, outcome = life.result()
        if outcome.stage != "certified":
            raise AssertionError(f"the peer's lifecycle ended at {outcome.stage!r}")
        wanted = {m.strip("<>") for m in outcome.message_ids}

        async def arrived() -> bool:
            return wanted <= (await self.arrivals(since - 1)).keys()

        await poll_progress(arrived, self.mail_total, stall=90, what="the smoke lifecycle's emails")
        if len(wanted) != 6 or (expected_emails is not None and len(wanted) != expected_emails):
            raise AssertionError(
                f"the peer sent {len(wanted)} emails for one lifecycle; the backbone "
                f"sends {expected_emails} (one per event: 6)"
            )
        return {"emails": len(wanted), "stage": outcome.stage}


def cpu_seconds(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds (user + system) of each group of processes so far, with what their exited
    children used (cutime, cstime): a PostgreSQL backend that exits between two samples has its
    time counted in the postmaster's instead of dropping out of the sum. Each group should be
    looked up anew for each sample (a process born in between is counted whole, which is right:
    it had used nothing at the first sample)."""
    total: dict[str, float] = {}
    for name, pids in groups.items():
        ticks = 0
        for pid in pids:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        total[name] = ticks / idle.TICKS
    return total


def _tree(top: int) -> list[int]:
    tree, todo = [], [top]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += idle.children(p)
    return tree


def _running() -> bool:
    return subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True).returncode == 0


def worker_log(task_queue: str) -> Path:
    return LOCAL / "logs" / "bench" / f"peer-temporal-worker-{task_queue}.log"


@contextlib.asynccontextmanager
async def _worker(
    address_: str, task_queue: str, db_name: str, pdfs: bool
) -> AsyncIterator[asyncio.subprocess.Process]:
    logs = LOCAL / "logs" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    cmd = ["-m", "tests.bench.peers.temporal", "worker", "--address", address_]
    cmd += ["--task-queue", task_queue, "--db", db_name] + (["--pdfs"] if pdfs else [])
    with worker_log(task_queue).open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield proc
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


async def _script(command: str, *, check: bool = True) -> None:
    """infra/temporal.sh COMMAND; a failure raises with what the script said (why the server
    could not be built or started)."""
    done = await asyncio.to_thread(
        subprocess.run, ["bash", str(SCRIPT), command], cwd=ROOT, capture_output=True, text=True
    )
    print(done.stderr, end="", file=sys.stderr)
    if check and done.returncode != 0:
        said = " | ".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"infra/temporal.sh {command} exited {done.returncode}: {said}")


async def measure(
    *,
    window: float = 20.0,
    start_rate: float = 0.5,
    max_steps: int = 6,
    pdfs: bool = False,
    expected_emails: int | None = None,
) -> Doc:
    """Build and start Temporal's server if needed, run the worker, check one lifecycle, then
    search the maximum sustained rate as tests/bench/lifecycle.py does, and the half rate.

    CPU: as tests/bench/lifecycle.py reads it from /proc, with one difference: the time of
    exited children is kept (`cpu_seconds`), so PostgreSQL's share cannot come out negative
    when FerretDB closes idle pool connections (the backbone's stack, stopped just before,
    leaves a pool that closes a minute later, in the middle of the peer's run)."""
    out: Doc = {
        "engine": "temporal",
        "server_version": "v1.30.4",
        "persistence": "sqlite file (config/development-sqlite-file.yaml)",
        "pdfs": pdfs,
        "window_s": window,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    started_server = not await asyncio.to_thread(_running)
    if started_server:
        print("peer temporal: infra/temporal.sh up (a first run builds the server: minutes)")
    await _script("up")
    run_id = uuid.uuid4().hex[:8]
    task_queue = f"peer-{run_id}"
    db_name = f"t{run_id}_peer"
    mongo: AsyncMongoClient[Doc] = AsyncMongoClient(MONGO, tz_aware=True)
    try:
        addr = await asyncio.to_thread(address)
        client = await Client.connect(addr, namespace=NAMESPACE)
        await ensure_namespace(client)
        async with (
            _worker(addr, task_queue, db_name, pdfs) as worker,
            httpx.AsyncClient(base_url=MAILPIT, timeout=60) as mailpit,
        ):
            server = int((LOCAL / "run" / "temporal.pid").read_text())

            def processes() -> dict[str, list[int]]:
                stack = idle.stack_pids()
                return {
                    "temporal": _tree(server),
                    "worker": [worker.pid],
                    **{k: stack[k] for k in ("mailpit", "ferretdb", "postgres") if k in stack},
                }

            drv = Driver(client, mailpit, task_queue, run_id, processes)
            out["smoke"] = await drv.smoke(expected_emails, worker, worker_log(task_queue))
            print(f"peer temporal: smoke lifecycle {out['smoke']}")

            best, found = await rate_search(
                drv.offered,
                start_rate=start_rate,
                window=window,
                max_steps=max_steps,
                label="peer-search-",
                say=lambda line: print(f"peer temporal: {line}"),
            )
            out |= found
            out["half"] = await drv.offered(best / 2, runs_for(best / 2, window), "peer-half")
            out["peak_rss_mb"] = {
                "temporal": idle_rss(server),
                "worker": idle_rss(worker.pid),
            }
            out["state_file_mb"] = round(
                sum(p.stat().st_size for p in (LOCAL / "temporal").glob("temporal.db*")) / 2**20, 1
            )
    finally:
        with contextlib.suppress(Exception):
            await mongo.drop_database(db_name)
        await mongo.close()
        if started_server:
            await _script("down", check=False)
    out["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def idle_rss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cost_per_lifecycle(run: Doc) -> float | None:
    """CPU seconds per lifecycle of a run of tests/bench/lifecycle.py or of this module: every
    process measured, over the lifecycles started."""
    if not run or not run.get("lifecycles"):
        return None
    return round(float(sum(run["cpu_s"].values())) / int(run["lifecycles"]), 3)


def cost_over_runs(result: Doc) -> float | None:
    """CPU seconds per lifecycle over every open-loop run of a result (the search and the half
    rate): more lifecycles than the one run at the maximum, so less noise."""
    runs = [r for r in (*result.get("search", []), result.get("half")) if r]
    n = sum(int(r["lifecycles"]) for r in runs)
    cpu = sum(float(v) for r in runs for v in r["cpu_s"].values())
    return round(cpu / n, 3) if n else None


def ratios(ours: Doc | None, peer: Doc) -> Doc:
    """The peer against the backbone in the same run: lifecycles/s at the maximum sustained
    rate (>1: the peer kept a higher rate) and CPU seconds per lifecycle at that rate (>1: the
    peer spends more)."""
    if not ours:
        return {}
    mine, theirs = ours.get("at_max") or {}, peer.get("at_max") or {}
    out: Doc = {
        "ours_max_sustained_per_s": ours.get("max_sustained_per_s"),
        "peer_max_sustained_per_s": peer.get("max_sustained_per_s"),
        "ours_cpu_s_per_lifecycle": cost_per_lifecycle(mine),
        "peer_cpu_s_per_lifecycle": cost_per_lifecycle(theirs),
        "ours_cpu_s_by_process": mine.get("cpu_s"),
        "peer_cpu_s_by_process": theirs.get("cpu_s"),
    }
    out["ours_cpu_s_per_lifecycle_all_runs"] = cost_over_runs(ours)
    out["peer_cpu_s_per_lifecycle_all_runs"] = cost_over_runs(peer)
    a, b = out["ours_max_sustained_per_s"], out["peer_max_sustained_per_s"]
    out["peer_to_ours_lifecycles_per_s"] = round(b / a, 3) if a and b else None
    c, d = out["ours_cpu_s_per_lifecycle"], out["peer_cpu_s_per_lifecycle"]
    out["peer_to_ours_cpu_s_per_lifecycle"] = round(d / c, 3) if c and d else None
    e, f = out["ours_cpu_s_per_lifecycle_all_runs"], out["peer_cpu_s_per_lifecycle_all_runs"]
    out["peer_to_ours_cpu_s_per_lifecycle_all_runs"] = round(f / e, 3) if e and f else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    w = sub.add_parser("worker", help="the worker process (the benchmark starts it)")
    w.add_argument("--address", required=True)
    w.add_argument("--task-queue", required=True)
    w.add_argument("--db", required=True)
    w.add_argument("--pdfs", action="store_true")
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--start-rate", type=float, default=0.5)
    parser.add_argument("--pdfs", action="store_true", help="attach the letters' PDFs")
    args = parser.parse_args()
    if args.command == "worker":
        asyncio.run(serve(args.address, args.task_queue, args.db, args.pdfs))
        return
    from tests.support import ensure_stack

    ensure_stack()
    result = asyncio.run(measure(window=args.window, start_rate=args.start_rate, pdfs=args.pdfs))
    out = LOCAL / "bench" / "peer-temporal.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
