"""Thin orchestration: load, call one domain method, commit (the store publishes)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from smartcity_th.contracts.agencies import (
    Agency,
    agency,
    authorise_producer,
    find_producer,
)
from smartcity_th.contracts.catalogue import EVENTS, claims_for, is_fact_producer
from smartcity_th.contracts.common import (
    Words,
    canonical_uuid,
    is_agency_id,
    is_proposal_id,
    service_principal,
)
from smartcity_th.contracts.envelope import AnyEnvelope, EnvelopeError, new_envelope
from smartcity_th.contracts.proposals import (
    IntakeRejected,
    ProposalResubmitted,
    ProposalSubmitted,
    ProposalWithdrawn,
    SubmittedContent,
)
from smartcity_th.contracts.refusal import Refusal, RefusalKind, Refused, field_error, refusal
from smartcity_th.services.common.dead_letters import Unprocessable
from smartcity_th.services.common.store import Aggregates, Commit
from smartcity_th.services.proposals.adapters.repository import ProposalRepository
from smartcity_th.services.proposals.domain import (
    SERVICE_PRODUCER,
    Proposal,
    derive_proposal_id,
    id_in_use,
    no_such_proposal,
    submitted_content,
)

log = structlog.get_logger(__name__)

APPROVALS_PRODUCER = service_principal("approvals")
PROPOSAL_CLAIMS = frozenset(claims_for("proposals"))


@dataclass(frozen=True)
class SubmitProposal:
    applicant: Agency
    content: SubmittedContent
    idempotency_key: str
    proposal_id: str | None = None
    cause: AnyEnvelope | None = None
    effective_on: dt.date | None = None


@dataclass(frozen=True)
class ResubmitProposal:
    actor: Agency
    proposal_id: str
    content: SubmittedContent
    changes: Words | None
    command_key: str | None
    cause: AnyEnvelope | None = None
    claimed_revision: int | None = None
    effective_on: dt.date | None = None


@dataclass(frozen=True)
class WithdrawProposal:
    actor: Agency
    proposal_id: str
    reason: Words | None
    command_key: str | None
    cause: AnyEnvelope | None = None


@dataclass(frozen=True)
class SubmitResult:
    proposal: Proposal
    created: bool
    """False when the command was a retry: the original result, nothing new stored or sent."""


class ProposalHandlers:
    def __init__(
        self,
        repository: ProposalRepository,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._repo = repository
        self.clock = clock

    async def submit(self, command: SubmitProposal) -> SubmitResult:
        proposal_id = command.proposal_id or derive_proposal_id(
            command.applicant.agency_id, command.idempotency_key
        )
        proposal = Proposal.submit(
            proposal_id=proposal_id,
            actor=command.applicant.as_producer(),
            content=command.content,
            idempotency_key=command.idempotency_key,
            now=self.clock(),
            email_domains=command.applicant.email_domains,
            cause=command.cause,
            effective_on=command.effective_on,
        )
        if await self._repo.add(proposal):
            return SubmitResult(proposal, created=True)
        existing = await self._repo.get(proposal_id)
        if (
            existing is None
            or existing.applicant != command.applicant.agency_id
            or existing.idempotency_key != command.idempotency_key
        ):
            raise Refused(id_in_use(proposal_id))
        return SubmitResult(existing, created=False)

    async def resubmit(self, command: ResubmitProposal) -> SubmitResult:
        def change(proposal: Proposal) -> None:
            proposal.resubmit(
                actor=command.actor.as_producer(),
                content=command.content,
                changes=command.changes,
                command_key=command.command_key,
                now=self.clock(),
                email_domains=command.actor.email_domains,
                cause=command.cause,
                claimed_revision=command.claimed_revision,
                effective_on=command.effective_on,
            )

        return await self._change(command.proposal_id, command.command_key, change)

    async def withdraw(self, command: WithdrawProposal) -> SubmitResult:
        def change(proposal: Proposal) -> None:
            proposal.withdraw(
                actor=command.actor.as_producer(),
                reason=command.reason,
                command_key=command.command_key,
                now=self.clock(),
                cause=command.cause,
            )

        return await self._change(command.proposal_id, command.command_key, change)

    async def revision_requested(self, envelope: AnyEnvelope) -> bool:
        """Record a RevisionRequested fact; False if there is no such proposal."""

        def decide(proposal: Proposal | None) -> bool:
            if proposal is None:
                return False
            proposal.request_revision(envelope, self.clock())
            return True

        return await self._repo.change(envelope.proposal_id, decide)

    async def _change(
        self, proposal_id: str, command_key: str | None, change: Callable[[Proposal], None]
    ) -> SubmitResult:
        def decide(proposal: Proposal | None) -> SubmitResult:
            if proposal is None:
                raise Refused(no_such_proposal(proposal_id))
            if proposal.has_processed(command_key):
                return SubmitResult(proposal, created=False)
            change(proposal)
            return SubmitResult(proposal, created=True)

        return await self._repo.change(proposal_id, decide)


class IntakeClaims:
    """Claims produced straight to Kafka by agency systems: the same handlers and checks as
    HTTP; a refused claim becomes IntakeRejected (addressed to its producer) and a dead letter.
    The claim's event id is the idempotency key: a redelivered claim changes nothing."""

    def __init__(
        self,
        handlers: ProposalHandlers,
        rejections: RejectionLog,
        directory: Callable[[str], Agency] = agency,
    ) -> None:
        self._handlers = handlers
        self._rejections = rejections
        self._directory = directory

    async def __call__(self, envelope: AnyEnvelope) -> None:
        spec = EVENTS[envelope.event_type]
        if spec.owner != "proposals" or is_fact_producer(envelope.producer):
            return  # another service's claim, or a fact
        applicant = find_producer(self._directory, envelope.producer)
        if isinstance(applicant, Refusal):
            await self._rejections.reject(envelope, applicant)
            raise Unprocessable.refused(applicant)
        try:
            await self._handle(applicant, envelope)
        except Refused as exc:
            await self._rejections.reject(envelope, exc.refusal)
            raise Unprocessable.refused(exc.refusal) from None

    async def refuse_invalid(self, value: bytes | None, error: EnvelopeError) -> None:
        """A proposals claim that is not a valid event still gets an answer, if it says who
        made it (the consumer dead-letters the record itself)."""
        ref = ClaimRef.from_invalid(value)
        if ref is not None:
            await self._rejections.reject(ref, invalid_claim_error(error))

    async def _handle(self, applicant: Agency, envelope: AnyEnvelope) -> None:
        payload = envelope.payload
        on_behalf = getattr(payload, "applicant", None)
        if on_behalf is not None and on_behalf != applicant.agency_id:
            raise Refused(
                refusal(
                    RefusalKind.UNAUTHORISED,
                    f"producer {applicant.agency_id} may not act on behalf of {on_behalf}",
                    f"{applicant.agency_id} ไม่สามารถดำเนินการแทน {on_behalf}",
                )
            )
        key = str(envelope.event_id)
        if isinstance(payload, ProposalSubmitted):
            await self._handlers.submit(
                SubmitProposal(
                    applicant=applicant,
                    content=submitted_content(payload.content, payload.contact_emails),
                    idempotency_key=key,
                    proposal_id=envelope.proposal_id,
                    cause=envelope,
                    effective_on=payload.effective_on,
                )
            )
        elif isinstance(payload, ProposalResubmitted):
            await self._handlers.resubmit(
                ResubmitProposal(
                    actor=applicant,
                    proposal_id=envelope.proposal_id,
                    content=submitted_content(payload.content, payload.contact_emails),
                    changes=payload.changes,
                    command_key=key,
                    cause=envelope,
                    claimed_revision=payload.revision,
                    effective_on=payload.effective_on,
                )
            )
        elif isinstance(payload, ProposalWithdrawn):
            await self._handlers.withdraw(
                WithdrawProposal(
                    actor=applicant,
                    proposal_id=envelope.proposal_id,
                    reason=payload.reason,
                    command_key=key,
                    cause=envelope,
                )
            )
        else:
            raise Refused(
                refusal(
                    RefusalKind.UNAUTHORISED,
                    f"{envelope.event_type} is not a claim agencies may make on intake",
                    f"{envelope.event_type} ไม่ใช่คำขอที่หน่วยงานส่งทางหัวข้อรับเรื่องได้",
                )
            )


class DecisionFacts:
    """Facts on the decisions topic; the proposals service follows RevisionRequested only.
    It comes from the approvals service, or from an agency allowed to request revisions;
    anything else is refused and dead-lettered."""

    def __init__(
        self, handlers: ProposalHandlers, directory: Callable[[str], Agency] = agency
    ) -> None:
        self._handlers = handlers
        self._directory = directory

    async def __call__(self, envelope: AnyEnvelope) -> None:
        if envelope.event_type != "RevisionRequested":
            return
        if envelope.producer != APPROVALS_PRODUCER:
            refused = authorise_producer(self._directory, envelope.producer, "RevisionRequested")
            if refused is not None:
                raise Unprocessable.refused(refused)
        if not await self._handlers.revision_requested(envelope):
            raise Unprocessable(
                RefusalKind.UNKNOWN_PROPOSAL.value,
                f"RevisionRequested for unknown proposal {envelope.proposal_id}",
            )
        log.info("proposal.revision_requested", proposal_id=envelope.proposal_id)


class RejectionLog:
    """IntakeRejected events, one per refused claim (idempotent by the claim's event id): each
    rejection is an aggregate of one commit in the store."""

    def __init__(self, store: Aggregates, clock: Callable[[], dt.datetime]) -> None:
        self.store = store
        self._clock = clock

    async def reject(self, claim: AnyEnvelope | ClaimRef, refused: Refusal) -> None:
        ref = claim if isinstance(claim, ClaimRef) else ClaimRef.of(claim)
        refused = refused.for_everyone  # IntakeRejected is on a topic every agency reads
        event = new_envelope(
            IntakeRejected(
                refused_event_id=ref.event_id,
                refused_event_type=ref.event_type,
                producer=ref.producer,
                reason=refused.reason,
                errors=list(refused.errors),
            ),
            producer=SERVICE_PRODUCER,
            proposal_id=ref.proposal_id,
            cause=None if isinstance(claim, ClaimRef) else claim,
            correlation_id=ref.correlation_id,
            occurred_at=self._clock(),
        )
        state = {
            "producer": ref.producer,
            "event_type": ref.event_type,
            "proposal_id": ref.proposal_id,
            "reason": refused.reason.model_dump(),
            "kind": refused.kind.value,
            "errors": [e.model_dump() for e in refused.errors],
            "at": self._clock(),
        }
        await self.store.create(
            ref.event_id, Commit(state=state, events=[event], processed=[ref.event_id])
        )


@dataclass(frozen=True)
class ClaimRef:
    """Who made a claim and which, as far as the record tells (also for a claim that is not a
    valid event, so that its producer still gets an answer)."""

    event_id: str
    event_type: str
    producer: str
    proposal_id: str
    correlation_id: uuid.UUID | None = None

    @classmethod
    def of(cls, envelope: AnyEnvelope) -> ClaimRef:
        return cls(
            str(envelope.event_id),
            envelope.event_type,
            envelope.producer,
            envelope.proposal_id,
            envelope.correlation_id,
        )

    @classmethod
    def from_invalid(cls, value: bytes | None) -> ClaimRef | None:
        """The addressable parts of an invalid proposals claim; None when it cannot be
        answered (no valid event id, producer or proposal id), or is not a proposals claim."""
        try:
            raw = json.loads(value or b"")
        except (ValueError, RecursionError):
            return None
        if not isinstance(raw, dict):
            return None
        event_type, producer = raw.get("event_type"), raw.get("producer")
        event_id, proposal_id = raw.get("event_id"), raw.get("proposal_id")
        if event_type not in PROPOSAL_CLAIMS or not all(
            isinstance(v, str) for v in (producer, event_id, proposal_id)
        ):
            return None
        assert isinstance(producer, str)
        assert isinstance(proposal_id, str)
        if is_fact_producer(producer) or not is_agency_id(producer):
            return None
        if not is_proposal_id(proposal_id):
            return None
        event_uuid = canonical_uuid(event_id)
        if event_uuid is None:
            return None
        correlation = canonical_uuid(raw.get("correlation_id"))
        return cls(
            event_uuid,
            str(event_type),
            producer,
            proposal_id,
            None if correlation is None else uuid.UUID(correlation),
        )


def invalid_claim_error(error: EnvelopeError) -> Refusal:
    return refusal(
        RefusalKind.VALIDATION,
        f"the claim is not a valid event: {error.field}: {error.reason}"[:500],
        f"คำขอไม่ใช่เหตุการณ์ที่ถูกต้อง ที่ฟิลด์ {error.field}"[:500],
        (field_error(error.field[:500], error.reason[:500], "ข้อมูลไม่ถูกต้อง"),),
    )
