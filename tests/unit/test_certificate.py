"""A certificate's life after the award (contracts.certificate): reports, acknowledgement,
return, renewal, lapse; the status on a date; reminders; history is history."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from smartcity_th.contracts.approvals import (
    CertificationAwarded,
    CertificationLapsed,
    CertificationRenewed,
    DeliveryAcknowledged,
    DeliveryReported,
    DeliveryReturned,
    ReportSummary,
    ValidityPeriod,
)
from smartcity_th.contracts.certificate import (
    STATUS_LABELS,
    Certificate,
    CertificateStatus,
    Recorded,
    check,
    due_reminder,
    fold,
    next_deadline,
    status,
)
from smartcity_th.contracts.common import BilingualText, Contract

DEADLINE = dt.date(2024, 6, 1)
AWARDED_ON = dt.date(2022, 6, 1)
WHY = BilingualText(th="เหตุผล", en="Reasons")
S = CertificateStatus


def award(renewal_min: int = 50, on: dt.date = AWARDED_ON) -> Recorded:
    return Recorded(
        CertificationAwarded(
            certificate_number="SCT-2565-0007",
            area_name=BilingualText(th="ก", en="A"),
            province_code="83",
            subcommittee_meeting_id="1/2565",
            validity=ValidityPeriod.starting(on, 2, renewal_min),
        ),
        on,
    )


def report(
    progress: int = 60, period: dt.date = DEADLINE, number: str = "SCT-2565-0007"
) -> DeliveryReported:
    return DeliveryReported(
        certificate_number=number,
        period=period,
        progress_percent=progress,
        summary=ReportSummary(th="สรุป", en="Summary"),
    )


ACK = DeliveryAcknowledged(period=DEADLINE, acknowledged_by="depa")
RETURN = DeliveryReturned(period=DEADLINE, returned_by="depa", reasons=WHY)
RENEW = CertificationRenewed(reasons=WHY, deliver_by=dt.date(2026, 6, 1))
LAPSE = CertificationLapsed(reasons=WHY)


def cert(*steps: Contract, renewal_min: int = 50) -> Certificate:
    c = fold([award(renewal_min), *(Recorded(p, dt.date(2024, 5, 1)) for p in steps)])
    assert c is not None
    return c


def test_the_award_opens_one_period_with_the_settings_recorded_on_it() -> None:
    c = fold([award(renewal_min=70)])
    assert c is not None
    assert c.current.deliver_by == DEADLINE
    assert c.renewal_min_progress_percent == 70
    assert fold([]) is None
    assert ValidityPeriod.starting(dt.date(2024, 2, 29), 3).deliver_by == dt.date(2027, 2, 28)


@pytest.mark.parametrize(
    ("steps", "as_of", "expected"),
    [
        ((), dt.date(2023, 1, 1), S.ACTIVE),
        ((), dt.date(2024, 3, 3), S.REPORT_DUE),
        ((), dt.date(2024, 6, 1), S.REPORT_DUE),
        ((), dt.date(2024, 6, 2), S.OVERDUE),
        ((report(),), dt.date(2024, 6, 2), S.OVERDUE),  # pending: still overdue
        ((report(), RETURN), dt.date(2024, 6, 2), S.OVERDUE),
        ((report(), ACK), dt.date(2024, 6, 2), S.ACTIVE),
        ((report(), ACK, RENEW), dt.date(2024, 7, 1), S.RENEWED),
        ((report(), ACK, RENEW), dt.date(2026, 5, 1), S.REPORT_DUE),
        ((LAPSE,), dt.date(2024, 7, 1), S.LAPSED),
        ((report(), ACK, RENEW, LAPSE), dt.date(2024, 7, 1), S.LAPSED),
    ],
)
def test_status_on_a_date(steps: tuple[Contract, ...], as_of: dt.date, expected: S) -> None:
    view = status(cert(*steps), as_of, None)
    assert view.status is expected
    th, en = STATUS_LABELS[expected]
    assert view.as_dict()["status_th"] == th
    assert view.as_dict()["status_en"] == en


def test_reports_answer_a_period_and_depa_answers_the_pending_one() -> None:
    c = cert(report(40), RETURN, report(65), ACK)
    assert c.current.report is not None
    assert c.current.report.progress_percent == 65
    assert c.current.acknowledged


@pytest.mark.parametrize(
    ("steps", "claim", "reason"),
    [
        ((report(), ACK), report(), "already acknowledged"),
        ((), report(number="SCT-2565-0099"), "certificate is SCT-2565-0007, not SCT-2565-0099"),
        ((), report(period=dt.date(2025, 1, 1)), "no delivery period ending 2025-01-01"),
        ((), ACK, "no delivery report for the period ending 2024-06-01 awaits an answer"),
        ((report(), ACK), RETURN, "already acknowledged"),
        ((), RENEW, "renewal needs an acknowledged delivery report"),
        ((report(30), ACK), RENEW, "shows 30% progress; renewal needs at least 50%"),
        (
            (report(), ACK),
            CertificationRenewed(reasons=WHY, deliver_by=dt.date(2024, 1, 1)),
            "must be after the current one",
        ),
        ((LAPSE,), report(), "has lapsed"),
        ((LAPSE,), LAPSE, "has lapsed"),
    ],
)
def test_claims_that_do_not_fit_are_refused_with_a_reason(
    steps: tuple[Contract, ...], claim: Contract, reason: str
) -> None:
    c = cert(*steps)
    why = check(c, claim)
    assert why is not None
    assert reason in why.en
    assert why.th
    assert fold([award(), *(Recorded(p, dt.date(2024, 5, 1)) for p in (*steps, claim))]) == c


def test_the_renewal_threshold_is_the_one_recorded_at_the_award() -> None:
    assert check(cert(report(60), ACK, renewal_min=50), RENEW) is None
    strict = cert(report(60), ACK, renewal_min=70)
    why = check(strict, RENEW)
    assert why is not None
    assert "at least 70%" in why.en
    assert next_deadline(strict, 2) == dt.date(2026, 6, 1)


def test_progress_outside_0_to_100_is_not_a_valid_report() -> None:
    for bad in (-1, 101):
        with pytest.raises(ValidationError, match="progress_percent"):
            report(bad)


def test_reminders_by_threshold_once_each_and_none_after_acknowledgement() -> None:
    c = cert()
    first = due_reminder(c, dt.date(2024, 3, 10), None, frozenset())
    assert first is not None
    assert first.key == "2024-06-01:d90"
    assert due_reminder(c, dt.date(2024, 3, 11), None, first.crossed) is None
    late = due_reminder(c, dt.date(2024, 6, 5), None, first.crossed)
    assert late is not None
    assert late.key == "2024-06-01:overdue"
    assert late.days_left == -4
    acknowledged = cert(report(), ACK)
    assert due_reminder(acknowledged, dt.date(2024, 6, 5), None, frozenset()) is None
    assert due_reminder(cert(LAPSE), dt.date(2024, 6, 5), None, frozenset()) is None
    renewed = cert(report(), ACK, RENEW)
    again = due_reminder(renewed, dt.date(2026, 5, 20), None, late.crossed)
    assert again is not None
    assert again.key == "2026-06-01:d30"


def test_history_is_history() -> None:
    # Recorded after its deadline had passed: no reminder, never overdue.
    loaded_late = fold([Recorded(award().payload, dt.date(2026, 11, 30))])
    assert loaded_late is not None
    today = dt.date(2026, 11, 30)
    assert due_reminder(loaded_late, today, None, frozenset()) is None
    view = status(loaded_late, today, None)
    assert view.status is S.ACTIVE
    assert view.history
    # Recorded in time, but the deployment went live after the deadline: the same.
    in_time = fold([award()])
    assert in_time is not None
    assert due_reminder(in_time, today, dt.date(2025, 1, 1), frozenset()) is None
    assert status(in_time, today, dt.date(2025, 1, 1)).status is S.ACTIVE
    # Without a later go-live, that deadline is the system's own: overdue.
    assert status(in_time, today, None).status is S.OVERDUE
    overdue = due_reminder(in_time, today, None, frozenset())
    assert overdue is not None
    assert overdue.key == "2024-06-01:overdue"
    # A deadline still ahead when the system learned of it is reminded as usual.
    recent = fold([Recorded(award().payload, dt.date(2024, 5, 1))])
    assert recent is not None
    due = due_reminder(recent, dt.date(2024, 5, 2), None, frozenset())
    assert due is not None
    assert due.key == "2024-06-01:d30"
