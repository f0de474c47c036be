"""The workflow state machine: every allowed transition, every refused one, and random event
sequences (hypothesis) that never reach an invalid state and never lose history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcity_th.contracts.approvals import (
    CabinetEndorsed,
    CabinetReturned,
    CertificationAwarded,
    CertificationLapsed,
    CertificationRenewed,
    DeliveryAcknowledged,
    DeliveryReported,
    DeliveryReturned,
    ProposalScreened,
    ReportSummary,
    RevisionRequested,
    SteeringCommitteeAcknowledged,
    SubcommitteeApproved,
    SubcommitteeRejected,
    ValidityPeriod,
)
from smartcity_th.contracts.common import BilingualText, Contract, Meeting, Stage
from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.proposals import ProposalResubmitted, ProposalWithdrawn
from smartcity_th.contracts.refusal import Refusal, RefusalKind
from smartcity_th.contracts.workflow import (
    CERTIFICATE_EVENTS,
    EVENT_NAMES,
    STAGE_NAMES,
    TRANSITIONS,
    Moved,
    stage_after,
    transition,
)
from smartcity_th.services.approvals.domain import Case, apply, certificate_of
from tests.builders import content
from tests.e2e.approvals_support import submitted

S = Stage
P = "SC-TEST00001"
ACTIVE = [
    S.SUBMITTED,
    S.REVISION_REQUESTED,
    S.SCREENED,
    S.SUBCOMMITTEE_APPROVED,
    S.STEERING_ACKNOWLEDGED,
    S.CABINET_ENDORSED,
    S.CABINET_RETURNED,
]

ALLOWED: dict[tuple[Stage | None, str], Stage] = {
    (None, "ProposalSubmitted"): S.SUBMITTED,
    (S.REVISION_REQUESTED, "ProposalResubmitted"): S.SUBMITTED,
    **{(stage, "ProposalWithdrawn"): S.WITHDRAWN for stage in ACTIVE},
    (S.SUBMITTED, "ProposalScreened"): S.SCREENED,
    (S.SUBMITTED, "RevisionRequested"): S.REVISION_REQUESTED,
    (S.SCREENED, "RevisionRequested"): S.REVISION_REQUESTED,
    (S.SCREENED, "SubcommitteeApproved"): S.SUBCOMMITTEE_APPROVED,
    (S.SCREENED, "SubcommitteeRejected"): S.REJECTED,
    (S.SUBCOMMITTEE_APPROVED, "SteeringCommitteeAcknowledged"): S.STEERING_ACKNOWLEDGED,
    (S.STEERING_ACKNOWLEDGED, "CabinetEndorsed"): S.CABINET_ENDORSED,
    # A Cabinet return is rework, not the end: back to the subcommittee.
    (S.STEERING_ACKNOWLEDGED, "CabinetReturned"): S.CABINET_RETURNED,
    (S.CABINET_RETURNED, "SubcommitteeApproved"): S.SUBCOMMITTEE_APPROVED,
    (S.CABINET_RETURNED, "SubcommitteeRejected"): S.REJECTED,
    (S.CABINET_RETURNED, "RevisionRequested"): S.REVISION_REQUESTED,
    (S.CABINET_ENDORSED, "CertificationAwarded"): S.CERTIFIED,
    **{(S.CERTIFIED, event_type): S.CERTIFIED for event_type in CERTIFICATE_EVENTS},
}
EVENT_TYPES = ["ProposalSubmitted", *TRANSITIONS]
STAGES: list[Stage | None] = [None, *Stage]
PAIRS = [(stage, event) for stage in STAGES for event in EVENT_TYPES]


@pytest.mark.parametrize(("stage", "event_type"), [p for p in PAIRS if p in ALLOWED])
def test_every_allowed_transition(stage: Stage | None, event_type: str) -> None:
    assert transition(stage, event_type, P) == Moved(stage, ALLOWED[(stage, event_type)])
    assert stage_after(event_type) == ALLOWED[(stage, event_type)]


@pytest.mark.parametrize(("stage", "event_type"), [p for p in PAIRS if p not in ALLOWED])
def test_every_other_transition_is_refused_with_a_reason(
    stage: Stage | None, event_type: str
) -> None:
    result = transition(stage, event_type, P)
    assert isinstance(result, Refusal)
    assert result.stage == stage
    # Refused at a stage: a conflict with it; with no case yet, the proposal is unknown.
    assert result.kind is (RefusalKind.UNKNOWN_PROPOSAL if stage is None else RefusalKind.CONFLICT)
    name = EVENT_NAMES[event_type]
    assert result.reason.en.startswith(f"The {name.en} cannot be accepted: ")
    assert result.reason.th.startswith(f"ไม่อาจรับ{name.th}ได้ เนื่องจาก")
    # Names for people, never codes or ids.
    for text in (result.reason.en, result.reason.th):
        assert P not in text
        assert event_type not in text
        assert "_" not in text
    if stage is not None:
        assert f"\u201c{STAGE_NAMES[stage].en}\u201d" in result.reason.en
        assert f"\u201c{STAGE_NAMES[stage].th}\u201d" in result.reason.th


REASONS = [
    (
        S.SUBCOMMITTEE_APPROVED,
        "CabinetEndorsed",
        "The endorsement by the Cabinet cannot be accepted: the proposal is at the stage "
        "\u201cApproved by the subcommittee\u201d and the steering committee has not "
        "acknowledged it yet.",
    ),
    (
        S.SUBMITTED,
        "SubcommitteeApproved",
        "The approval by the subcommittee cannot be accepted: the proposal is at the stage "
        "\u201cSubmitted\u201d and depa has not screened it yet.",
    ),
    (
        S.CABINET_ENDORSED,
        "ProposalScreened",
        "The screening by depa cannot be accepted: the proposal is at the stage "
        "\u201cEndorsed by the Cabinet\u201d and it has already passed that step.",
    ),
    (
        S.CERTIFIED,
        "ProposalWithdrawn",
        "The withdrawal of the proposal cannot be accepted: the proposal is at the stage "
        "\u201cAnnounced as a smart-city area\u201d and it is already announced as a "
        "smart-city area; no further decisions apply.",
    ),
    (
        S.REJECTED,
        "ProposalResubmitted",
        "The resubmission of the revised proposal cannot be accepted: the proposal is at the "
        "stage \u201cNot approved\u201d and it was not approved; no further decisions apply.",
    ),
    (
        None,
        "ProposalScreened",
        "The screening by depa cannot be accepted: there is no such proposal.",
    ),
    (
        S.SCREENED,
        "ProposalSubmitted",
        "The submission of the proposal cannot be accepted: the proposal is at the stage "
        "\u201cScreened by depa\u201d and it was already submitted.",
    ),
]


@pytest.mark.parametrize(("stage", "event_type", "reason"), REASONS)
def test_reasons_a_person_understands(stage: Stage | None, event_type: str, reason: str) -> None:
    result = transition(stage, event_type, P)
    assert isinstance(result, Refusal)
    assert result.reason.en == reason


def test_an_unknown_event_type_is_not_a_decision() -> None:
    result = transition(S.SCREENED, "PizzaOrdered", P)
    assert isinstance(result, Refusal)
    assert result.reason.en == (
        "The unknown record cannot be accepted: it is not a decision of the certification process."
    )
    assert stage_after("PizzaOrdered") is None


# ---- random sequences through the Case aggregate ----

MEETING = Meeting(
    meeting_id="1/2565", held_on=dt.date(2022, 3, 1), chair=BilingualText(th="ประธาน", en="Chair")
)
WHY = BilingualText(th="เหตุผล", en="Reasons")
PAYLOADS: dict[str, Contract] = {
    "ProposalResubmitted": ProposalResubmitted(
        applicant="pd-samyan", revision=2, content=content("83")
    ),
    "ProposalWithdrawn": ProposalWithdrawn(applicant="pd-samyan", reason="no budget"),
    "ProposalScreened": ProposalScreened(screened_by="depa"),
    "RevisionRequested": RevisionRequested(requested_by="depa", reasons=WHY),
    "SubcommitteeApproved": SubcommitteeApproved(meeting=MEETING, resolution="ok"),
    "SubcommitteeRejected": SubcommitteeRejected(meeting=MEETING, resolution="no", reasons=WHY),
    "SteeringCommitteeAcknowledged": SteeringCommitteeAcknowledged(
        meeting=MEETING, resolution="noted"
    ),
    "CabinetEndorsed": CabinetEndorsed(
        resolution_number="1", resolution_date=dt.date(2022, 5, 1), resolution="endorsed"
    ),
    "CabinetReturned": CabinetReturned(
        resolution_number="2",
        resolution_date=dt.date(2022, 5, 1),
        resolution="returned",
        reasons=WHY,
    ),
    "CertificationAwarded": CertificationAwarded(
        certificate_number="SCT-2565-0001",
        area_name=BilingualText(th="ก", en="A"),
        province_code="83",
        subcommittee_meeting_id="1/2565",
        validity=ValidityPeriod(valid_from=dt.date(2022, 6, 1), deliver_by=dt.date(2024, 6, 1)),
    ),
    "DeliveryReported": DeliveryReported(
        certificate_number="SCT-2565-0001",
        period=dt.date(2024, 6, 1),
        progress_percent=60,
        summary=ReportSummary(th="สรุป", en="Summary"),
    ),
    "DeliveryAcknowledged": DeliveryAcknowledged(
        period=dt.date(2024, 6, 1), acknowledged_by="depa"
    ),
    "DeliveryReturned": DeliveryReturned(
        period=dt.date(2024, 6, 1), returned_by="depa", reasons=WHY
    ),
    "CertificationRenewed": CertificationRenewed(reasons=WHY, deliver_by=dt.date(2026, 6, 1)),
    "CertificationLapsed": CertificationLapsed(reasons=WHY),
}


def event(event_type: str, proposal_id: str) -> AnyEnvelope:
    return new_envelope(PAYLOADS[event_type], producer="depa", proposal_id=proposal_id)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*PAYLOADS, "ProposalSubmitted", "replay"]), max_size=25))
def test_random_sequences_never_reach_an_invalid_state_or_lose_history(
    steps: list[str],
) -> None:
    opening = submitted("83", 0)
    outcome = apply(None, opening)
    case = outcome.case
    assert case is not None
    seen: list[AnyEnvelope] = [opening]
    for step in steps:
        envelope = (
            seen[len(seen) // 2]
            if step == "replay"
            else (
                submitted("83", 0) if step == "ProposalSubmitted" else event(step, case.proposal_id)
            )
        )
        if step == "ProposalSubmitted":
            envelope = envelope.model_copy(update={"proposal_id": case.proposal_id})
        before: Case = case
        result = apply(before, envelope)
        assert result.case is not None
        case = result.case
        if step == "replay":
            assert result.duplicate
            assert case == before
            continue
        seen.append(envelope)
        # History only grows, by exactly one entry, and keeps everything before it.
        assert case.history[:-1] == before.history
        assert len(case.history) == len(before.history) + 1
        assert str(envelope.event_id) in case.processed
        entry = case.history[-1]
        expected = transition(before.stage, envelope.event_type, case.proposal_id)
        certificate_rule = envelope.event_type in CERTIFICATE_EVENTS
        if isinstance(expected, Moved) and not (certificate_rule and entry["refused"]):
            assert case.stage == expected.to_stage
            assert entry["refused"] is None
        elif isinstance(expected, Moved):  # the certificate's own rules refused it
            assert case.stage == before.stage == S.CERTIFIED
            name = EVENT_NAMES[envelope.event_type]
            assert entry["refused"].startswith(f"The {name.en} cannot be accepted: ")
            assert [e.event_type for e in result.events] == ["TransitionRefused"]
        else:
            assert case.stage == before.stage
            assert entry["refused"] == expected.reason.en
            assert [e.event_type for e in result.events] == ["TransitionRefused"]
        if before.stage in {S.CERTIFIED, S.REJECTED, S.WITHDRAWN}:
            assert case.stage == before.stage
        if case.stage is S.CERTIFIED:
            assert certificate_of(case) is not None
    # The stage is always the last accepted entry's target.
    accepted: list[dict[str, Any]] = [h for h in case.history if h["refused"] is None]
    assert case.stage.value == accepted[-1]["to"]
    assert len(case.history) == len(seen)
