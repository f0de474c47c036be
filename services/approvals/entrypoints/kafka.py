"""Kafka entrypoints of the approvals service."""

from __future__ import annotations

from typing import Annotated

from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker

from smartcity_th.contracts.catalogue import claims_for, facts_on
from smartcity_th.contracts.topics import PROPOSALS, Topics
from smartcity_th.services.common.claims import ClaimGate
from smartcity_th.services.common.consumer import EventConsumer, Handler
from smartcity_th.services.common.kafka import Carries, subscribe


def register(
    broker: KafkaBroker,
    topics: Topics,
    group_id: str,
    consumer: EventConsumer,
    on_proposal_fact: Handler,
    on_intake: Handler,
    gate: ClaimGate,
) -> None:
    @subscribe(
        broker,
        topics.proposals,
        group_id=group_id,
        description="Proposal facts: submissions, resubmissions, withdrawals",
    )
    async def on_proposals(
        record: Annotated[ConsumerRecord, Carries(facts_on(PROPOSALS))],
    ) -> None:
        await consumer.process(record, on_proposal_fact)

    @subscribe(
        broker,
        topics.intake,
        group_id=f"{group_id}-intake",
        description="Decision claims from agency systems (single decisions and "
        "meetings); other services' claims are ignored",
    )
    async def on_intake_topic(
        record: Annotated[ConsumerRecord, Carries(claims_for("approvals"))],
    ) -> None:
        await gate.guard(record, consumer, lambda: consumer.process(record, on_intake))
