"""Every event type of the workflow, with its payload model and the topic its facts go to."""

from __future__ import annotations

from dataclasses import dataclass

from smartcity_th.contracts import topics
from smartcity_th.contracts.approvals import (
    CabinetEndorsed,
    CabinetReturned,
    CertificationAwarded,
    CertificationLapsed,
    CertificationRenewed,
    DeliveryAcknowledged,
    DeliveryDeadlineReminder,
    DeliveryReported,
    DeliveryReturned,
    MeetingRecorded,
    ProposalScreened,
    RevisionRequested,
    SteeringCommitteeAcknowledged,
    SubcommitteeApproved,
    SubcommitteeRejected,
    TransitionRefused,
)
from smartcity_th.contracts.authorisation import is_claimable
from smartcity_th.contracts.common import SERVICE_PRINCIPAL_PREFIX, Contract
from smartcity_th.contracts.notifications import (
    NotificationFailed,
    NotificationHeld,
    NotificationSent,
)
from smartcity_th.contracts.proposals import (
    IntakeRejected,
    ProposalContactsRecorded,
    ProposalResubmitted,
    ProposalSubmitted,
    ProposalWithdrawn,
)


def is_fact_producer(producer: str) -> bool:
    """Whether a record's producer is one of the services: its events are facts. Any other
    producer is an agency, and what it sends is a claim for the event's owner to check."""
    return producer.startswith(SERVICE_PRINCIPAL_PREFIX)


@dataclass(frozen=True)
class EventSpec:
    payload: type[Contract]
    fact_topic: str
    owner: str
    """The service that turns claims of this type into facts (or emits it itself)."""


EVENTS: dict[str, EventSpec] = {
    spec.payload.__name__: spec
    for spec in (
        EventSpec(ProposalSubmitted, topics.PROPOSALS, "proposals"),
        EventSpec(ProposalResubmitted, topics.PROPOSALS, "proposals"),
        EventSpec(ProposalWithdrawn, topics.PROPOSALS, "proposals"),
        EventSpec(IntakeRejected, topics.PROPOSALS, "proposals"),
        EventSpec(ProposalContactsRecorded, topics.CONTACTS, "proposals"),
        EventSpec(ProposalScreened, topics.DECISIONS, "approvals"),
        EventSpec(RevisionRequested, topics.DECISIONS, "approvals"),
        EventSpec(SubcommitteeApproved, topics.DECISIONS, "approvals"),
        EventSpec(SubcommitteeRejected, topics.DECISIONS, "approvals"),
        EventSpec(SteeringCommitteeAcknowledged, topics.DECISIONS, "approvals"),
        EventSpec(CabinetEndorsed, topics.DECISIONS, "approvals"),
        EventSpec(CabinetReturned, topics.DECISIONS, "approvals"),
        EventSpec(CertificationAwarded, topics.DECISIONS, "approvals"),
        EventSpec(TransitionRefused, topics.DECISIONS, "approvals"),
        EventSpec(DeliveryDeadlineReminder, topics.DECISIONS, "approvals"),
        EventSpec(MeetingRecorded, topics.DECISIONS, "approvals"),
        EventSpec(DeliveryReported, topics.DECISIONS, "approvals"),
        EventSpec(DeliveryAcknowledged, topics.DECISIONS, "approvals"),
        EventSpec(DeliveryReturned, topics.DECISIONS, "approvals"),
        EventSpec(CertificationRenewed, topics.DECISIONS, "approvals"),
        EventSpec(CertificationLapsed, topics.DECISIONS, "approvals"),
        EventSpec(NotificationSent, topics.NOTIFICATIONS, "notifications"),
        EventSpec(NotificationFailed, topics.NOTIFICATIONS, "notifications"),
        EventSpec(NotificationHeld, topics.NOTIFICATIONS, "notifications"),
    )
}


def owned_by(owner: str) -> frozenset[str]:
    """The event types `owner` emits as facts (claims of them go to it to be checked)."""
    return frozenset(name for name, spec in EVENTS.items() if spec.owner == owner)


def facts_on(topic: str) -> tuple[str, ...]:
    """The event types whose facts `topic` carries (unprefixed topic name)."""
    return tuple(name for name, spec in EVENTS.items() if spec.fact_topic == topic)


def claims_for(owner: str) -> tuple[str, ...]:
    """The event types agencies claim on the intake topic for `owner` to check and turn into
    facts; the intake topic carries every owner's claims."""
    return tuple(
        name for name, spec in EVENTS.items() if spec.owner == owner and is_claimable(name)
    )


def carried_on(topic: str) -> tuple[str, ...]:
    """The event types a workflow topic carries (unprefixed topic name): every owner's claims on
    the intake topic, the owners' facts on a fact topic; none on the dead-letter topic, whose
    records are dead letters."""
    if topic == topics.INTAKE:
        return tuple(name for name in EVENTS if is_claimable(name))
    return facts_on(topic)
