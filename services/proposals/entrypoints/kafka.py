"""Kafka entrypoints: claims from agency systems on the intake topic, and the decisions topic
(for RevisionRequested)."""

from __future__ import annotations

from typing import Annotated

from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker

from smartcity_th.contracts.catalogue import claims_for, facts_on
from smartcity_th.contracts.topics import DECISIONS, Topics
from smartcity_th.services.common.claims import ClaimGate
from smartcity_th.services.common.consumer import EventConsumer, Handler, OnInvalid
from smartcity_th.services.common.kafka import Carries, subscribe


def register(
    broker: KafkaBroker,
    topics: Topics,
    group_id: str,
    consumer: EventConsumer,
    on_intake: Handler,
    on_invalid_intake: OnInvalid,
    on_decision: Handler,
    gate: ClaimGate,
) -> None:
    @subscribe(
        broker,
        topics.intake,
        group_id=group_id,
        description="Proposal claims produced by agency systems; other services' claims "
        "are ignored",
    )
    async def on_intake_topic(
        record: Annotated[ConsumerRecord, Carries(claims_for("proposals"))],
    ) -> None:
        async def authenticated() -> str | None:
            return await consumer.process(record, on_intake, on_invalid=on_invalid_intake)

        await gate.guard(record, consumer, authenticated)

    @subscribe(
        broker,
        topics.decisions,
        group_id=group_id,
        description="Workflow decisions; RevisionRequested marks the proposal "
        "as awaiting a resubmission",
    )
    async def on_decisions_topic(
        record: Annotated[ConsumerRecord, Carries(facts_on(DECISIONS))],
    ) -> None:
        await consumer.process(record, on_decision)
