"""The workflow case of one proposal. Pure: applying an event returns the new case and the
events it causes; nothing here reads or writes anything."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from contracts.approvals import TransitionRefused
from contracts.common import Stage
from contracts.envelope import AnyEnvelope, new_envelope
from contracts.proposals import ProposalSubmitted
from contracts.workflow import Moved, Refusal, transition

SERVICE_PRODUCER = "svc-approvals"


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


@dataclass(frozen=True)
class Outcome:
    case: Case | None
    """The case after the event (unchanged on a refusal; None if there is still no case)."""
    events: list[AnyEnvelope] = field(default_factory=list)
    history_entry: dict[str, Any] | None = None
    duplicate: bool = False


def _entry(envelope: AnyEnvelope, from_stage: Stage | None, to_stage: Stage | None,
           refused: str | None = None) -> dict[str, Any]:
    return {"event_id": str(envelope.event_id), "event_type": envelope.event_type,
            "producer": envelope.producer, "at": envelope.occurred_at,
            "from": from_stage.value if from_stage else None,
            "to": to_stage.value if to_stage else None, "refused": refused}


def refusal_event(envelope: AnyEnvelope, refusal: Refusal) -> AnyEnvelope:
    return new_envelope(
        TransitionRefused(refused_event_id=str(envelope.event_id),
                          refused_event_type=envelope.event_type, producer=envelope.producer,
                          stage=refusal.stage, reason=refusal.reason),
        producer=SERVICE_PRODUCER, proposal_id=envelope.proposal_id, cause=envelope)


def open_case(envelope: AnyEnvelope) -> Outcome:
    """A ProposalSubmitted fact opens the case."""
    payload = envelope.payload
    assert isinstance(payload, ProposalSubmitted)
    moved = transition(None, envelope.event_type, envelope.proposal_id)
    assert isinstance(moved, Moved)
    entry = _entry(envelope, None, moved.to_stage)
    case = Case(
        proposal_id=envelope.proposal_id, stage=moved.to_stage, applicant=payload.applicant,
        province_code=payload.content.province.code,
        area_name=payload.content.area_name.model_dump(), history=(entry,),
        processed=frozenset({str(envelope.event_id)}),
    )
    return Outcome(case, history_entry=entry)


def apply(case: Case | None, envelope: AnyEnvelope) -> Outcome:
    """Apply one event (a fact from the proposals service, or an authorised decision)."""
    if case is not None and str(envelope.event_id) in case.processed:
        return Outcome(case, duplicate=True)
    if case is None and envelope.event_type == "ProposalSubmitted":
        return open_case(envelope)
    result = transition(case.stage if case else None, envelope.event_type, envelope.proposal_id)
    if isinstance(result, Refusal):
        entry = _entry(envelope, result.stage, None, refused=result.reason.en)
        if case is None:
            return Outcome(None, [refusal_event(envelope, result)], entry)
        refused_case = replace(case, history=case.history + (entry,),
                               processed=case.processed | {str(envelope.event_id)})
        return Outcome(refused_case, [refusal_event(envelope, result)], entry)
    assert case is not None
    entry = _entry(envelope, result.from_stage, result.to_stage)
    moved_case = replace(case, stage=result.to_stage, history=case.history + (entry,),
                         processed=case.processed | {str(envelope.event_id)})
    return Outcome(moved_case, history_entry=entry)
