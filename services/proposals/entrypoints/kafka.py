"""Kafka entrypoints: claims from agency systems on the intake topic, and the decisions topic
(for RevisionRequested)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy

from contracts.envelope import EnvelopeError, parse_record
from contracts.topics import Topics
from services.common.claims import ClaimGate
from services.common.consumer import EventConsumer, Handler, Record

OnInvalid = Callable[[bytes | None, EnvelopeError], Awaitable[None]]


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
            record = Record.from_consumer_record(msg.raw_message)
            try:
                parse_record(record.value, record.headers)
            except EnvelopeError as exc:
                await on_invalid_intake(record.value, exc)  # answered; then dead-lettered
            await consumer.process(msg.raw_message, on_intake)

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
