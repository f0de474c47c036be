"""Who is told about what: the routing table as data.

Roles: `applicant` (the applicant agency and the proposal's contact addresses), `province` (the
governor's office of the proposal's province), `depa`, `des`, `steering`, `cabinet` (those
agencies' secretariats) and `producer` (whoever produced a refused claim)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    APPLICANT = "applicant"
    PROVINCE = "province"
    DEPA = "depa"
    DES = "des"
    STEERING = "steering"
    CABINET = "cabinet"
    PRODUCER = "producer"


R = Role

ROUTES: dict[str, tuple[Role, ...]] = {
    "ProposalSubmitted": (R.APPLICANT, R.DEPA),
    "ProposalResubmitted": (R.APPLICANT, R.DEPA),
    "ProposalWithdrawn": (R.APPLICANT, R.DEPA, R.DES),
    "IntakeRejected": (R.PRODUCER,),
    "ProposalScreened": (R.APPLICANT, R.DEPA, R.DES),
    "RevisionRequested": (R.APPLICANT, R.DEPA),
    "SubcommitteeApproved": (R.APPLICANT, R.PROVINCE, R.DEPA, R.DES),
    "SubcommitteeRejected": (R.APPLICANT, R.PROVINCE, R.DEPA, R.DES),
    "SteeringCommitteeAcknowledged": (R.APPLICANT, R.DEPA, R.DES, R.STEERING),
    "CabinetEndorsed": (R.APPLICANT, R.PROVINCE, R.DEPA, R.DES, R.CABINET),
    "CabinetReturned": (R.APPLICANT, R.PROVINCE, R.DEPA, R.DES, R.CABINET),
    "CertificationAwarded": (R.APPLICANT, R.PROVINCE, R.DEPA, R.DES),
    "TransitionRefused": (R.PRODUCER,),
    "DeliveryDeadlineReminder": (R.APPLICANT, R.DEPA),
    "DeliveryReported": (R.APPLICANT, R.DEPA),
    "DeliveryAcknowledged": (R.APPLICANT, R.DEPA),
    "DeliveryReturned": (R.APPLICANT, R.DEPA),
    "CertificationRenewed": (R.APPLICANT, R.PROVINCE, R.DEPA, R.DES),
    "CertificationLapsed": (R.APPLICANT, R.PROVINCE, R.DEPA, R.DES),
}
"""Event type -> roles to email. Events not listed (NotificationSent/Failed) send nothing."""

CRITICAL = frozenset({"IntakeRejected", "TransitionRefused", "CabinetEndorsed", "CabinetReturned"})
"""Always sent at once, even to recipients who chose a daily digest."""

ROLE_AGENCY: dict[Role, str] = {
    R.DEPA: "depa",
    R.DES: "des-subcommittee",
    R.STEERING: "steering-committee",
    R.CABINET: "cabinet-secretariat",
}
"""Roles that are one fixed agency of the directory."""


def needs_proposal(event_type: str) -> bool:
    """Whether an event's letters need its proposal (its applicant, contacts or province)."""
    return bool({Role.APPLICANT, Role.PROVINCE} & set(ROUTES.get(event_type, ())))


def governor_office_id(province_code: str) -> str:
    return f"governor-{province_code}"


@dataclass(frozen=True)
class Addressees:
    """Who an event goes to, before the directory is asked: directory ids (routing order, no
    repeats) and the proposal's own contact addresses."""

    directory_ids: tuple[str, ...]
    contacts: tuple[str, ...]


def addressees(event_type: str, proposal: Mapping[str, Any], producer: str | None) -> Addressees:
    """Apply the routing table to one event: `proposal` is what is known about the proposal
    (applicant, province, contact_emails), `producer` the refused producer of a refusal."""
    ids: list[str] = []
    contacts: list[str] = []
    for role in ROUTES.get(event_type, ()):
        if role is Role.APPLICANT:
            ids.append(proposal.get("applicant") or "")
            contacts.extend(proposal.get("contact_emails") or [])
        elif role is Role.PROVINCE:
            code = (proposal.get("province") or {}).get("code")
            ids.append(governor_office_id(code) if code else "")
        elif role is Role.PRODUCER:
            ids.append(producer or "")
        else:
            ids.append(ROLE_AGENCY[role])
    return Addressees(
        tuple(dict.fromkeys(i for i in ids if i)), tuple(dict.fromkeys(c.lower() for c in contacts))
    )
