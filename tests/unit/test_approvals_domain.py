"""The approvals aggregate's pure rules: decisions, meetings, certificates, deadlines."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from pydantic import ValidationError

from smartcity_th.contracts.approvals import CabinetEndorsed, CabinetReturned, add_years
from smartcity_th.contracts.common import BilingualText, Stage
from smartcity_th.contracts.envelope import new_envelope
from smartcity_th.contracts.refusal import RefusalKind, refusal
from smartcity_th.services.approvals.domain import (
    Case,
    apply,
    certificate_number,
    certification,
    decide,
    due_reminder,
    may_award,
    meeting_fact_id,
    meeting_payload,
)
from tests.e2e.approvals_support import meeting, screened, submitted

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def opened() -> Case:
    case = apply(None, submitted("83", 1)).case
    assert case is not None
    return case


def certified(
    deliver_by: dt.date = dt.date(2024, 6, 1),
    recorded_at: dt.datetime = dt.datetime(2022, 6, 1, 3, tzinfo=dt.UTC),
) -> Case:
    """A case whose award (valid two years before `deliver_by`) was recorded at `recorded_at`."""
    case = replace(opened(), stage=Stage.CABINET_ENDORSED, subcommittee_meeting_id="1/2565")
    award = certification(case, "SCT-2565-0007", add_years(deliver_by, -2))
    fact = new_envelope(
        award, producer="depa", proposal_id=case.proposal_id, occurred_at=recorded_at
    )
    outcome = apply(case, fact)
    assert outcome.case is not None
    assert outcome.case.stage is Stage.CERTIFIED
    return outcome.case


def test_an_authorised_decision_moves_the_case_and_is_published_as_the_fact() -> None:
    case = opened()
    fact = screened(case.proposal_id)
    outcome = decide(case, fact, None)
    assert outcome.case is not None
    assert outcome.case.stage is Stage.SCREENED
    assert outcome.events == [fact]
    assert decide(outcome.case, fact, None).duplicate


def test_an_unauthorised_decision_is_refused_recorded_and_addressed_to_its_producer() -> None:
    case = opened()
    fact = screened(case.proposal_id, producer="lg-phuket-city")
    refused = refusal(
        RefusalKind.UNAUTHORISED, "lg-phuket-city may not emit ProposalScreened", "ไม่"
    )
    outcome = decide(case, fact, refused)
    assert outcome.refusal is not None
    assert outcome.refusal.kind is RefusalKind.UNAUTHORISED
    assert outcome.case is not None
    assert outcome.case.stage is Stage.SUBMITTED
    assert outcome.case.history[-1]["refused"] == (
        "ProposalScreened refused: lg-phuket-city may not emit ProposalScreened"
    )
    [answer] = outcome.events
    assert answer.event_type == "TransitionRefused"
    assert answer.payload.producer == "lg-phuket-city"
    assert answer.payload.stage is Stage.SUBMITTED


def test_a_meeting_derives_one_stable_event_id_per_proposal_and_producer() -> None:
    m = meeting(
        "subcommittee",
        "1/2565",
        [("SC-A00000001", "SubcommitteeApproved"), ("SC-B00000002", "SubcommitteeRejected")],
    )
    again = meeting("subcommittee", "1/2565", [("SC-A00000001", "SubcommitteeApproved")])
    ids = {meeting_fact_id("des-subcommittee", m, d) for d in m.decisions}
    assert len(ids) == 2
    assert meeting_fact_id("des-subcommittee", again, again.decisions[0]) in ids
    assert meeting_fact_id("depa", again, again.decisions[0]) not in ids
    payload = meeting_payload(m, m.decisions[1], "des-subcommittee")
    assert payload.event_type == "SubcommitteeRejected"  # type: ignore[attr-defined]


def test_a_cabinet_resolution_keeps_its_meetings_date_note() -> None:
    note = BilingualText(th="วันที่ตัวอย่าง", en="illustrative date")
    m = meeting(
        "cabinet",
        "1/2565",
        [("SC-A00000001", "CabinetEndorsed"), ("SC-B00000002", "CabinetReturned")],
        resolution_number="นร 0505/ว 610",
    )
    m = m.model_copy(update={"meeting": m.meeting.model_copy(update={"date_note": note})})
    for d in m.decisions:
        payload = meeting_payload(m, d, "cabinet-secretariat")
        assert isinstance(payload, CabinetEndorsed | CabinetReturned)
        assert payload.date_note == note
        assert payload.resolution_date == m.meeting.held_on


@pytest.mark.parametrize(
    ("body", "decisions", "resolution", "message"),
    [
        (
            "subcommittee",
            [("SC-A00000001", "CabinetEndorsed")],
            None,
            "cannot take CabinetEndorsed",
        ),
        ("cabinet", [("SC-A00000001", "CabinetEndorsed")], None, "needs its resolution_number"),
        (
            "subcommittee",
            [("SC-A00000001", "SubcommitteeApproved"), ("SC-A00000001", "SubcommitteeApproved")],
            None,
            "appears twice",
        ),
    ],
)
def test_an_inconsistent_meeting_is_invalid(
    body: str, decisions: list[tuple[str, str]], resolution: str | None, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        meeting(body, "1/2565", decisions, resolution)


def test_certification_issues_the_number_and_two_years_to_deliver() -> None:
    case = replace(opened(), stage=Stage.CABINET_ENDORSED, subcommittee_meeting_id="1/2565")
    assert may_award(case, screened(case.proposal_id).event_id)
    award = certification(case, certificate_number(2565, 16), dt.date(2022, 6, 1))
    assert award.certificate_number == "SCT-2565-0016"
    assert award.validity.deliver_by == dt.date(2024, 6, 1)
    assert award.validity.renewal_min_progress_percent == 50
    assert award.subcommittee_meeting_id == "1/2565"
    assert not may_award(
        replace(case, stage=Stage.STEERING_ACKNOWLEDGED), screened(case.proposal_id).event_id
    )
    assert add_years(dt.date(2024, 2, 29), 2) == dt.date(2026, 2, 28)


@pytest.mark.parametrize(
    ("as_of", "threshold", "overdue"),
    [
        (dt.date(2024, 1, 1), None, False),
        (dt.date(2024, 3, 3), "d90", False),
        (dt.date(2024, 5, 2), "d30", False),
        (dt.date(2024, 6, 1), "d30", False),
        (dt.date(2024, 6, 2), "overdue", True),
    ],
)
def test_deadline_reminders_by_threshold(
    as_of: dt.date, threshold: str | None, overdue: bool
) -> None:
    outcome = due_reminder(certified(), as_of, NOW)
    if threshold is None:
        assert outcome is None
        return
    assert outcome is not None
    assert outcome.history_entry is not None
    assert outcome.history_entry["threshold"] == threshold
    [reminder] = outcome.events
    assert reminder.payload.overdue is overdue
    assert reminder.payload.days_left == (dt.date(2024, 6, 1) - as_of).days


def test_each_threshold_is_reminded_once() -> None:
    case = certified()
    first = due_reminder(case, dt.date(2024, 3, 10), NOW)
    assert first is not None
    assert first.case is not None
    assert due_reminder(first.case, dt.date(2024, 3, 11), NOW) is None
    late = due_reminder(first.case, dt.date(2024, 7, 1), NOW)
    assert late is not None
    assert late.case is not None
    assert late.case.reminders == {
        "2024-06-01:d90",
        "2024-06-01:d30",
        "2024-06-01:overdue",
    }
    assert due_reminder(late.case, dt.date(2025, 1, 1), NOW) is None
    assert len(late.case.history) == len(case.history) + 2
