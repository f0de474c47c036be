"""One subscriber over every topic, so that appends happen in one process under one lock."""

from __future__ import annotations

from typing import Annotated

from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy

from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.consumer import EventConsumer
from smartcity_th.services.common.kafka import Carries
from smartcity_th.services.console.handlers import Recorder


def register(
    broker: KafkaBroker, topics: Topics, group_id: str, consumer: EventConsumer, recorder: Recorder
) -> None:
    @broker.subscriber(
        *topics.all(),
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        description="Every topic, including dead letters, into the audit log",
    )
    async def on_any_topic(
        record: Annotated[ConsumerRecord, Carries(tuple(EVENTS), dead_letters=True)],
    ) -> None:
        await consumer.process_record(record, recorder.record)
