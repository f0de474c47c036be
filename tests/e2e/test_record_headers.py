"""What the services really publish carries the headers the AsyncAPI documents declare
(`smartcity_th.contracts.records`): a fact every required header and nothing undocumented, a
dead letter its kind (issue 25)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from smartcity_th.contracts import topics as names
from smartcity_th.contracts.records import record_shape
from smartcity_th.contracts.topics import Topics
from tests import builders
from tests.e2e.conftest import SendClaim
from tests.support import ServiceProcess, kafka_producer, read_topic

pytestmark = pytest.mark.e2e


def header_names(record: Any) -> set[str]:
    return {name for name, _ in record.headers or ()}


async def test_a_published_fact_and_a_dead_letter_carry_the_documented_headers(
    services: dict[str, ServiceProcess], topics: Topics, send_claim: SendClaim
) -> None:
    claim = builders.submission("lg-phuket-city", builders.new_proposal_id("HD"))
    await send_claim(claim)
    key = claim.proposal_id.encode()
    [fact] = await read_topic(topics.proposals, min_records=1, where=lambda r: r.key == key)
    shape = record_shape(names.PROPOSALS)
    sent = header_names(fact)
    assert set(shape.required) <= sent <= {*shape.required, *shape.optional}

    poison = f"headers-{uuid.uuid4().hex[:8]}".encode()
    async with kafka_producer() as producer:
        await producer.send_and_wait(topics.intake, b"not json", key=poison)
    letters = await read_topic(topics.deadletter, min_records=1, where=lambda r: r.key == poison)
    shape = record_shape(names.DEADLETTER)
    for letter in letters:
        assert set(shape.required) <= header_names(letter) <= {*shape.required, *shape.optional}
