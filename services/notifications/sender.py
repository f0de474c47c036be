"""From queued emails to the SMTP server: lease due deliveries, try each once, and store
what follows (the rules: `smartcity_th.services.notifications.domain`)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import random
import time
from collections.abc import Sequence
from email.message import EmailMessage

import structlog
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from smartcity_th.contracts.approvals import CertificationAwarded
from smartcity_th.services.common import telemetry
from smartcity_th.services.common.certificate_document import (
    CertificateFacts,
    certificate_url,
    render_certificate,
)
from smartcity_th.services.common.certificate_document import (
    pdf_filename as certificate_pdf_filename,
)
from smartcity_th.services.common.record import Record
from smartcity_th.services.common.retry import Jitter
from smartcity_th.services.notifications import domain
from smartcity_th.services.notifications.domain import (
    Body,
    Clock,
    Delivery,
    GiveUp,
    MailSettings,
    utc_now,
)
from smartcity_th.services.notifications.messages import Attachment, build_message, pdf_filename
from smartcity_th.services.notifications.metrics import (
    DIGEST_HELD,
    FAILED,
    QUEUE_AGE,
    RETRYING,
    SENT,
)
from smartcity_th.services.notifications.pdf import LetterPdf, LetterPdfFailed
from smartcity_th.services.notifications.ports import (
    LEASE_SECONDS,
    Bodies,
    DeadLetterWriter,
    DeliveryLog,
    Mailer,
    PermanentSmtpError,
)
from smartcity_th.services.notifications.rendering import split_subject

log = structlog.get_logger(__name__)

# Each refresh reads every queued email of the delivery log: while emails are being attempted
# every few seconds (so that a burst of retries shows in the gauges while it lasts), when idle
# only at the backstop; never more often than keeps the refreshes under 1/GAUGE_COST_FACTOR of
# the time (a backlog of 20,000 queued emails refreshed after every batch took most of the
# store's CPU and held the sender to 3.6 emails/s in the thousand-proposal fault run).
GAUGE_REFRESH_BUSY_SECONDS = 2.0
GAUGE_COST_FACTOR = 20.0
# Emails in flight at once. Each one between the SMTP server's reply and the delivery-log write
# is sent again if the process is killed (same Message-ID): a small batch keeps that window small.
SEND_BATCH = 10
STOP_GRACE_SECONDS = 10.0
CONSUMER = "notifications-sender"


def letter_message(
    d: Delivery, body: Body, mail: MailSettings, attachments: Sequence[Attachment]
) -> EmailMessage:
    """The email of one delivery as it is sent: its text and HTML, From the sending office,
    Reply-To the owning unit, its copies in Cc, its Message-ID, the headers an agency's
    system files it by, and its attachments."""
    headers = {"X-Smartcity-Event-Id": d.event_id, "X-Smartcity-Event-Type": d.event_type}
    if d.kind != "digest":
        headers["X-Smartcity-Proposal-Id"] = d.proposal_id or ""
    if d.letter is not None:
        headers["X-Smartcity-Letter-Number"] = d.letter.number_en
    office = mail.office
    return build_message(
        subject=d.subject or "",
        text=body.text or "",
        html=body.html or "",
        from_name=mail.from_name,
        from_email=mail.from_email,
        to_name=d.name_th or "",
        to_email=d.email or "",
        msg_id=d.message_id or "",
        cc=d.cc,
        reply_to=(office.unit.th, str(office.email)),
        extra_headers=headers,
        attachments=attachments,
    )


class MissingBody(Exception):
    """A delivery whose message body is not in the store (deleted by hand): it cannot be sent."""


class Sender:
    """Sends queued emails, each with its letter as a PDF rendered at send time from the
    stored HTML part; retries with exponential backoff and jitter while the SMTP server is
    unreachable; after the last attempt marks the email failed and dead-letters the event."""

    def __init__(
        self,
        log_: DeliveryLog,
        bodies: Bodies,
        mailer: Mailer,
        letters: LetterPdf,
        dead_letters: DeadLetterWriter,
        settings: MailSettings,
        clock: Clock = utc_now,
        rand: Jitter = random.uniform,
    ) -> None:
        self._log = log_
        self._bodies = bodies
        self._mailer = mailer
        self._letters = letters
        self._dead_letters = dead_letters
        self._settings = settings
        self._rand = rand
        self.clock = clock
        self._gauges_at = 0.0
        self._gauges_took = 0.0
        self._wake = asyncio.Event()
        self.scan_full = False
        """The last look through the delivery log found a full batch: look again at once."""
        self._mine: dict[str, dt.datetime] = {}
        """Emails this process queued or scheduled a retry of, and when each is due: sent by
        `_id` without a scan of the delivery log."""
        self._leased: dict[str, Delivery] = {}
        """Emails this process queued already leased to this sender (as stored): sent without
        a claim while at least half of the lease is left."""

    def wake(self, delivery_ids: list[str] | None = None, leased: Sequence[Delivery] = ()) -> None:
        """Emails were just queued by this process: send them now (`leased`: those queued
        leased to this sender)."""
        now = self.clock()
        for d in leased:
            self._leased[d.delivery_id] = d
        for delivery_id in delivery_ids or []:
            self._mine.setdefault(delivery_id, now)
        self._wake.set()

    def _taken(self, delivery_id: str, now: dt.datetime) -> Delivery | None:
        """An email queued leased to this sender, while enough of its lease is left to send
        it (else it is scheduled for when the lease ends, and claimed then)."""
        d = self._leased.pop(delivery_id, None)
        if d is None or d.next_attempt_at is None:
            return None
        if d.next_attempt_at - now >= dt.timedelta(seconds=LEASE_SECONDS / 2):
            return d
        self._mine[delivery_id] = d.next_attempt_at
        return None

    async def send_due(self, *, scan: bool = True) -> int:
        """Send one batch of due emails, attempted concurrently (the SMTP connection is shared
        and serialised; the delivery-log writes and event publications overlap): those this
        process knows of, or (`scan`) any due in the delivery log, e.g. left by another
        process. Returns how many were taken up."""
        now = self.clock()
        ready = [i for i, at in self._mine.items() if at <= now][:SEND_BATCH]
        for delivery_id in ready:
            del self._mine[delivery_id]
        due: list[Delivery] = []
        to_claim: list[str] = []
        for delivery_id in ready:
            if delivery_id in self._leased:
                taken = self._taken(delivery_id, now)
                if taken is not None:
                    due.append(taken)
            else:
                to_claim.append(delivery_id)
        claimed = await asyncio.gather(
            *(self._log.claim(i, now, LEASE_SECONDS) for i in to_claim), return_exceptions=True
        )
        for delivery_id, got in zip(to_claim, claimed, strict=True):
            if isinstance(got, BaseException):
                # The store failed us: keep the email, try it again in a moment.
                log.warning("notify.claim_failed", delivery_id=delivery_id, error=repr(got))
                self._mine[delivery_id] = now + dt.timedelta(seconds=1)
            elif isinstance(got, dt.datetime):
                # Leased to a sender (one that died, after a redelivery) or waiting for its
                # next attempt: try again when it is due.
                self._mine[delivery_id] = got
            elif got is not None:
                due.append(got)
        scanned = 0
        if scan and len(ready) < SEND_BATCH:
            found = await self._log.claim_due(now, limit=SEND_BATCH - len(ready))
            scanned = len(found)
            due += found
        if due:
            results = await asyncio.gather(*(self.attempt(d) for d in due), return_exceptions=True)
            for d, result in zip(due, results, strict=True):
                if isinstance(result, BaseException) and d.next_attempt_at is not None:
                    # Leased to us but not settled: it is due again when the lease ends.
                    log.warning(
                        "notify.attempt_failed", delivery_id=d.delivery_id, error=repr(result)
                    )
                    self._mine[d.delivery_id] = d.next_attempt_at
        self.scan_full = scan and scanned >= SEND_BATCH - len(ready)
        return len(ready) + len(due)

    async def _body(self, delivery: Delivery) -> Body:
        """The email's text and html, and the event it is about: in the message bodies, or in
        the delivery itself for a digest (and for an email queued before the bodies moved)."""
        if delivery.text is not None:
            return Body(
                delivery.delivery_id,
                delivery.event_value,
                delivery.created_at,
                delivery.text,
                delivery.html,
            )
        body = await self._bodies.take(delivery.delivery_id)
        if body is None or body.text is None:
            raise MissingBody(f"no message body stored for delivery {delivery.delivery_id!r}")
        return body

    async def attempt(self, delivery: Delivery) -> None:
        """One try at sending one email, in the trace of the event it is about (captured when
        it was queued), so that the SMTP send and its NotificationSent event join that trace."""
        with telemetry.restored(delivery.trace):
            await self._attempt(delivery)

    async def _attempt(self, d: Delivery) -> None:
        attempts = d.attempts + 1
        body: Body | None = None
        try:
            body = await self._body(d)
            attachments: list[Attachment] = []
            if self._settings.pdf:
                letter = Attachment(
                    pdf_filename(split_subject(d.subject or "")[1], d.proposal_id),
                    await self._letters.render_async(body.html or ""),
                )
                attachments = [letter, *await self._enclosed(d, body)]
            message = letter_message(d, body, self._settings, attachments)
            with telemetry.span(
                telemetry.SMTP_SPAN,
                kind=SpanKind.CLIENT,
                attributes={
                    telemetry.ATTR_PROPOSAL_ID: d.proposal_id,
                    telemetry.ATTR_EVENT_TYPE: d.event_type,
                    telemetry.ATTR_EVENT_ID: d.event_id,
                    "smartcity.message_id": d.message_id,
                    "smartcity.recipient_id": d.recipient_id,
                    "smartcity.attempt": attempts,
                    **self._mailer.server_attributes,
                },
            ):
                accepted = await self._mailer.send(message)
        except Exception as exc:
            await self._failed_attempt(d, body, attempts, exc)
            return
        if accepted.refused:
            await self._resend(d, body, accepted.refused)
        sent = domain.sent(d, domain.about(d, body), attempts)
        await self._log.mark_sent(
            d.delivery_id, attempts, accepted.reply, self.clock(), sent.events
        )
        SENT.labels(d.event_type).inc()
        log.info("notify.sent", delivery_id=d.delivery_id, attempts=attempts)

    async def _enclosed(self, d: Delivery, body: Body) -> list[Attachment]:
        """What the letter encloses besides itself: the award letter, the certificate as its
        own PDF, from the award as approvals published it (sealed there, not here)."""
        if d.kind == "digest" or d.event_type != "CertificationAwarded":
            return []
        envelope = json.loads(body.event_value or "{}")
        award = CertificationAwarded.model_validate(envelope.get("payload") or {})
        facts = CertificateFacts(
            award,
            str(envelope.get("proposal_id") or d.proposal_id or ""),
            certificate_url(self._settings.certificate_url, award.certificate_number),
        )
        return [
            Attachment(
                certificate_pdf_filename(award.certificate_number),
                await self._letters.render_async(render_certificate(facts), "certificate"),
            )
        ]

    async def _resend(self, d: Delivery, body: Body, refused: dict[str, str]) -> None:
        """Queue the letter again, alone, to each recipient the server refused (before the
        email is marked sent: a crash in between sends the email again, never loses them)."""
        again = domain.resends(d, refused, self.clock())
        log.warning(
            "notify.recipients_refused",
            delivery_id=d.delivery_id,
            refused={a: r[:200] for a, r in refused.items()},
        )
        await self._bodies.put_many(
            [
                Body(r.delivery_id, body.event_value, r.created_at, body.text, body.html)
                for r in again
            ]
        )
        queued = await self._log.queue_many(again)
        self.wake([r.delivery_id for r in again if r.delivery_id in queued])

    async def _failed_attempt(
        self, d: Delivery, body: Body | None, attempts: int, exc: Exception
    ) -> None:
        now = self.clock()
        next_ = domain.after_failure(
            attempts,
            f"{type(exc).__name__}: {exc}",
            self._settings,
            permanent=isinstance(
                exc, PermanentSmtpError | MissingBody | LetterPdfFailed | ValidationError
            ),
            now=now,
            rand=self._rand,
        )
        if not isinstance(next_, GiveUp):
            log.warning(
                "notify.send_retry",
                delivery_id=d.delivery_id,
                attempts=attempts,
                retry_in=round(next_.delay, 2),
                error=next_.error,
            )
            await self._log.mark_retry(
                d.delivery_id, attempts, next_.error, next_.next_attempt_at, now
            )
            self._mine[d.delivery_id] = next_.next_attempt_at
            return
        if body is None and not isinstance(exc, MissingBody):
            # The failure came before the body was read: read it for the dead letter.
            with contextlib.suppress(MissingBody):
                body = await self._body(d)
        failed = domain.failed(d, domain.about(d, body), next_)
        # Dead letters first: if the store write below fails, the email is retried and the
        # dead letter may repeat (at least once), but it is never missing.
        for a in failed.about:
            source = a.source
            await self._dead_letters.send(
                Record(
                    topic=source.topic if source else "",
                    partition=source.partition if source else 0,
                    offset=source.offset if source else 0,
                    key=a.proposal_id.encode(),
                    value=(a.event_value or "").encode(),
                    headers=(),
                ),
                consumer=CONSUMER,
                kind="processing",
                error=failed.dead_letter_reason(d),
                attempts=attempts,
                event_type=a.event_type,
                event_id=a.event_id,
            )
        await self._log.mark_failed(
            d.delivery_id, attempts, failed.error, self.clock(), failed.events
        )
        FAILED.labels(d.event_type, "permanent" if failed.permanent else "attempts").inc()
        log.error(
            "notify.send_failed", delivery_id=d.delivery_id, attempts=attempts, error=failed.error
        )

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
                every = max(GAUGE_REFRESH_BUSY_SECONDS, GAUGE_COST_FACTOR * self._gauges_took)
                if (scan or sent) and time.monotonic() - self._gauges_at >= every:
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
        self._gauges_at = started = time.monotonic()
        stats = await self._log.stats(self.clock())
        self._gauges_took = time.monotonic() - started
        RETRYING.set(stats["retrying"])
        QUEUE_AGE.set(stats["oldest_queued_age_seconds"])
        DIGEST_HELD.set(stats["held"])
