"""From an event to queued emails: record it in the view, gather whom it goes to, and store
the deliveries that `smartcity_th.services.notifications.domain` plans (the sender sends them:
`smartcity_th.services.notifications.sender`; digests:
`smartcity_th.services.notifications.digest`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace

import structlog

from smartcity_th.contracts.envelope import AnyEnvelope, parse_record
from smartcity_th.contracts.refusal import Refusal
from smartcity_th.contracts.workflow import stage_after
from smartcity_th.services.common import telemetry
from smartcity_th.services.common.context import current_source
from smartcity_th.services.common.documents import Doc
from smartcity_th.services.notifications import domain, refusals, view
from smartcity_th.services.notifications.adapters.view import ProposalsView
from smartcity_th.services.notifications.domain import (
    Clock,
    Delivery,
    MailSettings,
    Recipient,
    utc_now,
)
from smartcity_th.services.notifications.letters import addressing, needs_proposal
from smartcity_th.services.notifications.metrics import (
    FAILED,
    HELD,
    HISTORY,
    QUEUED,
    REVIEW,
)
from smartcity_th.services.notifications.ports import (
    Bodies,
    DeliveryLog,
    LetterNumbers,
    Recipients,
)

log = structlog.get_logger(__name__)


class NotificationHandlers:
    def __init__(
        self,
        view: ProposalsView,
        directory: Recipients,
        log_: DeliveryLog,
        bodies: Bodies,
        settings: MailSettings,
        register: LetterNumbers,
        clock: Clock = utc_now,
        on_queued: Callable[[list[str], list[Delivery]], None] | None = None,
        lease_seconds: float | None = None,
    ) -> None:
        """`on_queued(ids, leased)` wakes this process's sender with the ids of an event's
        emails to send; with `lease_seconds`, those queued now are queued leased to that
        sender (`leased`, as stored), which sends them without a claim."""
        self._view = view
        self._directory = directory
        self._register = register
        self._log = log_
        self._bodies = bodies
        self._settings = settings
        self.clock = clock
        self._on_queued = on_queued
        self._lease_seconds = lease_seconds if on_queued is not None else None

    async def _letter(
        self, envelope: AnyEnvelope, proposal: Doc
    ) -> tuple[domain.Letter | None, list[str]]:
        """The event's letter as addressed (None when its addressee has no directory entry),
        and the directory ids not found."""
        to = addressing(envelope.event_type, proposal, getattr(envelope.payload, "producer", None))
        if to is None:
            return None, []
        if not to.to:
            return None, []  # no addressee can be named (a proposal never known)
        addressee = await self._directory.get(to.to)
        if addressee is None:
            return None, [to.to]  # no letter without its addressee; the failure says why
        missing: list[str] = []
        copies: list[Recipient] = []
        for recipient_id in to.cc:
            entry = await self._directory.get(recipient_id)
            if entry is None:
                missing.append(recipient_id)
            else:
                copies.append(entry)
        letter = domain.address_letter(envelope.event_type, addressee, copies, to.contacts)
        return letter, missing

    async def _plan(self, envelope: AnyEnvelope, known: Doc) -> domain.Plan:
        """The event's letter, addressed, numbered and rendered, as the data is now."""
        proposal = domain.letter_proposal(envelope, known)
        letter, missing = await self._letter(envelope, proposal)
        number = numbered_at = None
        if letter is not None:
            now = self.clock()
            issued = await self._register.issue(
                domain.register_id_now(self._settings.office, now),
                domain.letter_id(envelope, letter.to.recipient_id),
                now=now,
            )
            number, numbered_at = issued.number, issued.at
        return domain.plan_event(
            envelope,
            proposal,
            letter,
            missing,
            self._settings,
            now=self.clock(),
            number=number,
            numbered_at=numbered_at,
            source=current_source.get(),
            trace=telemetry.capture(),  # the SMTP send continues the event's trace
        )

    async def release(self, delivery_id: str) -> Refusal | None:
        """An operator releases a letter proofreading held, after fixing the data: it is
        rendered again from its event and the data as they are now, and queued if it passes
        (its held copies go back to their digests). Returns None when it is released, else
        why not: no such letter held for review, or what proofreading still finds."""
        held = await self._log.get(delivery_id)
        if held is None or held.status != "review" or held.copy_of is not None:
            return refusals.not_held_for_review(delivery_id)
        value = await self._bodies.event_value(delivery_id)
        if value is None:
            return refusals.still_faulty(["the event this letter is about is not stored any more"])
        envelope = parse_record(value.encode("utf-8"))
        plan = await self._plan(envelope, await self._view.get(envelope.proposal_id) or {})
        planned = {d.delivery_id: d for d in plan.deliveries}
        main = planned.get(delivery_id)
        if main is None:
            problems = [
                "the letter now goes to another address: withdraw it and tell the event again"
            ]
        elif main.status == "review":
            problems = (main.last_error or "").split("; ")
        else:
            problems = []
        if problems:
            await self._log.still_held(delivery_id, problems, self.clock())
            return refusals.still_faulty(problems)
        ours = [
            d for d in plan.deliveries if d.delivery_id == delivery_id or d.copy_of == delivery_id
        ]
        ids = {d.delivery_id for d in ours}
        await self._bodies.replace_many([b for b in plan.bodies if b.delivery_id in ids])
        for d in ours:
            await self._log.release(d, self.clock())
        log.info("notify.letter_released", delivery_id=delivery_id)
        if self._on_queued is not None:
            self._on_queued([delivery_id], [])
        return None

    async def on_event(self, envelope: AnyEnvelope) -> None:
        """Queue the emails about one event (the sender sends them). A redelivered event
        queues nothing new: each email's id is (event id, address). An event about a proposal
        not known yet waits in the view, and is told once its submission is read (the rules:
        `smartcity_th.services.notifications.view`)."""
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
        for told in view.tellings(recorded):
            if not told.known:
                log.warning(
                    "notify.told_without_proposal",
                    event_id=told.held.event_id,
                    proposal_id=envelope.proposal_id,
                    waited_since=told.held.held_at,
                )
            await self._tell(told.envelope, told.state)
            await self._view.release(envelope.proposal_id, told.held, told.envelope)

    async def _tell(self, envelope: AnyEnvelope, proposal: Doc) -> None:
        """Queue the emails about one event, given the proposal as known at that point.

        Store round trips: the bodies of all the event's emails (one bulk insert), then each
        delivery's first commit, which leases it to this process's sender when there is one.
        Bodies first: a crash in between leaves bodies without deliveries; the redelivered
        event's inserts keep those bodies and add the deliveries."""
        if not domain.is_told(envelope.event_type):
            return
        if domain.before_go_live(envelope, self._settings):
            HISTORY.labels(envelope.event_type).inc()
            return
        plan = await self._plan(envelope, proposal)
        if not plan.deliveries:
            return
        await self._bodies.put_many(plan.bodies)
        leased_until = (
            None
            if self._lease_seconds is None
            else self.clock() + dt.timedelta(seconds=self._lease_seconds)
        )
        queued = await self._log.queue_many(plan.deliveries, plan.events, leased_until=leased_until)
        for d in plan.deliveries:
            if d.delivery_id in plan.failures or d.delivery_id not in queued:
                continue
            QUEUED.labels(
                envelope.event_type, "digest" if d.status == "held" else "immediate"
            ).inc()
        # Every email of the event that is to be sent, not only those queued now: when this is
        # a redelivery (a rebalance, or a first try that failed half-way), the emails an earlier
        # delivery queued may have woken no sender. A wake-up for an email already sent or
        # leased costs one read (the claim finds nothing to do).
        if self._on_queued is not None and plan.ready:
            leased = [
                replace(d, next_attempt_at=leased_until)
                for d in plan.deliveries
                if leased_until is not None and d.status == "queued" and d.delivery_id in queued
            ]
            self._on_queued(plan.ready, leased)
        for delivery_id, held in plan.held.items():
            if delivery_id in queued:
                REVIEW.labels(envelope.event_type).inc()
                log.warning(
                    "notify.letter_held_for_review",
                    delivery_id=delivery_id,
                    problems=getattr(held.payload, "problems", []),
                )
        for d in plan.deliveries:
            if d.delivery_id in plan.failures and d.delivery_id in queued:
                FAILED.labels(envelope.event_type, "no_recipient").inc()
                log.warning(
                    "notify.recipient_missing",
                    recipient_id=d.recipient_id,
                    event_id=str(envelope.event_id),
                )
