"""Thin orchestration: load, call one domain method, store with the outbox, publish."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from contracts.agencies import Agency, UnknownAgency, agency
from contracts.authorisation import Refused, authorise
from contracts.catalogue import EVENTS
from contracts.common import BilingualText
from contracts.envelope import AnyEnvelope, new_envelope
from contracts.proposals import IntakeRejected, ProposalContent, ProposalSubmitted
from services.common.consumer import Unprocessable
from services.common.outbox import OutboxPublisher, outbox_entry
from services.proposals.adapters.repository import MongoProposalRepository
from services.proposals.domain import SERVICE_PRODUCER, IntakeError, Proposal, derive_proposal_id


@dataclass(frozen=True)
class SubmitProposal:
    applicant: Agency
    content: ProposalContent
    idempotency_key: str
    proposal_id: str | None = None
    cause: AnyEnvelope | None = None


@dataclass(frozen=True)
class SubmitResult:
    proposal: Proposal
    created: bool


class ProposalHandlers:
    def __init__(
        self,
        repository: MongoProposalRepository,
        publisher: OutboxPublisher,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._repo = repository
        self._publisher = publisher
        self.clock = clock

    async def submit(self, command: SubmitProposal) -> SubmitResult:
        decision = authorise(command.applicant.as_producer(), "ProposalSubmitted",
                             province_code=command.content.province.code)
        if isinstance(decision, Refused):
            raise IntakeError(BilingualText(en=decision.reason_en, th=decision.reason_th),
                              status=403)
        proposal_id = command.proposal_id or derive_proposal_id(
            command.applicant.agency_id, command.idempotency_key)
        proposal = Proposal.submit(
            proposal_id=proposal_id, applicant=command.applicant.agency_id,
            content=command.content, idempotency_key=command.idempotency_key,
            now=self.clock(), cause=command.cause,
        )
        processed = str(command.cause.event_id) if command.cause else None
        if await self._repo.add(proposal, processed_event_id=processed):
            await self._publisher.try_flush(self._repo.collection, proposal_id)
            return SubmitResult(proposal, created=True)
        existing = await self._repo.get(proposal_id)
        if existing is None or existing.applicant != command.applicant.agency_id \
                or existing.idempotency_key != command.idempotency_key:
            raise IntakeError(BilingualText(
                en=f"proposal id {proposal_id} is already in use",
                th=f"รหัสข้อเสนอ {proposal_id} ถูกใช้แล้ว"), status=409)
        return SubmitResult(existing, created=False)


class IntakeClaims:
    """Claims produced straight to Kafka by agency systems: the same handlers and checks as
    HTTP; a refused claim becomes IntakeRejected (addressed to its producer) and a dead letter."""

    def __init__(self, handlers: ProposalHandlers, rejections: RejectionLog) -> None:
        self._handlers = handlers
        self._rejections = rejections

    async def __call__(self, envelope: AnyEnvelope) -> None:
        spec = EVENTS[envelope.event_type]
        if spec.owner != "proposals" or envelope.producer.startswith("svc-"):
            return  # another service's claim, or a fact
        try:
            applicant = agency(envelope.producer)
        except UnknownAgency:
            reason = BilingualText(
                en=f"unknown producer {envelope.producer!r}: not in the agency directory",
                th=f"ไม่พบผู้ส่ง {envelope.producer!r} ในทะเบียนหน่วยงาน")
            await self._rejections.reject(envelope, IntakeError(reason, status=403))
            raise Unprocessable("unauthorised", reason.en) from None
        try:
            if isinstance(envelope.payload, ProposalSubmitted):
                if envelope.payload.applicant != applicant.agency_id:
                    raise IntakeError(BilingualText(
                        en=f"producer {applicant.agency_id} may not submit on behalf of "
                           f"{envelope.payload.applicant}",
                        th=f"{applicant.agency_id} ไม่สามารถยื่นข้อเสนอแทน "
                           f"{envelope.payload.applicant}"), status=403)
                await self._handlers.submit(SubmitProposal(
                    applicant=applicant, content=envelope.payload.content,
                    idempotency_key=str(envelope.event_id), proposal_id=envelope.proposal_id,
                    cause=envelope))
            else:
                raise IntakeError(BilingualText(
                    en=f"{envelope.event_type} claims are not accepted on the intake topic yet",
                    th=f"ยังไม่รับ {envelope.event_type} ทางหัวข้อรับเรื่อง"), status=422)
        except IntakeError as exc:
            await self._rejections.reject(envelope, exc)
            kind = "unauthorised" if exc.status == 403 else "validation"
            raise Unprocessable(kind, exc.reason.en) from None


class RejectionLog:
    """IntakeRejected events, one per refused claim (idempotent by the claim's event id)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], publisher: OutboxPublisher,
                 clock: Callable[[], dt.datetime]) -> None:
        self.collection = collection
        self._publisher = publisher
        self._clock = clock

    async def reject(self, claim: AnyEnvelope, error: IntakeError) -> None:
        event = new_envelope(
            IntakeRejected(refused_event_id=str(claim.event_id),
                           refused_event_type=claim.event_type, producer=claim.producer,
                           reason=error.reason, errors=error.errors),
            producer=SERVICE_PRODUCER, proposal_id=claim.proposal_id, cause=claim,
            occurred_at=self._clock())
        try:
            await self.collection.insert_one({
                "_id": str(claim.event_id), "producer": claim.producer,
                "event_type": claim.event_type, "proposal_id": claim.proposal_id,
                "reason": error.reason.model_dump(), "at": self._clock(),
                "outbox": [outbox_entry(event)]})
        except DuplicateKeyError:
            pass
        await self._publisher.try_flush(self.collection, str(claim.event_id))
