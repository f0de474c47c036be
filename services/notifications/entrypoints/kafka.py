"""Kafka entrypoints of the notifications service: facts and refusals, never raw intake."""

from __future__ import annotations

from typing import Annotated

from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker

from smartcity_th.contracts.catalogue import facts_on
from smartcity_th.contracts.topics import CONTACTS, DECISIONS, PROPOSALS, Topics
from smartcity_th.services.common.consumer import EventConsumer, Handler
from smartcity_th.services.common.kafka import Carries, subscribe

WORKFLOW_FACTS = Carries(facts_on(PROPOSALS) + facts_on(DECISIONS) + facts_on(CONTACTS))


def register(
    broker: KafkaBroker, topics: Topics, group_id: str, consumer: EventConsumer, on_event: Handler
) -> None:
    @subscribe(
        broker,
        topics.proposals,
        topics.decisions,
        topics.contacts,
        group_id=group_id,
        description="Workflow facts and refusals to tell people about, and the applicants' "
        "contact addresses (a topic only the services read)",
    )
    async def on_workflow_events(record: Annotated[ConsumerRecord, WORKFLOW_FACTS]) -> None:
        await consumer.process(record, on_event)
