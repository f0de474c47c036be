"""One realistic example of every event, in its envelope: the example each event's specification
gives (contracts.catalogue), from the one example story (contracts.story). Valid by
construction (built from the models).

Used by the generated docs (`docs/events.md`) and as the seeds of the property-based tests; the
letters' samples (services/notifications/samples.py) tell the same story. Deterministic: fixed
ids and times, so the generated docs do not change between runs.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid

from smartcity_th.contracts import topics
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.common import Contract
from smartcity_th.contracts.deadletter import DeadLetter
from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.story import CORRELATION_ID as CORRELATION_ID
from smartcity_th.contracts.story import PROPOSAL_ID as PROPOSAL_ID

_NAMESPACE = uuid.UUID("0b7f5a10-3c2d-4e8f-9a6b-1d2e3f405162")

PAYLOADS: dict[str, tuple[Contract, str]] = {
    name: (spec.example.payload, spec.example.producer) for name, spec in EVENTS.items()
}
"""Event type -> (an example payload, an agency that may produce it), from the event
specifications."""


def example_envelope(event_type: str) -> AnyEnvelope:
    """The example event of `event_type` in its envelope, with stable ids and times."""
    example = EVENTS[event_type].example
    return new_envelope(
        example.payload,
        producer=example.producer,
        proposal_id=PROPOSAL_ID,
        correlation_id=CORRELATION_ID,
        occurred_at=example.occurred_at,
        event_id=uuid.uuid5(_NAMESPACE, event_type),
    )


def example_dead_letter() -> DeadLetter:
    """A dead-letter record for a claim whose meeting date was not a date."""
    original = example_envelope("SubcommitteeApproved")
    value = original.to_bytes().replace(b'"2022-08-06"', b'"6 Aug 2022"')
    return DeadLetter(
        dead_letter_id=str(uuid.uuid5(_NAMESPACE, "dead-letter")),
        consumer="approvals",
        topic=topics.INTAKE,
        partition=3,
        offset=1042,
        key_b64=base64.b64encode(original.key).decode("ascii"),
        value_b64=base64.b64encode(value).decode("ascii"),
        headers=original.headers(),
        error_kind="validation",
        error="payload.meeting.held_on: Input should be a valid date or datetime, invalid "
        "character in year",
        event_type=original.event_type,
        event_id=str(original.event_id),
        attempts=1,
        dead_lettered_at=dt.datetime(2022, 8, 6, 9, 15, tzinfo=dt.UTC),
    )
