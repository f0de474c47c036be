"""Who may do what: the authorisation matrix as data, and the pure functions that apply it.

Every path into the system (HTTP and Kafka intake alike) calls `authorise`; no other code decides
whether a producer may make a claim. Every read and every administrative route asks `may_read`,
`sees_only_own` and `may_administer`; no route decides those itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.common import AgencyKind
from smartcity_th.contracts.refusal import Refusal, RefusalKind, refusal

K = AgencyKind

MATRIX: dict[str, frozenset[AgencyKind]] = {name: spec.producers for name, spec in EVENTS.items()}
"""Event type -> the agency kinds that may produce it (from the event specifications)."""

PROVINCE_BOUND = frozenset({K.LOCAL_GOVERNMENT, K.PROVINCIAL_ADMINISTRATIVE_ORGANISATION})
"""Applicant kinds that may act only for proposals in their own province."""

OWNER_BOUND_EVENTS = frozenset(name for name, spec in EVENTS.items() if spec.owner_bound)
"""Events an applicant may produce only for a proposal it owns."""


def is_claimable(event_type: str) -> bool:
    """Whether an agency may claim `event_type` (on the intake topic or over HTTP), for its owner
    to turn into a fact; the other events are only ever emitted by the services themselves."""
    spec = EVENTS.get(event_type)
    return spec is not None and spec.claimable


ADMINISTRATORS = frozenset({K.DEPA, K.SYSTEM})
"""Agency kinds that may administer: the recipients directory, digests, the deadline scan."""


def may_administer(kind: AgencyKind) -> bool:
    return kind in ADMINISTRATORS


def sees_only_own(kind: AgencyKind) -> bool:
    """Applicants see only their own proposals, cases and decisions; the agencies of the
    workflow (depa, DES, the committees, the Cabinet, the systems) see every one."""
    return kind.is_applicant


def may_read(kind: AgencyKind, agency_id: str, owner: str | None) -> bool:
    """Whether an agency may read a proposal (or its case) that `owner` applied for. Callers
    answer a refusal as if the proposal did not exist (`unknown_proposal`), never naming the
    owner."""
    return not sees_only_own(kind) or owner == agency_id


@dataclass(frozen=True)
class Producer:
    """An authenticated (HTTP) or claimed-and-known (Kafka) agency."""

    agency_id: str
    kind: AgencyKind
    province_code: str | None = None


def authorise(
    producer: Producer,
    event_type: str,
    *,
    proposal_owner: str | None = None,
    province_code: str | None = None,
) -> Refusal | None:
    """Why `producer` may not emit `event_type` about a proposal owned by `proposal_owner` in
    `province_code` (None: it may). Pure: the caller supplies what it knows of the proposal.
    Another agency's proposal is refused as `unknown_proposal`: answered as if it did not
    exist, never naming its owner."""
    allowed_kinds = MATRIX.get(event_type)
    if allowed_kinds is None:
        return refusal(
            RefusalKind.UNAUTHORISED,
            f"{event_type} is not an event type of this workflow",
            f"{event_type} ไม่ใช่เหตุการณ์ในกระบวนการนี้",
        )
    if producer.kind not in allowed_kinds:
        who = ", ".join(sorted(k.value for k in allowed_kinds))
        return refusal(
            RefusalKind.UNAUTHORISED,
            f"{producer.agency_id} ({producer.kind.value}) may not emit {event_type}; "
            f"only {who} may",
            f"หน่วยงาน {producer.agency_id} ไม่มีสิทธิ์ส่ง {event_type} (เฉพาะ {who})",
        )
    if (
        event_type in OWNER_BOUND_EVENTS
        and proposal_owner is not None
        and proposal_owner != producer.agency_id
    ):
        return refusal(
            RefusalKind.UNKNOWN_PROPOSAL,
            f"{producer.agency_id} may act only for its own proposals",
            f"หน่วยงาน {producer.agency_id} ดำเนินการได้เฉพาะข้อเสนอของตนเอง",
        )
    if (
        producer.kind in PROVINCE_BOUND
        and province_code is not None
        and producer.province_code != province_code
    ):
        return refusal(
            RefusalKind.UNAUTHORISED,
            f"{producer.agency_id} is a {producer.kind.value} of province "
            f"{producer.province_code} and may not act for province {province_code}",
            f"หน่วยงาน {producer.agency_id} สังกัดจังหวัดรหัส {producer.province_code} "
            f"ไม่สามารถดำเนินการแทนจังหวัดรหัส {province_code}",
        )
    return None
