"""From an event to queued emails (consumer side) and from queued emails to the SMTP server
(sender side). Thin: the routing table, templates and message building do the deciding."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import Counter, Gauge

from contracts.envelope import AnyEnvelope, new_envelope
from contracts.notifications import NotificationFailed, NotificationSent
from contracts.workflow import stage_after
from services.common.consumer import DeadLetters, Record, is_transient
from services.common.context import current_source
from services.common.outbox import OutboxPublisher, outbox_entry
from services.notifications.adapters.directory import Recipient, RecipientsDirectory
from services.notifications.adapters.smtp import PermanentSmtpError, SmtpMailer
from services.notifications.adapters.store import DeliveryLog, ProposalsView
from services.notifications.messages import build_message, message_id
from services.notifications.rendering import has_template, render
from services.notifications.routing import ROLE_AGENCY, ROUTES, Role, governor_office_id

log = structlog.get_logger(__name__)

SERVICE_PRODUCER = "svc-notifications"
SENT = Counter("smartcity_emails_sent_total", "Emails accepted by the SMTP server", ["event_type"])
FAILED = Counter("smartcity_emails_failed_total", "Emails given up on", ["event_type", "reason"])
RETRYING = Gauge("smartcity_emails_retrying", "Queued emails that have failed at least once")
QUEUE_AGE = Gauge("smartcity_email_queue_oldest_age_seconds", "Age of the oldest queued email")

Doc = dict[str, Any]


@dataclass(frozen=True)
class MailSettings:
    from_name: str
    from_email: str
    message_id_domain: str
    console_url: str
    max_attempts: int
    base_delay: float
    max_delay: float


def _unknown_proposal(proposal_id: str) -> Doc:
    dash = {"th": "-", "en": "-"}
    return {"_id": proposal_id, "area_name": dash, "province": {"name_th": "-", "name_en": "-"},
            "stage": None, "contact_emails": [], "applicant": None}


class NotificationHandlers:
    def __init__(self, view: ProposalsView, directory: RecipientsDirectory, log_: DeliveryLog,
                 settings: MailSettings,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._view = view
        self._directory = directory
        self._log = log_
        self._settings = settings
        self.clock = clock

    async def _recipients(self, envelope: AnyEnvelope, proposal: Doc
                          ) -> tuple[list[Recipient], list[str]]:
        """The recipients of an event, and the directory ids that could not be found."""
        found: list[Recipient] = []
        missing: list[str] = []

        async def add(recipient_id: str | None) -> None:
            if not recipient_id:
                return
            entry = await self._directory.get(recipient_id)
            if entry is None:
                missing.append(recipient_id)
            else:
                found.append(entry)

        for role in ROUTES.get(envelope.event_type, ()):
            if role is Role.APPLICANT:
                await add(proposal.get("applicant"))
                applicant = found[-1] if found and found[-1].recipient_id == \
                    proposal.get("applicant") else None
                for email in proposal.get("contact_emails", []):
                    found.append(Recipient(
                        f"contact:{email}", email,
                        applicant.name_th if applicant else proposal["area_name"]["th"],
                        applicant.name_en if applicant else proposal["area_name"]["en"]))
            elif role is Role.PROVINCE:
                code = proposal.get("province", {}).get("code")
                await add(governor_office_id(code) if code else None)
            elif role is Role.PRODUCER:
                await add(getattr(envelope.payload, "producer", None))
            else:
                await add(ROLE_AGENCY[role])
        unique: dict[str, Recipient] = {}
        for r in found:
            unique.setdefault(r.email.lower(), r)
        return list(unique.values()), missing

    async def on_event(self, envelope: AnyEnvelope) -> None:
        """Queue the emails about one event (the sender sends them)."""
        stage = stage_after(envelope.event_type)
        await self._view.record(envelope, stage.value if stage else None)
        if envelope.event_type not in ROUTES or not has_template(envelope.event_type):
            return
        proposal = await self._view.get(envelope.proposal_id) or _unknown_proposal(
            envelope.proposal_id)
        recipients, missing = await self._recipients(envelope, proposal)
        now = self.clock()
        source = current_source.get()
        base: Doc = {
            "event_id": str(envelope.event_id), "event_type": envelope.event_type,
            "proposal_id": envelope.proposal_id, "created_at": now, "updated_at": now,
            "event_value": envelope.model_dump_json(),
            "source": None if source is None else {"topic": source.topic,
                                                   "partition": source.partition,
                                                   "offset": source.offset},
            "outbox": [],
        }
        timeline_url = f"{self._settings.console_url}/proposals/{envelope.proposal_id}"
        for r in recipients:
            rendered = render(envelope, {
                "proposal": {**proposal, "proposal_id": envelope.proposal_id},
                "recipient": r, "stage": proposal.get("stage") or (stage.value if stage else
                                                                    "submitted"),
                "timeline_url": timeline_url})
            delivery_id = f"{envelope.event_id}:{r.email.lower()}"
            doc = {**base, "_id": delivery_id, "recipient_id": r.recipient_id, "email": r.email,
                   "name_th": r.name_th, "name_en": r.name_en,
                   "message_id": message_id(str(envelope.event_id), r.email,
                                            self._settings.message_id_domain),
                   "subject": rendered.subject, "text": rendered.text, "html": rendered.html,
                   "status": "queued", "attempts": 0, "next_attempt_at": now}
            await self._log.queue(doc)
        for recipient_id in missing:
            failure = new_envelope(
                NotificationFailed(about_event_id=str(envelope.event_id),
                                   about_event_type=envelope.event_type,
                                   recipient_id=recipient_id, recipient_email=None,
                                   message_id=None, attempts=0,
                                   error=f"no address for {recipient_id} in the recipients "
                                         "directory"),
                producer=SERVICE_PRODUCER, proposal_id=envelope.proposal_id, cause=envelope)
            FAILED.labels(envelope.event_type, "no_recipient").inc()
            log.warning("notify.recipient_missing", recipient_id=recipient_id)
            await self._log.queue({**base, "_id": f"{envelope.event_id}:missing:{recipient_id}",
                                   "recipient_id": recipient_id, "email": None,
                                   "status": "failed", "attempts": 0,
                                   "last_error": failure.payload.error, "failed_at": now,
                                   "outbox": [outbox_entry(failure)]})


class Sender:
    """Sends queued emails; retries with exponential backoff and jitter while the SMTP server
    is unreachable; after the last attempt marks the email failed and dead-letters the event."""

    def __init__(self, log_: DeliveryLog, mailer: SmtpMailer, publisher: OutboxPublisher,
                 dead_letters: DeadLetters, settings: MailSettings,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._log = log_
        self._mailer = mailer
        self._publisher = publisher
        self._dead_letters = dead_letters
        self._settings = settings
        self.clock = clock

    def _backoff(self, attempts: int) -> float:
        ceiling = min(self._settings.max_delay, self._settings.base_delay * 2 ** (attempts - 1))
        return random.uniform(ceiling / 2, ceiling)

    async def send_due(self) -> int:
        now = self.clock()
        due = await self._log.claim_due(now)
        for doc in due:
            await self.attempt(doc)
        return len(due)

    async def attempt(self, doc: Doc) -> None:
        attempts = int(doc.get("attempts", 0)) + 1
        envelope_type = doc["event_type"]
        message = build_message(
            subject=doc["subject"], text=doc["text"], html=doc["html"],
            from_name=self._settings.from_name, from_email=self._settings.from_email,
            to_name=doc["name_th"], to_email=doc["email"], msg_id=doc["message_id"],
            extra_headers={"X-Smartcity-Event-Id": doc["event_id"],
                           "X-Smartcity-Event-Type": envelope_type,
                           "X-Smartcity-Proposal-Id": doc["proposal_id"]})
        try:
            reply = await self._mailer.send(message)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, none is lost
            await self._failed_attempt(doc, attempts, exc)
            return
        sent = new_envelope(
            NotificationSent(about_event_id=doc["event_id"], about_event_type=envelope_type,
                             recipient_id=doc["recipient_id"], recipient_email=doc["email"],
                             message_id=doc["message_id"], attempts=attempts),
            producer=SERVICE_PRODUCER, proposal_id=doc["proposal_id"])
        if await self._log.mark_sent(doc["_id"], attempts, reply, self.clock(), sent):
            SENT.labels(envelope_type).inc()
            await self._publisher.try_flush(self._log.collection, doc["_id"])

    async def _failed_attempt(self, doc: Doc, attempts: int, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        permanent = isinstance(exc, PermanentSmtpError) or not (
            is_transient(exc) or isinstance(exc, OSError) or "SMTP" in type(exc).__name__)
        if not permanent and attempts < self._settings.max_attempts:
            delay = self._backoff(attempts)
            log.warning("notify.send_retry", delivery_id=doc["_id"], attempts=attempts,
                        retry_in=round(delay, 2), error=error)
            await self._log.mark_retry(doc["_id"], attempts, error,
                                       self.clock() + dt.timedelta(seconds=delay), self.clock())
            return
        failed = new_envelope(
            NotificationFailed(about_event_id=doc["event_id"], about_event_type=doc["event_type"],
                               recipient_id=doc["recipient_id"], recipient_email=doc["email"],
                               message_id=doc["message_id"], attempts=attempts, error=error[:500]),
            producer=SERVICE_PRODUCER, proposal_id=doc["proposal_id"])
        if not await self._log.mark_failed(doc["_id"], attempts, error, self.clock(), failed):
            return
        FAILED.labels(doc["event_type"], "permanent" if permanent else "attempts").inc()
        log.error("notify.send_failed", delivery_id=doc["_id"], attempts=attempts, error=error)
        await self._publisher.try_flush(self._log.collection, doc["_id"])
        source = doc.get("source") or {"topic": "", "partition": 0, "offset": 0}
        record = Record(topic=source["topic"], partition=source["partition"],
                        offset=source["offset"], key=doc["proposal_id"].encode(),
                        value=doc["event_value"].encode(), headers=())
        await self._dead_letters.send(
            record, consumer="notifications-sender", kind="processing",
            error=f"email to {doc['email']} failed after {attempts} attempts: {error}",
            attempts=attempts, event_type=doc["event_type"], event_id=doc["event_id"])

    async def run(self, poll_seconds: float) -> None:
        while True:
            try:
                if not await self.send_due():
                    await self.refresh_gauges()
                    await asyncio.sleep(poll_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep sending through store outages
                log.warning("notify.sender_error", error=repr(exc))
                await asyncio.sleep(poll_seconds)

    async def refresh_gauges(self) -> None:
        now = self.clock()
        RETRYING.set(await self._log.collection.count_documents(
            {"status": "queued", "attempts": {"$gt": 0}}))
        oldest = await self._log.collection.find_one({"status": "queued"},
                                                     sort=[("created_at", 1)])
        QUEUE_AGE.set(0 if oldest is None else (now - oldest["created_at"]).total_seconds())
