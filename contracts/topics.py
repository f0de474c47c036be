"""Topic names, the partition-key rule and header names: the one place they are defined.

Every topic is keyed by proposal id, so all events of one proposal land on one partition and
stay in order. A deployment may put all topics under a namespace (tests use one per run);
`Topics(namespace)` applies it, the constants below are the bare names.
"""

from __future__ import annotations

from dataclasses import dataclass

INTAKE = "smartcity.intake"
PROPOSALS = "smartcity.proposals"
DECISIONS = "smartcity.decisions"
NOTIFICATIONS = "smartcity.notifications"
CONTACTS = "smartcity.contacts"
"""Applicants' contact addresses (personal data): written by proposals, read only by the
services that need them (notifications) and the operators' console; no agency reads it."""
DEADLETTER = "smartcity.deadletter"
REGISTRY = "smartcity.agencies"
"""The agency registry (compacted, one partition, written only by the admin). Not one of
`ALL_TOPICS`: those carry workflow envelopes; this one carries registry events."""

ALL_TOPICS: tuple[str, ...] = (INTAKE, PROPOSALS, DECISIONS, NOTIFICATIONS, CONTACTS, DEADLETTER)
DEFAULT_PARTITIONS = 6

HEADER_EVENT_TYPE = "smartcity-event-type"
HEADER_EVENT_ID = "smartcity-event-id"
HEADER_SCHEMA_VERSION = "smartcity-schema-version"
HEADER_PRODUCER = "smartcity-producer"
HEADER_CORRELATION_ID = "smartcity-correlation-id"
HEADER_EMITTED_BY = "smartcity-emitted-by"
"""Set by the service that publishes a fact (`svc-<service>`), for people reading the topic;
consumers trust the owner's signature instead (contracts.signing.verify_fact)."""
HEADER_CONTENT_TYPE = "content-type"
HEADER_AUTHENTICATED_BY = "smartcity-authenticated-by"
"""On facts: the credential that authenticated the claim (`api-key:<id>`, `signature:<id>`)."""
CONTENT_TYPE_JSON = "application/json"

TOPIC_ROLES: dict[str, str] = {
    INTAKE: "Claims produced by agency systems; only the owning service reads them",
    PROPOSALS: "Accepted proposal facts and intake refusals (owner: proposals)",
    DECISIONS: "Accepted workflow decisions and refusals (owner: approvals)",
    NOTIFICATIONS: "Email delivery results (owner: notifications)",
    CONTACTS: "Applicants' contact addresses, personal data read only by services (owner: "
    "proposals)",
    DEADLETTER: "Records a consumer refused or could not process, with the reason",
}
"""What each topic carries."""

HEADER_ROLES: dict[str, str] = {
    HEADER_EVENT_TYPE: "The envelope's `event_type`; must match the body",
    HEADER_EVENT_ID: "The envelope's `event_id`; must match the body",
    HEADER_SCHEMA_VERSION: "The envelope's `schema_version`",
    HEADER_PRODUCER: "The envelope's `producer` (agency id)",
    HEADER_CORRELATION_ID: "The envelope's `correlation_id`",
    HEADER_CONTENT_TYPE: f"Always `{CONTENT_TYPE_JSON}` (UTF-8 JSON body)",
}
"""The headers every producer sets, and their values."""


def partition_key(proposal_id: str) -> bytes:
    """The Kafka record key for an event about `proposal_id`."""
    return proposal_id.encode("utf-8")


@dataclass(frozen=True)
class Topics:
    """Topic names under an optional namespace ("" in production)."""

    namespace: str = ""

    def name(self, bare: str) -> str:
        return f"{self.namespace}{bare}" if self.namespace else bare

    @property
    def intake(self) -> str:
        return self.name(INTAKE)

    @property
    def proposals(self) -> str:
        return self.name(PROPOSALS)

    @property
    def decisions(self) -> str:
        return self.name(DECISIONS)

    @property
    def notifications(self) -> str:
        return self.name(NOTIFICATIONS)

    @property
    def contacts(self) -> str:
        return self.name(CONTACTS)

    @property
    def deadletter(self) -> str:
        return self.name(DEADLETTER)

    @property
    def registry(self) -> str:
        return self.name(REGISTRY)

    def all(self) -> tuple[str, ...]:
        return tuple(self.name(t) for t in ALL_TOPICS)

    def bare(self, name: str) -> str:
        """The bare topic name of a namespaced one."""
        return name.removeprefix(self.namespace) if self.namespace else name
