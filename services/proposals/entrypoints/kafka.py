"""Kafka entrypoints: claims from agency systems on the intake topic."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy

from contracts.topics import Topics
from services.common.consumer import EventConsumer, Handler


def register(broker: KafkaBroker, topics: Topics, group_id: str, consumer: EventConsumer,
             on_intake: Handler) -> None:
    @broker.subscriber(topics.intake, group_id=group_id, auto_offset_reset="earliest",
                       ack_policy=AckPolicy.NACK_ON_ERROR,
                       description="Claims produced by agency systems (submissions)")
    async def on_intake_topic(msg: KafkaMessage) -> None:
        await consumer.process(msg.raw_message, on_intake)
