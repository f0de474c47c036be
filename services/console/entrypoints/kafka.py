"""One subscriber over every topic, so that appends happen in one process under one lock."""

from __future__ import annotations

from typing import Annotated

from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker

from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.consumer import EventConsumer
from smartcity_th.services.common.kafka import Carries, subscribe
from smartcity_th.services.console.handlers import Recorder


def register(
    broker: KafkaBroker, topics: Topics, group_id: str, consumer: EventConsumer, recorder: Recorder
) -> None:
    @subscribe(
        broker,
        *topics.all(),
        group_id=group_id,
        description="Every topic, including dead letters, into the audit log",
    )
    async def on_any_topic(
        record: Annotated[ConsumerRecord, Carries(tuple(EVENTS), dead_letters=True)],
    ) -> None:
        await consumer.process_record(record, recorder.record)
