"""The workflow case of one proposal. Pure: applying an event returns the new case and the
events it causes; nothing here reads or writes anything."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from smartcity_th.contracts.approvals import (
    DELIVERY_YEARS,
    RENEWAL_MIN_PROGRESS_PERCENT,
    AwardCertification,
    CabinetEndorsed,
    CabinetReturned,
    CertificationAwarded,
    CertificationLapsed,
    CertificationRenewed,
    DeliveryDeadlineReminder,
    MeetingDecision,
    MeetingRecorded,
    RevisionRequested,
    SteeringCommitteeAcknowledged,
    SubcommitteeApproved,
    SubcommitteeRejected,
    TransitionRefused,
    ValidityPeriod,
    decided_on,
)
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.certificate import (
    LIFECYCLE_EVENTS,
    Certificate,
    Recorded,
    check,
    fold,
    next_deadline,
    status,
)
from smartcity_th.contracts.certificate import due_reminder as due_certificate_reminder
from smartcity_th.contracts.common import BilingualText, Contract, Stage, service_principal
from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.proposals import ProposalSubmitted
from smartcity_th.contracts.refusal import Refusal, RefusalKind
from smartcity_th.contracts.workflow import (
    CERTIFICATE_EVENTS,
    TRANSITIONS,
    Moved,
    transition,
)

SERVICE_PRODUCER = service_principal("approvals")
IDS = uuid.UUID("5b1f3c2e-7d4a-4e0b-9a51-2f6c8d0e9a10")
"""Namespace of the deterministic (uuid5) event ids this service derives."""

DECISION_TYPES = frozenset(TRANSITIONS) - {"ProposalResubmitted", "ProposalWithdrawn"}
"""Decisions agencies record with this service (the proposals service owns the others)."""


@dataclass(frozen=True)
class Rules:
    """The deployment's settings the certificate rules take (see ApprovalsSettings)."""

    delivery_years: int = DELIVERY_YEARS
    renewal_min_progress_percent: int = RENEWAL_MIN_PROGRESS_PERCENT
    go_live: dt.date | None = None


DEFAULT_RULES = Rules()


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
    if envelope.event_type in LIFECYCLE_EVENTS and refused is None:
        entry["payload"] = payload.model_dump(mode="json")
    return entry


def _recorded_on(entry: dict[str, Any]) -> dt.date:
    at = entry["at"]
    return at.date() if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(str(at)).date()


def certificate_of(case: Case) -> Certificate | None:
    """The case's certificate, folded from the lifecycle events in its history."""
    return certificate_from(case.history, case.certificate, case.area_name, case.province_code)


def certificate_from(
    history: Iterable[dict[str, Any]],
    certificate: dict[str, Any] | None,
    area_name: dict[str, str],
    province_code: str,
) -> Certificate | None:
    """The certificate folded from a case's history entries (as stored)."""
    events: list[Recorded] = []
    for entry in history:
        if entry.get("refused") or entry.get("event_type") not in LIFECYCLE_EVENTS:
            continue
        raw = entry.get("payload")
        if raw is None and entry["event_type"] == "CertificationAwarded" and certificate:
            raw = _award_from_certificate(certificate, area_name, province_code)
        if raw is None:
            continue
        payload = EVENTS[entry["event_type"]].payload.model_validate(raw)
        events.append(Recorded(payload, _recorded_on(entry)))
    return fold(events)


def award_from(
    history: Iterable[dict[str, Any]],
    certificate: dict[str, Any] | None,
    area_name: dict[str, str],
    province_code: str,
) -> CertificationAwarded | None:
    """The award as it was published (with its seal), from a case's history entries."""
    for entry in history:
        if entry.get("refused") or entry.get("event_type") != "CertificationAwarded":
            continue
        raw = entry.get("payload")
        if raw is None and certificate:
            raw = _award_from_certificate(certificate, area_name, province_code)
        if raw is not None:
            return CertificationAwarded.model_validate(raw)
    return None


def certificate_status(
    history: Iterable[dict[str, Any]],
    certificate: dict[str, Any] | None,
    area_name: dict[str, str],
    province_code: str,
    as_of: dt.date,
    go_live: dt.date | None,
) -> dict[str, Any] | None:
    """The registry's view of a case's certificate as of `as_of`."""
    cert = certificate_from(history, certificate, area_name, province_code)
    return None if cert is None else status(cert, as_of, go_live).as_dict()


def _award_from_certificate(
    c: dict[str, Any], area_name: dict[str, str], province_code: str
) -> dict[str, Any]:
    """A case stored before awards kept their payload in the history."""
    return {
        "certificate_number": c["certificate_number"],
        "area_name": area_name,
        "province_code": province_code,
        "subcommittee_meeting_id": c.get("subcommittee_meeting_id") or "unknown",
        "validity": {
            "valid_from": c["valid_from"],
            "deliver_by": c["deliver_by"],
            "renewal_min_progress_percent": c.get(
                "renewal_min_progress_percent", RENEWAL_MIN_PROGRESS_PERCENT
            ),
        },
        "seal": c.get("seal"),
    }


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


def _refuse(case: Case | None, envelope: AnyEnvelope, refusal: Refusal) -> Outcome:
    entry = _entry(envelope, refusal.stage, None, refused=refusal.reason.en)
    events = [refusal_event(envelope, refusal)]
    if case is None:
        return Outcome(None, events, entry, refusal=refusal)
    refused_case = replace(
        case, history=(*case.history, entry), processed=case.processed | {str(envelope.event_id)}
    )
    return Outcome(refused_case, events, entry, refusal=refusal)


def _at(case: Case | None, reason: BilingualText) -> Refusal:
    """Refused by the case's state: a conflict with its stage; with no case, unknown."""
    if case is None:
        return Refusal(RefusalKind.UNKNOWN_PROPOSAL, reason)
    return Refusal(RefusalKind.CONFLICT, reason, stage=case.stage)


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
        if payload.seal is not None:
            certificate["seal"] = payload.seal.model_dump(mode="json")
        return replace(case, certificate=certificate), {"certificate": certificate}
    if isinstance(payload, CertificationRenewed) and payload.deliver_by is not None:
        certificate = {**(case.certificate or {}), "deliver_by": payload.deliver_by.isoformat()}
        return replace(case, certificate=certificate), {"certificate": certificate}
    if isinstance(payload, CertificationLapsed):
        certificate = {**(case.certificate or {}), "lapsed": payload.reasons.model_dump()}
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
    if envelope.event_type in CERTIFICATE_EVENTS:
        why = check(certificate_of(case), envelope.payload)
        if why is not None:
            return _refuse(case, envelope, _at(case, why))
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


def decide(case: Case | None, fact: AnyEnvelope, authorisation: Refusal | None) -> Outcome:
    """A decision claim, already turned into the fact it would become: refused when its
    producer may not make it (`authorisation`: why not), otherwise applied like any event."""
    if case is not None and str(fact.event_id) in case.processed:
        return Outcome(case, duplicate=True)
    if authorisation is not None:
        refusal = Refusal(
            RefusalKind.UNAUTHORISED,
            BilingualText(
                en=f"{fact.event_type} refused: {authorisation.reason.en}"[:500],
                th=f"ปฏิเสธ {fact.event_type}: {authorisation.reason.th}"[:500],
            ),
            stage=case.stage if case else None,
        )
        return _refuse(case, fact, refusal)
    too_late = dated_after_recording(fact)
    if too_late is not None:
        return _refuse(case, fact, _at(case, too_late))
    return apply(case, fact)


def dated_after_recording(fact: AnyEnvelope) -> BilingualText | None:
    """A decision cannot have taken effect after the day it is recorded (in Thailand): a
    meeting, a Cabinet resolution or a step recorded late (`effective_on`) dated later is
    refused. (An award may start later: its first day is not when it was decided.)"""
    if isinstance(fact.payload, CertificationAwarded):
        return None
    day = decided_on(fact.payload)
    recorded = fact.occurred_at.astimezone(dt.timezone(dt.timedelta(hours=7))).date()
    if day is None or day <= recorded:
        return None
    return BilingualText(
        en=f"{fact.event_type} refused: it is dated {day}, after the day it is recorded "
        f"({recorded})",
        th=f"ปฏิเสธ {fact.event_type}: ลงวันที่ {day} ซึ่งอยู่หลังวันที่บันทึก ({recorded})",
    )


def may_award(case: Case | None, fact_id: uuid.UUID) -> bool:
    """Would a CertificationAwarded be applied now (so a certificate number is needed)?"""
    return (
        case is not None
        and str(fact_id) not in case.processed
        and isinstance(transition(case.stage, "CertificationAwarded", case.proposal_id), Moved)
    )


def certificate_number(be_year: int, sequence: int) -> str:
    return f"SCT-{be_year}-{sequence:04d}"


def certification(
    case: Case, number: str, valid_from: dt.date, rules: Rules = DEFAULT_RULES
) -> CertificationAwarded:
    return CertificationAwarded(
        certificate_number=number,
        area_name=BilingualText(**case.area_name),
        province_code=case.province_code,
        subcommittee_meeting_id=case.subcommittee_meeting_id or "unknown",
        validity=ValidityPeriod.starting(
            valid_from, rules.delivery_years, rules.renewal_min_progress_percent
        ),
    )


def renewal(case: Case | None, payload: CertificationRenewed, rules: Rules) -> CertificationRenewed:
    """The renewal fact: the next deadline is the claim's, or the current one plus the
    deployment's delivery period."""
    cert = certificate_of(case) if case is not None else None
    if payload.deliver_by is not None or cert is None:
        return payload
    return payload.model_copy(update={"deliver_by": next_deadline(cert, rules.delivery_years)})


def scan_as_of(requested: dt.date | None, today: dt.date) -> dt.date:
    """The day a deadline scan runs as of: the one asked for, else today."""
    return requested or today


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
                date_note=meeting.meeting.date_note,
                resolution=decision.resolution,
            )
        case _:
            assert meeting.resolution_number is not None
            return CabinetReturned(
                resolution_number=meeting.resolution_number,
                resolution_date=meeting.meeting.held_on,
                date_note=meeting.meeting.date_note,
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


def due_reminder(
    case: Case, as_of: dt.date, now: dt.datetime, go_live: dt.date | None = None
) -> Outcome | None:
    """The DeliveryDeadlineReminder a certified case is due as of `as_of` (one per threshold
    and deadline: the most severe newly crossed one; the milder ones crossed with it count as
    sent). None for a deadline from history, an acknowledged report or a lapsed certificate."""
    if case.stage is not Stage.CERTIFIED:
        return None
    cert = certificate_of(case)
    if cert is None:
        return None
    due = due_certificate_reminder(cert, as_of, go_live, case.reminders)
    if due is None:
        return None
    event = new_envelope(
        DeliveryDeadlineReminder(
            certificate_number=cert.number,
            deliver_by=due.deliver_by,
            overdue=due.days_left < 0,
            days_left=due.days_left,
        ),
        producer=SERVICE_PRODUCER,
        proposal_id=case.proposal_id,
        occurred_at=now,
        event_id=derived_id("reminder", cert.number, due.key),
    )
    entry = _entry(event, case.stage, case.stage)
    entry["threshold"] = due.key.rsplit(":", 1)[1]
    reminders = case.reminders | due.crossed
    updated = replace(
        case,
        history=(*case.history, entry),
        reminders=reminders,
        processed=case.processed | {str(event.event_id)},
    )
    return Outcome(updated, [event], entry, updates={"reminders": sorted(reminders)})
