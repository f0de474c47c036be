"""From an event to queued emails (consumer side), from queued emails to the SMTP server
(sender side), and from held emails to daily digests. Thin: the routing table, templates and
message building do the deciding."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge

from contracts.envelope import AnyEnvelope, EnvelopeError, new_envelope, parse_record
from contracts.notifications import NotificationFailed, NotificationSent
from contracts.workflow import stage_after
from services.common import telemetry
from services.common.consumer import DeadLetters, Record
from services.common.context import current_source
from services.notifications import view
from services.notifications.adapters.directory import Recipient, RecipientsDirectory
from services.notifications.adapters.smtp import PermanentSmtpError, SmtpMailer
from services.notifications.adapters.store import DeliveryLog, MessageBodies, ProposalsView
from services.notifications.digest import digest_id, next_cutoff
from services.notifications.links import StatusLinks
from services.notifications.messages import build_message, message_id
from services.notifications.rendering import email_context, has_template, render, render_digest
from services.notifications.routing import CRITICAL, ROUTES, addressees, needs_proposal

log = structlog.get_logger(__name__)

# Each refresh scans the delivery log: while emails are being attempted every few seconds (so
# that a burst of retries shows in the gauges while it lasts), when idle only at the backstop.
GAUGE_REFRESH_BUSY_SECONDS = 2.0
# Emails in flight at once. Each one between the SMTP server's reply and the delivery-log write
# is sent again if the process is killed (same Message-ID): a small batch keeps that window small.
SEND_BATCH = 10
STOP_GRACE_SECONDS = 10.0
SERVICE_PRODUCER = "svc-notifications"
DIGEST_TYPE = "Digest"
SENT = Counter("smartcity_emails_sent_total", "Emails accepted by the SMTP server", ["event_type"])
FAILED = Counter("smartcity_emails_failed_total", "Emails given up on", ["event_type", "reason"])
QUEUED = Counter(
    "smartcity_emails_queued_total", "Emails queued (or held for a digest)", ["event_type", "mode"]
)
RETRYING = Gauge("smartcity_emails_retrying", "Queued emails that have failed at least once")
QUEUE_AGE = Gauge("smartcity_email_queue_oldest_age_seconds", "Age of the oldest queued email")
HELD = Counter(
    "smartcity_notify_events_held_total",
    "Events read before their proposal was known: told once its submission is read",
)
DIGEST_HELD = Gauge("smartcity_emails_held_for_digest", "Emails waiting for their digest")

Doc = dict[str, Any]
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class MailSettings:
    from_name: str
    from_email: str
    message_id_domain: str
    links: StatusLinks
    max_attempts: int
    base_delay: float
    max_delay: float


def backoff_seconds(
    attempts: int,
    base: float,
    ceiling: float,
    rand: Callable[[float, float], float] = random.uniform,
) -> float:
    """Delay before the next attempt after `attempts` failures: exponential, capped, with
    jitter between half and all of it (so a crowd of retries spreads out)."""
    top = min(ceiling, base * 2 ** max(0, attempts - 1))
    return rand(top / 2, top)


def _unknown_proposal(proposal_id: str, envelope: AnyEnvelope) -> Doc:
    area = getattr(envelope.payload, "area_name", None)
    return {
        "_id": proposal_id,
        "area_name": area.model_dump() if area is not None else {"th": "-", "en": "-"},
        "province": {"code": None, "name_th": "-", "name_en": "-"},
        "stage": None,
        "contact_emails": [],
        "applicant": None,
    }


class NotificationHandlers:
    def __init__(
        self,
        view: ProposalsView,
        directory: RecipientsDirectory,
        log_: DeliveryLog,
        bodies: MessageBodies,
        settings: MailSettings,
        clock: Clock = utc_now,
        on_queued: Callable[[list[str]], None] | None = None,
    ) -> None:
        self._view = view
        self._directory = directory
        self._log = log_
        self._bodies = bodies
        self._settings = settings
        self.clock = clock
        self._on_queued = on_queued

    async def _recipients(
        self, envelope: AnyEnvelope, proposal: Doc
    ) -> tuple[list[Recipient], list[str]]:
        """The recipients of an event (one per address), and the directory ids not found."""
        to = addressees(envelope.event_type, proposal, getattr(envelope.payload, "producer", None))
        found: list[Recipient] = []
        missing: list[str] = []
        for recipient_id in to.directory_ids:
            entry = await self._directory.get(recipient_id)
            if entry is None:
                missing.append(recipient_id)
            else:
                found.append(entry)
        applicant = next((r for r in found if r.recipient_id == proposal.get("applicant")), None)
        for email in to.contacts:  # addressed like the applicant; always immediate
            found.append(
                Recipient(
                    f"contact:{email}",
                    email,
                    applicant.name_th if applicant else proposal["area_name"]["th"],
                    applicant.name_en if applicant else proposal["area_name"]["en"],
                )
            )
        unique: dict[str, Recipient] = {}
        for r in found:
            unique.setdefault(r.email.lower(), r)
        return list(unique.values()), missing

    async def on_event(self, envelope: AnyEnvelope) -> None:
        """Queue the emails about one event (the sender sends them). A redelivered event
        queues nothing new: each email's id is (event id, address). An event about a proposal
        not known yet waits in the view, and is told once its submission is read (the rules:
        `services.notifications.view`)."""
        stage = stage_after(envelope.event_type)
        recorded = await self._view.record(
            envelope,
            stage.value if stage else None,
            needs_proposal=needs_proposal(envelope.event_type),
            now=self.clock(),
        )
        if recorded.held:
            HELD.inc()
            log.info(
                "notify.held_until_proposal_known",
                event_id=str(envelope.event_id),
                event_type=envelope.event_type,
                proposal_id=envelope.proposal_id,
            )
        else:
            await self._tell(envelope, recorded.state)
        state = recorded.state
        for held in recorded.released:
            earlier = parse_record(held.event_value.encode("utf-8"))
            state = view.applied(state, earlier, held.stage)
            if not view.is_known(state):
                log.warning(
                    "notify.told_without_proposal",
                    event_id=held.event_id,
                    proposal_id=envelope.proposal_id,
                    waited_since=held.held_at,
                )
            await self._tell(earlier, state)
            await self._view.release(envelope.proposal_id, held, earlier)

    async def _tell(self, envelope: AnyEnvelope, proposal: Doc) -> None:
        """Queue the emails about one event, given the proposal as known at that point.

        Store round trips: the bodies of all the event's emails (one bulk insert), then their
        delivery documents (one bulk insert). Bodies first: a crash in between leaves bodies
        without deliveries; the redelivered event's inserts keep those bodies and add the
        deliveries."""
        if envelope.event_type not in ROUTES or not has_template(envelope.event_type):
            return
        if not view.is_known(proposal):
            proposal = {**_unknown_proposal(envelope.proposal_id, envelope), **proposal}
        recipients, missing = await self._recipients(envelope, proposal)
        now = self.clock()
        source = current_source.get()
        event_value = envelope.model_dump_json()
        base: Doc = {
            "kind": "event",
            "event_id": str(envelope.event_id),
            "event_type": envelope.event_type,
            "proposal_id": envelope.proposal_id,
            "occurred_at": envelope.occurred_at,
            "created_at": now,
            "updated_at": now,
            "source": None
            if source is None
            else {"topic": source.topic, "partition": source.partition, "offset": source.offset},
            "trace": telemetry.capture(),  # the SMTP send continues the event's trace
        }
        immediate = envelope.event_type in CRITICAL
        bodies: list[Doc] = []
        deliveries: list[Doc] = []
        for r in recipients:
            status_url = self._settings.links.url(envelope.proposal_id)
            context = email_context(envelope, proposal, r, status_url)
            rendered = render(envelope, context)
            held = r.digest and not immediate
            delivery_id = f"{envelope.event_id}:{r.email.lower()}"
            bodies.append(
                {
                    "_id": delivery_id,
                    "text": rendered.text,
                    "html": rendered.html,
                    "event_value": event_value,
                    "created_at": now,
                }
            )
            deliveries.append(
                {
                    **base,
                    "_id": delivery_id,
                    "recipient_id": r.recipient_id,
                    "email": r.email,
                    "name_th": r.name_th,
                    "name_en": r.name_en,
                    "message_id": message_id(
                        str(envelope.event_id), r.email, self._settings.message_id_domain
                    ),
                    "subject": rendered.subject,
                    "timeline_url": context["timeline_url"],
                    "status": "held" if held else "queued",
                    "digest_id": None,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
            )
        failures: dict[str, str] = {}
        failure_events: dict[str, list[AnyEnvelope]] = {}
        for recipient_id in missing:
            error = f"no address for {recipient_id!r} in the recipients directory"
            failure = new_envelope(
                NotificationFailed(
                    about_event_id=str(envelope.event_id),
                    about_event_type=envelope.event_type,
                    recipient_id=recipient_id,
                    recipient_email=None,
                    message_id=None,
                    attempts=0,
                    error=error,
                ),
                producer=SERVICE_PRODUCER,
                proposal_id=envelope.proposal_id,
                cause=envelope,
            )
            delivery_id = f"{envelope.event_id}:missing:{recipient_id}"
            failures[delivery_id] = recipient_id
            failure_events[delivery_id] = [failure]
            bodies.append({"_id": delivery_id, "event_value": event_value, "created_at": now})
            deliveries.append(
                {
                    **base,
                    "_id": delivery_id,
                    "recipient_id": recipient_id,
                    "email": None,
                    "status": "failed",
                    "attempts": 0,
                    "last_error": error,
                    "failed_at": now,
                }
            )
        if not deliveries:
            return
        await self._bodies.put_many(bodies)
        queued = await self._log.queue_many(deliveries, failure_events)
        for d in deliveries:
            if d["_id"] in failures:
                continue
            if d["_id"] in queued:
                held = d["status"] == "held"
                QUEUED.labels(envelope.event_type, "digest" if held else "immediate").inc()
        # Every email of the event that is to be sent, not only those queued now: when this is
        # a redelivery (a rebalance, or a first try that failed half-way), the emails an earlier
        # delivery queued may have woken no sender. A wake-up for an email already sent or
        # leased costs one read (the claim finds nothing to do).
        ready = [d["_id"] for d in deliveries if d["status"] == "queued"]
        if self._on_queued is not None and ready:
            self._on_queued(ready)
        for delivery_id, recipient_id in failures.items():
            if delivery_id in queued:
                FAILED.labels(envelope.event_type, "no_recipient").inc()
                log.warning(
                    "notify.recipient_missing",
                    recipient_id=recipient_id,
                    event_id=str(envelope.event_id),
                )


class MissingBody(Exception):
    """A delivery whose message body is not in the store (deleted by hand): it cannot be sent."""


class Sender:
    """Sends queued emails; retries with exponential backoff and jitter while the SMTP server
    is unreachable; after the last attempt marks the email failed and dead-letters the event."""

    def __init__(
        self,
        log_: DeliveryLog,
        bodies: MessageBodies,
        mailer: SmtpMailer,
        dead_letters: DeadLetters,
        settings: MailSettings,
        clock: Clock = utc_now,
        rand: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._log = log_
        self._bodies = bodies
        self._mailer = mailer
        self._dead_letters = dead_letters
        self._settings = settings
        self._rand = rand
        self.clock = clock
        self._gauges_at = 0.0
        self._wake = asyncio.Event()
        self.scan_full = False
        """The last look through the delivery log found a full batch: look again at once."""
        self._mine: dict[str, dt.datetime] = {}
        """Emails this process queued or scheduled a retry of, and when each is due: sent by
        `_id` without a scan of the delivery log."""

    def wake(self, delivery_ids: list[str] | None = None) -> None:
        """Emails were just queued by this process: send them now."""
        now = self.clock()
        for delivery_id in delivery_ids or []:
            self._mine.setdefault(delivery_id, now)
        self._wake.set()

    async def send_due(self, *, scan: bool = True) -> int:
        """Send one batch of due emails, attempted concurrently (the SMTP connection is shared
        and serialised; the delivery-log writes and event publications overlap): those this
        process knows of, or (`scan`) any due in the delivery log, e.g. left by another
        process. Returns how many were taken up."""
        now = self.clock()
        ready = [i for i, at in self._mine.items() if at <= now][:SEND_BATCH]
        for delivery_id in ready:
            del self._mine[delivery_id]
        claimed = await asyncio.gather(
            *(self._log.claim(i, now) for i in ready), return_exceptions=True
        )
        due: list[Doc] = []
        for delivery_id, got in zip(ready, claimed, strict=True):
            if isinstance(got, BaseException):
                # The store failed us: keep the email, try it again in a moment.
                log.warning("notify.claim_failed", delivery_id=delivery_id, error=repr(got))
                self._mine[delivery_id] = now + dt.timedelta(seconds=1)
            elif got is not None:
                due.append(got)
        scanned = 0
        if scan and len(ready) < SEND_BATCH:
            found = await self._log.claim_due(now, limit=SEND_BATCH - len(ready))
            scanned = len(found)
            due += found
        if due:
            results = await asyncio.gather(
                *(self.attempt(doc) for doc in due), return_exceptions=True
            )
            for doc, result in zip(due, results, strict=True):
                if isinstance(result, BaseException):
                    # Leased to us but not settled: it is due again when the lease ends.
                    log.warning("notify.attempt_failed", delivery_id=doc["_id"], error=repr(result))
                    self._mine[doc["_id"]] = doc["next_attempt_at"]
        self.scan_full = scan and scanned >= SEND_BATCH - len(ready)
        return len(ready) + len(due)

    @staticmethod
    def _cause(about: Doc) -> AnyEnvelope | None:
        """The event an email is about, so that its result continues that conversation."""
        try:
            return parse_record(about["event_value"].encode("utf-8"))
        except (EnvelopeError, KeyError, AttributeError):
            return None

    @staticmethod
    def _about(doc: Doc, body: Doc | None) -> list[Doc]:
        """The events an email is about, each with its `event_value`: one, or each event of a
        digest (a digest carries its items' events itself)."""
        if doc.get("kind") == "digest":
            return list(doc["items"])
        return [{**doc, "event_value": (body or doc).get("event_value")}]

    async def _body(self, doc: Doc) -> Doc:
        """The email's text and html, and the event it is about: in the message bodies, or in
        the delivery itself for a digest (and for an email queued before the bodies moved)."""
        if "text" in doc:
            return doc
        body = await self._bodies.take(doc["_id"])
        if body is None or "text" not in body:
            raise MissingBody(f"no message body stored for delivery {doc['_id']!r}")
        return body

    async def attempt(self, doc: Doc) -> None:
        """One try at sending one email, in the trace of the event it is about (captured when
        it was queued), so that the SMTP send and its NotificationSent event join that trace."""
        with telemetry.restored(doc.get("trace")):
            await self._attempt(doc)

    async def _attempt(self, doc: Doc) -> None:
        attempts = int(doc.get("attempts", 0)) + 1
        headers = {
            "X-Smartcity-Event-Id": doc["event_id"],
            "X-Smartcity-Event-Type": doc["event_type"],
        }
        if doc.get("kind") != "digest":
            headers["X-Smartcity-Proposal-Id"] = doc["proposal_id"]
        body: Doc | None = None
        try:
            body = await self._body(doc)
            message = build_message(
                subject=doc["subject"],
                text=body["text"],
                html=body["html"],
                from_name=self._settings.from_name,
                from_email=self._settings.from_email,
                to_name=doc["name_th"],
                to_email=doc["email"],
                msg_id=doc["message_id"],
                extra_headers=headers,
            )
            with telemetry.span(
                telemetry.SMTP_SPAN,
                kind=SpanKind.CLIENT,
                attributes={
                    telemetry.ATTR_PROPOSAL_ID: doc.get("proposal_id"),
                    telemetry.ATTR_EVENT_TYPE: doc["event_type"],
                    telemetry.ATTR_EVENT_ID: doc["event_id"],
                    "smartcity.message_id": doc["message_id"],
                    "smartcity.recipient_id": doc["recipient_id"],
                    "smartcity.attempt": attempts,
                },
            ):
                reply = await self._mailer.send(message)
        except Exception as exc:
            await self._failed_attempt(doc, body, attempts, exc)
            return
        events = [
            new_envelope(
                NotificationSent(
                    about_event_id=a["event_id"],
                    about_event_type=a["event_type"],
                    recipient_id=doc["recipient_id"],
                    recipient_email=doc["email"],
                    message_id=doc["message_id"],
                    attempts=attempts,
                ),
                producer=SERVICE_PRODUCER,
                proposal_id=a["proposal_id"],
                cause=self._cause(a),
            )
            for a in self._about(doc, body)
        ]
        await self._log.mark_sent(doc["_id"], attempts, reply, self.clock(), events)
        SENT.labels(doc["event_type"]).inc()
        log.info("notify.sent", delivery_id=doc["_id"], attempts=attempts)

    async def _failed_attempt(
        self, doc: Doc, body: Doc | None, attempts: int, exc: Exception
    ) -> None:
        error = f"{type(exc).__name__}: {exc}"[:500]
        permanent = isinstance(exc, PermanentSmtpError | MissingBody)
        if not permanent and attempts < self._settings.max_attempts:
            delay = backoff_seconds(
                attempts, self._settings.base_delay, self._settings.max_delay, self._rand
            )
            log.warning(
                "notify.send_retry",
                delivery_id=doc["_id"],
                attempts=attempts,
                retry_in=round(delay, 2),
                error=error,
            )
            now = self.clock()
            next_at = now + dt.timedelta(seconds=delay)
            await self._log.mark_retry(doc["_id"], attempts, error, next_at, now)
            self._mine[doc["_id"]] = next_at
            return
        if body is None and not isinstance(exc, MissingBody):
            # The failure came before the body was read: read it for the dead letter.
            with contextlib.suppress(MissingBody):
                body = await self._body(doc)
        about = self._about(doc, body)
        # Dead letters first: if the store write below fails, the email is retried and the
        # dead letter may repeat (at least once), but it is never missing.
        for a in about:
            source = a.get("source") or {"topic": "", "partition": 0, "offset": 0}
            record = Record(
                topic=source["topic"],
                partition=source["partition"],
                offset=source["offset"],
                key=a["proposal_id"].encode(),
                value=(a.get("event_value") or "").encode(),
                headers=(),
            )
            await self._dead_letters.send(
                record,
                consumer="notifications-sender",
                kind="processing",
                error=f"email {doc['message_id']} to {doc['email']} failed after {attempts} "
                f"attempts: {error}",
                attempts=attempts,
                event_type=a["event_type"],
                event_id=a["event_id"],
            )
        events = [
            new_envelope(
                NotificationFailed(
                    about_event_id=a["event_id"],
                    about_event_type=a["event_type"],
                    recipient_id=doc["recipient_id"],
                    recipient_email=doc["email"],
                    message_id=doc["message_id"],
                    attempts=attempts,
                    error=error,
                ),
                producer=SERVICE_PRODUCER,
                proposal_id=a["proposal_id"],
                cause=self._cause(a),
            )
            for a in about
        ]
        await self._log.mark_failed(doc["_id"], attempts, error, self.clock(), events)
        FAILED.labels(doc["event_type"], "permanent" if permanent else "attempts").inc()
        log.error("notify.send_failed", delivery_id=doc["_id"], attempts=attempts, error=error)

    async def run(self, backstop_seconds: float) -> None:
        """Send as emails are queued (woken by the consumer of this process) and when a retry
        this process scheduled is due; look through the whole delivery log at start and then
        every `backstop_seconds`, busy or not (emails another process queued and did not send,
        or whose wake-up was lost), going on while a look finds a full batch."""
        scan = True
        scanned_at = time.monotonic()
        while True:
            try:
                self._wake.clear()
                if scan:
                    scanned_at = time.monotonic()
                batch = asyncio.ensure_future(self.send_due(scan=scan))
                try:
                    sent = await asyncio.shield(batch)
                except asyncio.CancelledError:
                    # Stopping (SIGTERM): let the emails in flight be recorded as sent before
                    # the process ends, or they would be sent again after the restart.
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(batch, STOP_GRACE_SECONDS)
                    raise
                busy = time.monotonic() - self._gauges_at >= GAUGE_REFRESH_BUSY_SECONDS
                if scan or (sent and busy):
                    await self.refresh_gauges()
                until_scan = backstop_seconds - (time.monotonic() - scanned_at)
                scan = self.scan_full or until_scan <= 0
                if sent or scan:
                    continue
                timeout = until_scan
                if self._mine:
                    first = min(self._mine.values())
                    timeout = min(timeout, max(0.0, (first - self.clock()).total_seconds()))
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except TimeoutError:
                    scan = time.monotonic() - scanned_at >= backstop_seconds
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("notify.sender_error", error=repr(exc))
                await asyncio.sleep(1.0)
                scan = True

    async def refresh_gauges(self) -> None:
        self._gauges_at = time.monotonic()
        stats = await self._log.stats(self.clock())
        RETRYING.set(stats["retrying"])
        QUEUE_AGE.set(stats["oldest_queued_age_seconds"])
        DIGEST_HELD.set(stats["held"])


class DigestScheduler:
    """Collects the emails held for digest recipients into one summary email each, at a daily
    cutoff (Thai time) or when asked (`send_digests(as_of)`, used by the admin API and tests)."""

    def __init__(
        self,
        log_: DeliveryLog,
        bodies: MessageBodies,
        settings: MailSettings,
        cutoff_hour: int,
        clock: Clock = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._log = log_
        self._bodies = bodies
        self._settings = settings
        self._cutoff_hour = cutoff_hour
        self.clock = clock
        self._sleep = sleep

    async def send_digests(self, as_of: dt.datetime | None = None) -> list[str]:
        """Queue one digest per recipient with held emails; returns the digest delivery ids."""
        as_of = as_of or self.clock()
        queued: list[str] = []
        for email in await self._log.held_recipients():
            did = digest_id(email, as_of)
            await self._log.claim_held(email, did)
        for did, items in (await self._log.claimed_items()).items():
            first = items[0]
            recipient = Recipient(
                first["recipient_id"], first["email"], first["name_th"], first["name_en"], True
            )
            rendered = render_digest(recipient, items, as_of)
            events = await asyncio.gather(*(self._event_value(i) for i in items))
            now = self.clock()
            doc: Doc = {
                "_id": did,
                "kind": "digest",
                "event_id": did,
                "event_type": DIGEST_TYPE,
                "proposal_id": None,
                "recipient_id": recipient.recipient_id,
                "email": recipient.email,
                "name_th": recipient.name_th,
                "name_en": recipient.name_en,
                "message_id": message_id(did, recipient.email, self._settings.message_id_domain),
                "subject": rendered.subject,
                "text": rendered.text,
                "html": rendered.html,
                "items": [
                    {
                        **{
                            k: i.get(k)
                            for k in (
                                "_id",
                                "event_id",
                                "event_type",
                                "proposal_id",
                                "subject",
                                "occurred_at",
                                "source",
                            )
                        },
                        "event_value": event_value,
                    }
                    for i, event_value in zip(items, events, strict=True)
                ],
                "status": "queued",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            if not await self._log.queue(doc):  # another instance queued this digest first
                stored = await self._log.store.get(did)
                included = {i["_id"] for i in (stored or {}).get("items", [])}
            else:
                included = {i["_id"] for i in items}
                QUEUED.labels(DIGEST_TYPE, "immediate").inc()
                queued.append(did)
            await self._log.settle_claimed(did, included)
        if queued:
            log.info("notify.digests_queued", count=len(queued), as_of=as_of.isoformat())
        return queued

    async def _event_value(self, item: Doc) -> str | None:
        """The original event of a held email (kept with its body; inline in an older one)."""
        if "event_value" in item:
            return str(item["event_value"])
        body = await self._bodies.get(item["_id"], ["event_value"])
        return None if body is None else body.get("event_value")

    async def run(self) -> None:
        while True:
            now = self.clock()
            cutoff = next_cutoff(now, self._cutoff_hour)
            await self._sleep(max(0.0, (cutoff - now).total_seconds()))
            try:
                await self.send_digests(cutoff)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("notify.digest_error", error=repr(exc))
