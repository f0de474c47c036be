"""What travels beside a record's value on each topic: the Kafka headers a producer must send and
those it may, and what the key is. The one place this is said: the AsyncAPI documents print it
(tools/docgen), and a unit test checks it against what the kit and the services really send.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartcity_th.contracts import topics
from smartcity_th.contracts.signing import HEADER_SIGNATURE, HEADER_SIGNED_AT

HEADER_DEAD_LETTER_KIND = "smartcity-dead-letter-kind"
HEADER_TRACEPARENT = "traceparent"
HEADER_FASTSTREAM_CORRELATION = "correlation_id"

ENVELOPE_HEADERS: tuple[str, ...] = (
    topics.HEADER_EVENT_TYPE,
    topics.HEADER_EVENT_ID,
    topics.HEADER_SCHEMA_VERSION,
    topics.HEADER_PRODUCER,
    topics.HEADER_CORRELATION_ID,
    topics.HEADER_CONTENT_TYPE,
)
"""The headers that repeat the envelope (`Envelope.headers()`): where present, each must match
the body."""

HEADER_DESCRIPTIONS: dict[str, str] = {
    **topics.HEADER_ROLES,
    HEADER_SIGNATURE: "`v=2;keyid=<key id>;ed25519=<base64 signature>`: the producing agency's "
    "(on a claim) or the owning service's (on a fact) Ed25519 signature over the topic, the "
    'signed-at header, the key, the event-type header and the value (docs/events.md, "Signed '
    'claims" gives the bytes and a test vector, "Signed facts" the rule for facts; a claim\'s '
    "version 1, without `v=2;`, is accepted until the deployment's deprecation date)",
    HEADER_SIGNED_AT: "When the claim or fact was signed (UTC, `2026-12-06T09:30:00.000Z`), "
    "signed with it: a claim older than the owning service's maximum age when it reached the "
    "broker, or too far in the future, is refused as `expired` (needed by signature version "
    "2); a fact is signed when its service commits it, and its age is not judged",
    topics.HEADER_EMITTED_BY: "The service that published this fact (`svc-<service>`), for "
    "people reading the topic; consumers trust the owner's signature, not this header",
    topics.HEADER_AUTHENTICATED_BY: "The credential that authenticated the claim behind this "
    "fact: `api-key:<key id>` or `signature:<key id>`",
    HEADER_DEAD_LETTER_KIND: "Why the record was refused (`parse`, `validation`, "
    "`unauthenticated`, `unverified_fact`, `unauthorised`, `processing`, `unhandled`, ...)",
    HEADER_TRACEPARENT: "W3C trace context of the span that published the record",
    HEADER_FASTSTREAM_CORRELATION: "Set by the services' Kafka library (FastStream) on every "
    "record it publishes: an id of that one publish, not the conversation's (that is "
    "`smartcity-correlation-id`); consumers ignore it",
}

PROPOSAL_KEY = (
    "The proposal id, UTF-8 (`partition_key`): every record about one proposal goes to one "
    "partition, in order"
)


@dataclass(frozen=True)
class RecordShape:
    """The headers and key of the records on one topic."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    key: str


def record_shape(topic: str) -> RecordShape:
    """What a record on `topic` (a bare topic name, without namespace) carries."""
    if topic == topics.INTAKE:
        # A claim: the signature covers the event-type header and the signed-at time, so they
        # are needed to act on it (a version 1 signature, while accepted, has no signed-at time).
        return RecordShape(
            required=(topics.HEADER_EVENT_TYPE, HEADER_SIGNATURE, HEADER_SIGNED_AT),
            optional=tuple(h for h in ENVELOPE_HEADERS if h != topics.HEADER_EVENT_TYPE),
            key=PROPOSAL_KEY,
        )
    if topic == topics.DEADLETTER:
        return RecordShape(
            required=(HEADER_DEAD_LETTER_KIND, topics.HEADER_CONTENT_TYPE),
            optional=(HEADER_FASTSTREAM_CORRELATION, HEADER_TRACEPARENT),
            key="The refused record's own key (absent when it had none or it was too long)",
        )
    return RecordShape(  # a fact, published by the topic's owning service
        # Signed once the owner has a registered key (unsigned facts only from before it).
        required=(*ENVELOPE_HEADERS, topics.HEADER_EMITTED_BY),
        optional=(
            HEADER_SIGNATURE,
            HEADER_SIGNED_AT,
            topics.HEADER_AUTHENTICATED_BY,
            HEADER_TRACEPARENT,
            HEADER_FASTSTREAM_CORRELATION,
        ),
        key=PROPOSAL_KEY,
    )
