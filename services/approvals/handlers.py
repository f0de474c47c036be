"""Thin orchestration: load the case, apply one event, save with the outbox, publish."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import structlog

from contracts.envelope import AnyEnvelope
from services.approvals.adapters.repository import ConcurrentUpdate, MongoCaseRepository
from services.approvals.domain import Outcome, apply
from services.common.outbox import OutboxPublisher

log = structlog.get_logger(__name__)

PROPOSAL_FACTS = frozenset({"ProposalSubmitted", "ProposalResubmitted", "ProposalWithdrawn"})


class CaseHandlers:
    def __init__(self, repository: MongoCaseRepository, publisher: OutboxPublisher,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._repo = repository
        self._publisher = publisher
        self.clock = clock

    async def apply_event(self, envelope: AnyEnvelope) -> Outcome:
        for _ in range(10):
            before = await self._repo.get(envelope.proposal_id)
            outcome = apply(before, envelope)
            if outcome.duplicate:
                return outcome
            try:
                where = await self._repo.save(before, outcome, self.clock())
            except ConcurrentUpdate:
                continue
            await self._publisher.try_flush(self._repo.collection_named(where),
                                            envelope.proposal_id if where == "cases"
                                            else str(envelope.event_id))
            return outcome
        raise ConcurrentUpdate(envelope.proposal_id)

    async def on_proposal_fact(self, envelope: AnyEnvelope) -> None:
        """Facts from the proposals service (already validated and authorised there)."""
        if envelope.event_type in PROPOSAL_FACTS:
            await self.apply_event(envelope)
