"""Kafka entrypoints: claims from agency systems on the intake topic, and the decisions topic
(for RevisionRequested)."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy

from contracts.topics import Topics
from services.common.claims import ClaimGate
from services.common.consumer import EventConsumer, Handler, OnInvalid


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
    @broker.subscriber(
        topics.intake,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        description="Claims produced by agency systems: ProposalSubmitted, "
        "ProposalResubmitted, ProposalWithdrawn",
    )
    async def on_intake_topic(msg: KafkaMessage) -> None:
        async def authenticated() -> None:
            await consumer.process(msg.raw_message, on_intake, on_invalid=on_invalid_intake)

        await gate.guard(msg.raw_message, consumer, authenticated)

    @broker.subscriber(
        topics.decisions,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        description="Workflow decisions; RevisionRequested marks the proposal "
        "as awaiting a resubmission",
    )
    async def on_decisions_topic(msg: KafkaMessage) -> None:
        await consumer.process(msg.raw_message, on_decision)
