"""Thin orchestration: load the case, decide, commit (the store retries a lost race and
publishes).

HTTP requests and intake claims end in the same place: `DecisionHandlers.handle_claim`."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from prometheus_client import Counter, Histogram

from smartcity_th.contracts.agencies import (
    Agency,
    agency,
    authorise_producer,
    find_producer,
)
from smartcity_th.contracts.approvals import (
    AwardCertification,
    CertificationAwarded,
    CertificationRenewed,
    MeetingDecision,
    MeetingRecorded,
)
from smartcity_th.contracts.authorisation import authorise
from smartcity_th.contracts.catalogue import EVENTS, claims_for
from smartcity_th.contracts.certificate_seal import seal
from smartcity_th.contracts.common import Contract, Stage
from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.refusal import Refusal, RefusalKind, refusal
from smartcity_th.kit import ClaimSigner
from smartcity_th.services.approvals.adapters.repository import CaseRepository
from smartcity_th.services.approvals.domain import (
    DECISION_TYPES,
    DEFAULT_RULES,
    Case,
    Outcome,
    Rules,
    apply,
    award_request_date,
    certification,
    claim_fact_id,
    due_reminder,
    may_award,
    meeting_fact_id,
    meeting_payload,
    renewal,
    scan_as_of,
)
from smartcity_th.services.approvals.domain import decide as decide_claim
from smartcity_th.services.common.context import note_refusal
from smartcity_th.services.common.dead_letters import Unprocessable

log = structlog.get_logger(__name__)

R = TypeVar("R")

PROPOSAL_FACTS = frozenset(claims_for("proposals"))
"""The proposals service's facts that open or change a case (its own refusals do not)."""
CLAIM_TYPES = frozenset(claims_for("approvals"))
MEETING_CONCURRENCY = 8

REFUSALS = Counter(
    "smartcity_approvals_refusals_total", "Decisions refused", ["kind", "event_type"]
)
REMINDERS = Counter(
    "smartcity_approvals_deadline_reminders_total",
    "Delivery deadline reminders emitted",
    ["threshold"],
)

STAGE_TRANSITIONS = Counter(
    "smartcity_stage_transitions_total",
    "Proposals that moved from one stage to another",
    ["from_stage", "to_stage"],
)
STAGE_DURATION = Histogram(
    "smartcity_stage_duration_seconds",
    "How long a proposal stayed at a stage before it moved on (by the events' times)",
    ["stage"],
    buckets=(
        1,
        10,
        60,
        600,
        3600,
        6 * 3600,
        86400,
        7 * 86400,
        30 * 86400,
        90 * 86400,
        180 * 86400,
        365 * 86400,
        730 * 86400,
    ),
)

Clock = Callable[[], dt.datetime]


def stage_time(before: Case | None, outcome: Outcome) -> tuple[str, str, float] | None:
    """(stage left, stage entered, seconds spent at the stage left) when `outcome` moved a
    case, by the times of the events that entered and left the stage."""
    entry = outcome.history_entry
    if before is None or entry is None or not entry.get("from") or not entry.get("to"):
        return None
    entered = next((h["at"] for h in reversed(before.history) if h.get("to")), None)
    if entered is None:
        return None
    return entry["from"], entry["to"], max(0.0, (entry["at"] - entered).total_seconds())


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def refused_outcome(kind: RefusalKind) -> str:
    """A refused decision's `outcome` (the API's word): `refused` for a conflict with the
    case's stage, else the refusal's kind (`unauthorised`, `unknown_proposal`)."""
    return "refused" if kind is RefusalKind.CONFLICT else kind.value


@dataclass(frozen=True)
class NeedsNumber:
    """A decision to award that needs its certificate number (of this Buddhist-era year)."""

    be_year: int


REFUSED = frozenset({"refused", "unauthorised", "unknown_proposal"})


@dataclass(frozen=True)
class DecisionResult:
    proposal_id: str
    event_type: str
    event_id: str
    outcome: str
    """applied | duplicate | refused | unauthorised | unknown_proposal"""
    stage: Stage | None
    refusal: Refusal | None = None
    """Why it was refused (None: applied or a duplicate)."""

    @property
    def kind(self) -> RefusalKind | None:
        return None if self.refusal is None else self.refusal.kind

    @property
    def reason_en(self) -> str | None:
        return None if self.refusal is None else self.refusal.reason.en

    @property
    def reason_th(self) -> str | None:
        return None if self.refusal is None else self.refusal.reason.th

    def as_dict(self) -> dict[str, Any]:
        return {
            "proposal_id": self.proposal_id,
            "event_type": self.event_type,
            "event_id": self.event_id,
            "outcome": self.outcome,
            "stage": self.stage.value if self.stage else None,
            "reason": None
            if self.reason_en is None
            else {"en": self.reason_en, "th": self.reason_th},
        }


class CaseHandlers:
    def __init__(
        self,
        repository: CaseRepository,
        clock: Clock = utc_now,
        rules: Rules = DEFAULT_RULES,
        directory: Callable[[str], Agency] = agency,
        signer: ClaimSigner | None = None,
    ) -> None:
        self._directory = directory
        self._signer = signer
        """The service's own signing key: it seals every certificate it awards."""
        self.cases_changed = asyncio.Event()
        """Set when this process commits a change to a case (the stage gauge's wake-up)."""
        self._repo = repository
        self.clock = clock
        self.rules = rules

    async def _change(
        self,
        proposal_id: str,
        decide: Callable[[Case | None], tuple[Outcome | None, R]],
    ) -> R:
        """Load, decide, commit (decided again on a lost race); then count the stage move
        the committed outcome made."""
        changed = await self._repo.change(proposal_id, decide, self.clock)
        outcome = changed.outcome
        if outcome is not None and not outcome.duplicate:
            self.cases_changed.set()
        moved = (
            None if outcome is None or outcome.duplicate else stage_time(changed.before, outcome)
        )
        if moved is not None:
            STAGE_TRANSITIONS.labels(moved[0], moved[1]).inc()
            STAGE_DURATION.labels(moved[0]).observe(moved[2])
        return changed.result

    async def apply_event(self, envelope: AnyEnvelope) -> Outcome:
        def decide(before: Case | None) -> tuple[Outcome, Outcome]:
            outcome = apply(before, envelope)
            return outcome, outcome

        return await self._change(envelope.proposal_id, decide)

    async def on_proposal_fact(self, envelope: AnyEnvelope) -> None:
        """Facts from the proposals service (already validated and authorised there)."""
        if envelope.event_type in PROPOSAL_FACTS:
            await self.apply_event(envelope)

    # ---- decisions: one path for HTTP requests and intake claims ----

    async def handle_claim(self, claim: AnyEnvelope) -> list[DecisionResult]:
        """Check and apply a decision claim (one decision, or a meeting with N)."""
        payload = claim.payload
        if isinstance(payload, MeetingRecorded):
            await self._record_meeting(claim, payload)
            # Proposals are independent aggregates: decide them concurrently, a few at a time.
            limit = asyncio.Semaphore(MEETING_CONCURRENCY)

            async def one(d: MeetingDecision) -> DecisionResult:
                async with limit:
                    return await self._decide_one(
                        claim,
                        d.proposal_id,
                        meeting_payload(payload, d, claim.producer),
                        meeting_fact_id(claim.producer, payload, d),
                    )

            return list(await asyncio.gather(*(one(d) for d in payload.decisions)))
        return [await self._decide_one(claim, claim.proposal_id, payload, claim_fact_id(claim))]

    async def _record_meeting(self, claim: AnyEnvelope, meeting: MeetingRecorded) -> None:
        if any(
            authorise_producer(self._directory, claim.producer, d.decision) is not None
            for d in meeting.decisions
        ):
            return  # every decision must be the recorder's to take, not just the first
        await self._repo.record_meeting(
            f"{meeting.body}:{meeting.meeting.meeting_id}",
            {
                "meeting_id": meeting.meeting.meeting_id,
                "body": meeting.body,
                "held_on": meeting.meeting.held_on.isoformat(),
                "chair": meeting.meeting.chair.model_dump(),
                "resolution_number": meeting.resolution_number,
                "recorded_by": claim.producer,
                "claim_id": str(claim.event_id),
                "decisions": [d.model_dump(mode="json") for d in meeting.decisions],
            },
            self.clock(),
        )

    async def _decide_one(
        self, claim: AnyEnvelope, proposal_id: str, payload: Contract, fact_id: uuid.UUID
    ) -> DecisionResult:
        """Decide one claim. An award needs its certificate number, the next of its year's
        register: when the decision finds the award allowed, it commits nothing and asks for
        one; the number is allocated (a commit of the register, the same number again for the
        same proposal) and the claim decided again with it."""
        event_type = str(getattr(payload, "event_type", type(payload).__name__))
        number: tuple[int, str] | None = None

        def decide(before: Case | None) -> tuple[Outcome | None, DecisionResult | NeedsNumber]:
            now = self.clock()
            refused = self._authorise(claim.producer, event_type, before)
            fact_payload = payload
            if (
                isinstance(payload, AwardCertification | CertificationAwarded)
                and refused is None
                and before is not None
                and may_award(before, fact_id)
            ):
                valid_from = award_request_date(payload, now.date())
                be_year = valid_from.year + 543
                if number is None or number[0] != be_year:
                    return None, NeedsNumber(be_year)
                fact_payload = certification(before, number[1], valid_from, self.rules)
                if self._signer is not None:
                    fact_payload = seal(
                        fact_payload,
                        proposal_id,
                        self._signer.private_key,
                        self._signer.key_id,
                        now,
                    )
            if isinstance(payload, CertificationRenewed) and refused is None:
                fact_payload = renewal(before, payload, self.rules)
            fact = self._fact(claim, proposal_id, fact_payload, event_type, fact_id, now)
            outcome = decide_claim(before, fact, refused)
            if outcome.duplicate:
                stage = before.stage if before else None
                return outcome, DecisionResult(
                    proposal_id, event_type, str(fact_id), "duplicate", stage
                )
            return outcome, self._result(before, outcome, proposal_id, event_type, fact_id)

        while True:
            result = await self._change(proposal_id, decide)
            if isinstance(result, DecisionResult):
                break
            allocated = await self._repo.certificate_number_for(
                proposal_id, result.be_year, self.clock()
            )
            number = (result.be_year, allocated)
        if result.outcome in REFUSED:
            REFUSALS.labels(result.outcome, event_type).inc()
            log.info(
                "decision.refused",
                proposal_id=proposal_id,
                event_type=event_type,
                kind=result.outcome,
                reason=result.reason_en,
            )
        return result

    def _authorise(self, producer_id: str, event_type: str, case: Case | None) -> Refusal | None:
        producer = find_producer(self._directory, producer_id)
        if isinstance(producer, Refusal):
            return producer
        if event_type not in DECISION_TYPES:
            return refusal(
                RefusalKind.UNAUTHORISED,
                f"{event_type} is not a decision agencies record",
                f"{event_type} ไม่ใช่การตัดสินใจที่หน่วยงานบันทึกได้",
            )
        return authorise(
            producer.as_producer(),
            event_type,
            proposal_owner=case.applicant if case else None,
            province_code=case.province_code if case else None,
        )

    @staticmethod
    def _fact(
        claim: AnyEnvelope,
        proposal_id: str,
        payload: Contract,
        event_type: str,
        fact_id: uuid.UUID,
        now: dt.datetime,
    ) -> AnyEnvelope:
        """The fact a claim becomes: a new envelope, caused by the claim, produced by the
        deciding agency."""
        return new_envelope(
            payload,
            producer=claim.producer,
            proposal_id=proposal_id,
            cause=claim,
            occurred_at=now,
            event_id=fact_id,
            event_type=event_type,
        )

    @staticmethod
    def _result(
        before: Case | None, outcome: Outcome, proposal_id: str, event_type: str, fact_id: uuid.UUID
    ) -> DecisionResult:
        if outcome.refusal is None:
            assert outcome.case is not None
            return DecisionResult(
                proposal_id, event_type, str(fact_id), "applied", outcome.case.stage
            )
        kind = refused_outcome(outcome.refusal.kind)
        return DecisionResult(
            proposal_id,
            event_type,
            str(fact_id),
            kind,
            before.stage if before else None,
            outcome.refusal,
        )

    async def on_intake(self, claim: AnyEnvelope) -> None:
        """Claims produced by agency systems: only those this service owns."""
        if EVENTS[claim.event_type].owner != "approvals":
            return
        if claim.event_type not in CLAIM_TYPES:
            raise Unprocessable(
                RefusalKind.VALIDATION.value,
                f"{claim.event_type} is not a claim agencies "
                f"may produce; only this service emits it",
            )
        results = await self.handle_claim(claim)
        unauthorised = [
            r.refusal
            for r in results
            if r.refusal is not None and r.refusal.kind is RefusalKind.UNAUTHORISED
        ]
        if unauthorised:
            raise Unprocessable.refused(unauthorised[0])
        for refused in (r for r in results if r.kind is not None):
            # Answered by a refusal event, not a dead letter: the claim's id is remembered all
            # the same, so that the decision cannot be taken by the same claim later.
            note_refusal(f"{refused.outcome} ({refused.proposal_id}): {refused.reason_en}")

    # ---- deadlines ----

    async def scan_deadlines(self, as_of: dt.date | None = None) -> int:
        """Emit the reminders due as of `as_of` (default: today by the clock); idempotent.
        Deadlines that passed before the system knew them (or before the go-live date) get
        none."""
        day = scan_as_of(as_of, self.clock().date())
        emitted = 0
        for proposal_id in await self._repo.certified_ids():

            def remind(before: Case | None) -> tuple[Outcome | None, str | None]:
                outcome = (
                    None
                    if before is None
                    else due_reminder(before, day, self.clock(), self.rules.go_live)
                )
                if outcome is None or outcome.history_entry is None:
                    return None, None
                return outcome, str(outcome.history_entry["threshold"])

            threshold = await self._change(proposal_id, remind)
            if threshold is not None:
                REMINDERS.labels(threshold).inc()
                emitted += 1
        go_live = self.rules.go_live
        log.info(
            "deadline_scan.done",
            as_of=day.isoformat(),
            go_live=go_live.isoformat() if go_live else None,
            emitted=emitted,
        )
        return emitted
