"""Kafka entrypoints of the notifications service: facts and refusals, never raw intake."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy

from contracts.topics import Topics
from services.common.consumer import EventConsumer, Handler


def register(
    broker: KafkaBroker, topics: Topics, group_id: str, consumer: EventConsumer, on_event: Handler
) -> None:
    @broker.subscriber(
        topics.proposals,
        topics.decisions,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        description="Workflow facts and refusals to tell people about",
    )
    async def on_workflow_events(msg: KafkaMessage) -> None:
        await consumer.process(msg.raw_message, on_event)
