"""Kafka entrypoints of the approvals service."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy

from contracts.topics import Topics
from services.common.claims import ClaimGate
from services.common.consumer import EventConsumer, Handler


def register(
    broker: KafkaBroker,
    topics: Topics,
    group_id: str,
    consumer: EventConsumer,
    on_proposal_fact: Handler,
    on_intake: Handler,
    gate: ClaimGate,
) -> None:
    @broker.subscriber(
        topics.proposals,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        description="Proposal facts: submissions, resubmissions, withdrawals",
    )
    async def on_proposals(msg: KafkaMessage) -> None:
        await consumer.process(msg.raw_message, on_proposal_fact)

    @broker.subscriber(
        topics.intake,
        group_id=f"{group_id}-intake",
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        description="Decision claims from agency systems (single decisions and "
        "meetings); other services' claims are ignored",
    )
    async def on_intake_topic(msg: KafkaMessage) -> None:
        await gate.guard(
            msg.raw_message, consumer, lambda: consumer.process(msg.raw_message, on_intake)
        )
