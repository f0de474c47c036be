"""The workflow case of one proposal. Pure: applying an event returns the new case and the
events it causes; nothing here reads or writes anything."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from contracts.approvals import (
    AwardCertification,
    CabinetEndorsed,
    CabinetReturned,
    CertificationAwarded,
    DeliveryDeadlineReminder,
    MeetingDecision,
    MeetingRecorded,
    RevisionRequested,
    SteeringCommitteeAcknowledged,
    SubcommitteeApproved,
    SubcommitteeRejected,
    TransitionRefused,
    ValidityPeriod,
)
from contracts.authorisation import Refused
from contracts.common import BilingualText, Contract, Stage
from contracts.envelope import AnyEnvelope, new_envelope
from contracts.proposals import ProposalSubmitted
from contracts.workflow import TRANSITIONS, Moved, Refusal, transition

SERVICE_PRODUCER = "svc-approvals"
IDS = uuid.UUID("5b1f3c2e-7d4a-4e0b-9a51-2f6c8d0e9a10")
"""Namespace of the deterministic (uuid5) event ids this service derives."""

DECISION_TYPES = frozenset(TRANSITIONS) - {"ProposalResubmitted", "ProposalWithdrawn"}
"""Decisions agencies record with this service (the proposals service owns the others)."""

DELIVERY_YEARS = 2
REMINDER_THRESHOLDS: tuple[tuple[str, int], ...] = (("overdue", -1), ("d30", 30), ("d90", 90))
"""Reminder keys, most severe first, with the largest `days_left` at which each is due."""


def derived_id(*parts: str) -> uuid.UUID:
    return uuid.uuid5(IDS, "|".join(parts))


@dataclass(frozen=True)
class Case:
    proposal_id: str
    stage: Stage
    applicant: str
    province_code: str
    area_name: dict[str, str]
    history: tuple[dict[str, Any], ...] = ()
    processed: frozenset[str] = frozenset()
    version: int = 0
    subcommittee_meeting_id: str | None = None
    certificate: dict[str, Any] | None = None
    reminders: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Outcome:
    case: Case | None
    """The case after the event (unchanged on a refusal; None if there is still no case)."""
    events: list[AnyEnvelope] = field(default_factory=list)
    history_entry: dict[str, Any] | None = None
    duplicate: bool = False
    updates: dict[str, Any] = field(default_factory=dict)
    """Fields of the case document to set besides the stage."""
    refusal: Refusal | None = None
    unauthorised: bool = False


def _entry(
    envelope: AnyEnvelope,
    from_stage: Stage | None,
    to_stage: Stage | None,
    refused: str | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "event_id": str(envelope.event_id),
        "event_type": envelope.event_type,
        "producer": envelope.producer,
        "at": envelope.occurred_at,
        "from": from_stage.value if from_stage else None,
        "to": to_stage.value if to_stage else None,
        "refused": refused,
    }
    if envelope.causation_id is not None:
        entry["claim_id"] = str(envelope.causation_id)
    payload = envelope.payload
    meeting = getattr(payload, "meeting", None)
    if meeting is not None:
        entry["meeting_id"] = meeting.meeting_id
    if isinstance(payload, CabinetEndorsed | CabinetReturned):
        entry["resolution_number"] = payload.resolution_number
    if isinstance(payload, CertificationAwarded) and refused is None:
        entry["certificate_number"] = payload.certificate_number
    return entry


def refusal_event(envelope: AnyEnvelope, refusal: Refusal) -> AnyEnvelope:
    """TransitionRefused addressed to whoever produced the refused claim."""
    refused_id = envelope.causation_id or envelope.event_id
    return new_envelope(
        TransitionRefused(
            refused_event_id=str(refused_id),
            refused_event_type=envelope.event_type,
            producer=envelope.producer,
            stage=refusal.stage,
            reason=refusal.reason,
        ),
        producer=SERVICE_PRODUCER,
        proposal_id=envelope.proposal_id,
        cause=envelope,
        event_id=derived_id("refused", str(envelope.event_id)),
    )


def open_case(envelope: AnyEnvelope) -> Outcome:
    """A ProposalSubmitted fact opens the case."""
    payload = envelope.payload
    assert isinstance(payload, ProposalSubmitted)
    moved = transition(None, envelope.event_type, envelope.proposal_id)
    assert isinstance(moved, Moved)
    entry = _entry(envelope, None, moved.to_stage)
    case = Case(
        proposal_id=envelope.proposal_id,
        stage=moved.to_stage,
        applicant=payload.applicant,
        province_code=payload.content.province.code,
        area_name=payload.content.area_name.model_dump(),
        history=(entry,),
        processed=frozenset({str(envelope.event_id)}),
    )
    return Outcome(case, history_entry=entry)


def _refuse(
    case: Case | None, envelope: AnyEnvelope, refusal: Refusal, unauthorised: bool = False
) -> Outcome:
    entry = _entry(envelope, refusal.stage, None, refused=refusal.reason.en)
    events = [refusal_event(envelope, refusal)]
    if case is None:
        return Outcome(None, events, entry, refusal=refusal, unauthorised=unauthorised)
    refused_case = replace(
        case, history=(*case.history, entry), processed=case.processed | {str(envelope.event_id)}
    )
    return Outcome(refused_case, events, entry, refusal=refusal, unauthorised=unauthorised)


def _updates(case: Case, payload: Contract) -> tuple[Case, dict[str, Any]]:
    if isinstance(payload, SubcommitteeApproved):
        meeting_id = payload.meeting.meeting_id
        return replace(case, subcommittee_meeting_id=meeting_id), {
            "subcommittee_meeting_id": meeting_id
        }
    if isinstance(payload, CertificationAwarded):
        certificate = {
            "certificate_number": payload.certificate_number,
            "valid_from": payload.validity.valid_from.isoformat(),
            "deliver_by": payload.validity.deliver_by.isoformat(),
            "renewal_min_progress_percent": payload.validity.renewal_min_progress_percent,
            "subcommittee_meeting_id": payload.subcommittee_meeting_id,
        }
        return replace(case, certificate=certificate), {"certificate": certificate}
    return case, {}


def apply(case: Case | None, envelope: AnyEnvelope) -> Outcome:
    """Apply one event: a fact from the proposals service, or an authorised decision (which,
    once it moves the case, is published as a fact)."""
    if case is not None and str(envelope.event_id) in case.processed:
        return Outcome(case, duplicate=True)
    if case is None and envelope.event_type == "ProposalSubmitted":
        return open_case(envelope)
    result = transition(case.stage if case else None, envelope.event_type, envelope.proposal_id)
    if isinstance(result, Refusal):
        return _refuse(case, envelope, result)
    assert case is not None
    entry = _entry(envelope, result.from_stage, result.to_stage)
    moved_case, updates = _updates(case, envelope.payload)
    moved_case = replace(
        moved_case,
        stage=result.to_stage,
        history=(*case.history, entry),
        processed=case.processed | {str(envelope.event_id)},
    )
    events = [envelope] if envelope.event_type in DECISION_TYPES else []
    return Outcome(moved_case, events, entry, updates=updates)


def decide(case: Case | None, fact: AnyEnvelope, authorisation: Refused | None) -> Outcome:
    """A decision claim, already turned into the fact it would become: refused when its
    producer may not make it, otherwise applied like any event."""
    if case is not None and str(fact.event_id) in case.processed:
        return Outcome(case, duplicate=True)
    if authorisation is not None:
        refusal = Refusal(
            case.stage if case else None,
            BilingualText(
                en=f"{fact.event_type} refused: {authorisation.reason_en}"[:500],
                th=f"ปฏิเสธ {fact.event_type}: {authorisation.reason_th}"[:500],
            ),
        )
        return _refuse(case, fact, refusal, unauthorised=True)
    return apply(case, fact)


def may_award(case: Case | None, fact_id: uuid.UUID) -> bool:
    """Would a CertificationAwarded be applied now (so a certificate number is needed)?"""
    return (
        case is not None
        and str(fact_id) not in case.processed
        and isinstance(transition(case.stage, "CertificationAwarded", case.proposal_id), Moved)
    )


def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def certificate_number(be_year: int, sequence: int) -> str:
    return f"SCT-{be_year}-{sequence:04d}"


def certification(case: Case, number: str, valid_from: dt.date) -> CertificationAwarded:
    return CertificationAwarded(
        certificate_number=number,
        area_name=BilingualText(**case.area_name),
        province_code=case.province_code,
        subcommittee_meeting_id=case.subcommittee_meeting_id or "unknown",
        validity=ValidityPeriod(
            valid_from=valid_from, deliver_by=add_years(valid_from, DELIVERY_YEARS)
        ),
    )


def award_request_date(payload: Contract, today: dt.date) -> dt.date:
    if isinstance(payload, AwardCertification) and payload.valid_from is not None:
        return payload.valid_from
    if isinstance(payload, CertificationAwarded):
        return payload.validity.valid_from
    return today


def meeting_payload(meeting: MeetingRecorded, decision: MeetingDecision, producer: str) -> Contract:
    """The per-proposal decision event of one meeting decision."""
    reasons = decision.reasons or BilingualText(th="-", en="-")
    match decision.decision:
        case "SubcommitteeApproved":
            return SubcommitteeApproved(meeting=meeting.meeting, resolution=decision.resolution)
        case "SubcommitteeRejected":
            return SubcommitteeRejected(
                meeting=meeting.meeting, resolution=decision.resolution, reasons=reasons
            )
        case "RevisionRequested":
            return RevisionRequested(requested_by=producer, reasons=reasons)
        case "SteeringCommitteeAcknowledged":
            return SteeringCommitteeAcknowledged(
                meeting=meeting.meeting, resolution=decision.resolution
            )
        case "CabinetEndorsed":
            assert meeting.resolution_number is not None
            return CabinetEndorsed(
                resolution_number=meeting.resolution_number,
                resolution_date=meeting.meeting.held_on,
                resolution=decision.resolution,
            )
        case _:
            assert meeting.resolution_number is not None
            return CabinetReturned(
                resolution_number=meeting.resolution_number,
                resolution_date=meeting.meeting.held_on,
                resolution=decision.resolution,
                reasons=reasons,
            )


def meeting_fact_id(
    producer: str, meeting: MeetingRecorded, decision: MeetingDecision
) -> uuid.UUID:
    """The same meeting recorded twice (by the same producer) derives the same event ids."""
    return derived_id(
        "meeting",
        producer,
        meeting.body,
        meeting.meeting.meeting_id,
        decision.proposal_id,
        decision.decision,
    )


def claim_fact_id(claim: AnyEnvelope) -> uuid.UUID:
    return derived_id("claim", str(claim.event_id))


def due_reminder(case: Case, as_of: dt.date, now: dt.datetime) -> Outcome | None:
    """The DeliveryDeadlineReminder a certified case is due as of `as_of` (one per threshold:
    the most severe newly crossed one; the milder ones crossed with it count as sent)."""
    if case.stage is not Stage.CERTIFIED or case.certificate is None:
        return None
    deliver_by = dt.date.fromisoformat(case.certificate["deliver_by"])
    days_left = (deliver_by - as_of).days
    crossed = [key for key, limit in REMINDER_THRESHOLDS if days_left <= limit]
    new = [key for key in crossed if key not in case.reminders]
    if not new:
        return None
    number = case.certificate["certificate_number"]
    event = new_envelope(
        DeliveryDeadlineReminder(
            certificate_number=number,
            deliver_by=deliver_by,
            overdue=days_left < 0,
            days_left=days_left,
        ),
        producer=SERVICE_PRODUCER,
        proposal_id=case.proposal_id,
        occurred_at=now,
        event_id=derived_id("reminder", number, new[0]),
    )
    entry = _entry(event, case.stage, case.stage)
    entry["threshold"] = new[0]
    reminders = case.reminders | set(crossed)
    updated = replace(
        case,
        history=(*case.history, entry),
        reminders=reminders,
        processed=case.processed | {str(event.event_id)},
    )
    return Outcome(updated, [event], entry, updates={"reminders": sorted(reminders)})
