"""A certificate's life after the award, as pure rules every service agrees on: its delivery
periods, the reports that answer them, renewal and lapse; whether a claim about it fits; its
status on a given date; which deadline reminder is due. No I/O, no clock: the caller passes the
dates (the scan's "as of" date, the deployment's go-live date).

History is history: a deadline that had passed before the system knew of it (before the event
that set it was recorded, or before the deployment's go-live date) gets no reminder and is never
shown as overdue; the system has no record of what the area delivered then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from smartcity_th.contracts.approvals import (
    CertificationAwarded,
    CertificationLapsed,
    CertificationRenewed,
    DeliveryAcknowledged,
    DeliveryReported,
    DeliveryReturned,
    add_years,
)
from smartcity_th.contracts.common import BilingualText, Contract, Stage
from smartcity_th.contracts.workflow import TRANSITIONS, event_name

LIFECYCLE_EVENTS = frozenset(
    name for name, (_after, to) in TRANSITIONS.items() if to is Stage.CERTIFIED
)
"""The events a certificate is computed from: those that make a proposal certified or keep it
so (from the event specifications)."""

REMINDER_THRESHOLDS: tuple[tuple[str, int], ...] = (("overdue", -1), ("d30", 30), ("d90", 90))
"""Reminder keys, most severe first, with the largest `days_left` at which each is due."""
REPORT_DUE_DAYS = 90
"""A report is due from the first reminder on (90 days before the deadline)."""


class CertificateStatus(StrEnum):
    ACTIVE = "active"
    REPORT_DUE = "report_due"
    OVERDUE = "overdue"
    RENEWED = "renewed"
    LAPSED = "lapsed"


STATUS_LABELS: dict[CertificateStatus, tuple[str, str]] = {
    CertificateStatus.ACTIVE: ("มีผล", "active"),
    CertificateStatus.REPORT_DUE: ("ถึงกำหนดรายงานผล", "report due"),
    CertificateStatus.OVERDUE: ("เลยกำหนดรายงานผล", "overdue"),
    CertificateStatus.RENEWED: ("ต่ออายุแล้ว", "renewed"),
    CertificateStatus.LAPSED: ("สิ้นสภาพ", "lapsed"),
}
"""Thai and English names of each status."""


class ReportState(StrEnum):
    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"
    RETURNED = "returned"


@dataclass(frozen=True)
class Recorded:
    """One lifecycle event's payload and the day the system recorded it."""

    payload: Contract
    on: dt.date


@dataclass(frozen=True)
class Report:
    progress_percent: int
    state: ReportState
    reported_on: dt.date
    answered_on: dt.date | None = None


def deadline_is_history(deliver_by: dt.date, recorded_on: dt.date, go_live: dt.date | None) -> bool:
    """The one rule for history: a delivery deadline that passed before the system knew of it
    (before the award or renewal setting it was recorded, or before the go-live) is history:
    never overdue, never reminded, in every view."""
    known_since = max(recorded_on, go_live) if go_live else recorded_on
    return deliver_by < known_since


@dataclass(frozen=True)
class Period:
    deliver_by: dt.date
    recorded_on: dt.date
    """When the system learned of this deadline (the award or renewal was recorded)."""
    report: Report | None = None

    def known_since(self, go_live: dt.date | None) -> dt.date:
        return max(self.recorded_on, go_live) if go_live else self.recorded_on

    def is_history(self, go_live: dt.date | None) -> bool:
        """Had this deadline passed before the system knew of it?"""
        return deadline_is_history(self.deliver_by, self.recorded_on, go_live)

    @property
    def acknowledged(self) -> bool:
        return self.report is not None and self.report.state is ReportState.ACKNOWLEDGED


@dataclass(frozen=True)
class Certificate:
    number: str
    valid_from: dt.date
    renewal_min_progress_percent: int
    periods: tuple[Period, ...]
    renewals: int = 0
    lapsed: BilingualText | None = None

    @property
    def current(self) -> Period:
        return self.periods[-1]

    def period(self, deliver_by: dt.date) -> Period | None:
        return next((p for p in self.periods if p.deliver_by == deliver_by), None)

    def _with_period(self, period: Period) -> Certificate:
        return replace(
            self,
            periods=tuple(period if p.deliver_by == period.deliver_by else p for p in self.periods),
        )


def fold(events: Iterable[Recorded]) -> Certificate | None:
    """The certificate the events make, in order (None before the award). Events that do not
    fit (which `check` would have refused) change nothing."""
    cert: Certificate | None = None
    for event in events:
        p = event.payload
        if isinstance(p, CertificationAwarded):
            cert = Certificate(
                p.certificate_number,
                p.validity.valid_from,
                p.validity.renewal_min_progress_percent,
                (Period(p.validity.deliver_by, event.on),),
            )
            continue
        if cert is None or check(cert, p) is not None:
            continue
        cert = _apply(cert, p, event.on)
    return cert


def _apply(cert: Certificate, p: Contract, on: dt.date) -> Certificate:
    if isinstance(p, DeliveryReported):
        period = cert.period(p.period)
        assert period is not None
        return cert._with_period(
            replace(period, report=Report(p.progress_percent, ReportState.PENDING, on))
        )
    if isinstance(p, DeliveryAcknowledged | DeliveryReturned):
        period = cert.period(p.period)
        assert period is not None
        assert period.report is not None
        state = (
            ReportState.ACKNOWLEDGED
            if isinstance(p, DeliveryAcknowledged)
            else ReportState.RETURNED
        )
        answered = replace(period.report, state=state, answered_on=on)
        return cert._with_period(replace(period, report=answered))
    if isinstance(p, CertificationRenewed):
        assert p.deliver_by is not None
        return replace(
            cert, periods=(*cert.periods, Period(p.deliver_by, on)), renewals=cert.renewals + 1
        )
    if isinstance(p, CertificationLapsed):
        return replace(cert, lapsed=p.reasons)
    return cert


def _why(kind: str, en: str, th: str) -> BilingualText:
    """The reason, worded like the workflow's refusals: the claim by its name, then why."""
    name = event_name(kind)
    return BilingualText(
        en=f"The {name.en} cannot be accepted: {en}."[:500],
        th=f"ไม่อาจรับ{name.th}ได้ เนื่องจาก{th}"[:500],
    )


def check(cert: Certificate | None, p: Contract) -> BilingualText | None:
    """Why a claim about the certificate does not fit it (None: it fits)."""
    kind = type(p).__name__
    if cert is None:
        return _why(kind, "there is no certificate", "ไม่พบใบรับรอง")
    if cert.lapsed is not None:
        return _why(
            kind,
            f"certificate {cert.number} has lapsed ({cert.lapsed.en})",
            f"ใบรับรองเลขที่ {cert.number} สิ้นสภาพแล้ว ({cert.lapsed.th})",
        )
    deadlines = ", ".join(x.deliver_by.isoformat() for x in cert.periods)
    if isinstance(p, DeliveryReported) and p.certificate_number != cert.number:
        return _why(
            kind,
            f"this proposal's certificate is {cert.number}, not {p.certificate_number}",
            f"ใบรับรองของข้อเสนอนี้คือเลขที่ {cert.number} ไม่ใช่ {p.certificate_number}",
        )
    if isinstance(p, DeliveryReported | DeliveryAcknowledged | DeliveryReturned):
        period = cert.period(p.period)
        if period is None:
            return _why(
                kind,
                f"certificate {cert.number} has no delivery period ending "
                f"{p.period.isoformat()} (its deadlines: {deadlines})",
                f"ใบรับรองเลขที่ {cert.number} ไม่มีรอบส่งมอบที่ครบกำหนด "
                f"{p.period.isoformat()} (กำหนดส่งมอบ: {deadlines})",
            )
        if period.acknowledged:
            assert period.report is not None
            return _why(
                kind,
                f"the report for the period ending {p.period.isoformat()} was "
                f"already acknowledged on {period.report.answered_on}",
                f"รายงานผลรอบที่ครบกำหนด {p.period.isoformat()} "
                f"ได้รับการรับทราบแล้วเมื่อ {period.report.answered_on}",
            )
        if not isinstance(p, DeliveryReported) and (
            period.report is None or period.report.state is not ReportState.PENDING
        ):
            return _why(
                kind,
                f"no delivery report for the period ending {p.period.isoformat()} awaits an answer",
                f"ไม่มีรายงานผลรอบที่ครบกำหนด {p.period.isoformat()} ที่รอการพิจารณา",
            )
    if isinstance(p, CertificationRenewed):
        current = cert.current
        if not current.acknowledged:
            return _why(
                kind,
                f"renewal needs an acknowledged delivery report for the period "
                f"ending {current.deliver_by.isoformat()}",
                f"การต่ออายุต้องมีรายงานผลรอบที่ครบกำหนด "
                f"{current.deliver_by.isoformat()} ที่ได้รับการรับทราบแล้ว",
            )
        assert current.report is not None
        need = cert.renewal_min_progress_percent
        if current.report.progress_percent < need:
            return _why(
                kind,
                f"the acknowledged report shows "
                f"{current.report.progress_percent}% progress; renewal needs at least {need}% "
                "(this deployment's setting, recorded on the certificate)",
                f"รายงานที่รับทราบแล้วมีความก้าวหน้าร้อยละ "
                f"{current.report.progress_percent} การต่ออายุต้องมีอย่างน้อยร้อยละ {need}",
            )
        if p.deliver_by is not None and p.deliver_by <= current.deliver_by:
            return _why(
                kind,
                f"the next deadline {p.deliver_by.isoformat()} must be after "
                f"the current one ({current.deliver_by.isoformat()})",
                f"กำหนดส่งมอบใหม่ {p.deliver_by.isoformat()} "
                f"ต้องอยู่หลังกำหนดเดิม ({current.deliver_by.isoformat()})",
            )
    return None


@dataclass(frozen=True)
class StatusView:
    """What the registry shows about a certificate on a given day."""

    status: CertificateStatus
    deliver_by: dt.date
    days_left: int
    history: bool
    """The current deadline passed before the system knew of it (no reminders, not overdue)."""
    report: Report | None
    renewals: int
    lapsed: BilingualText | None

    def as_dict(self) -> dict[str, object]:
        th, en = STATUS_LABELS[self.status]
        return {
            "status": self.status.value,
            "status_th": th,
            "status_en": en,
            "deliver_by": self.deliver_by.isoformat(),
            "days_left": self.days_left,
            "history": self.history,
            "report": None
            if self.report is None
            else {
                "progress_percent": self.report.progress_percent,
                "state": self.report.state.value,
                "reported_on": self.report.reported_on.isoformat(),
            },
            "renewals": self.renewals,
            "lapsed": None if self.lapsed is None else self.lapsed.model_dump(),
        }


def status(cert: Certificate, as_of: dt.date, go_live: dt.date | None) -> StatusView:
    """The certificate's status as of `as_of`: lapsed; else overdue or report due while the
    current deadline's report is not acknowledged (a deadline from history is neither);
    else renewed (after a renewal) or active."""
    current = cert.current
    days_left = (current.deliver_by - as_of).days
    history = current.is_history(go_live)

    def view(s: CertificateStatus) -> StatusView:
        return StatusView(
            s, current.deliver_by, days_left, history, current.report, cert.renewals, cert.lapsed
        )

    if cert.lapsed is not None:
        return view(CertificateStatus.LAPSED)
    if not current.acknowledged and not history:
        if days_left < 0:
            return view(CertificateStatus.OVERDUE)
        if days_left <= REPORT_DUE_DAYS:
            return view(CertificateStatus.REPORT_DUE)
    return view(CertificateStatus.RENEWED if cert.renewals else CertificateStatus.ACTIVE)


@dataclass(frozen=True)
class DueReminder:
    key: str
    """The most severe threshold newly crossed, as '<deadline>:<threshold>'."""
    crossed: frozenset[str]
    """Every threshold key crossed (the milder ones count as sent with it)."""
    deliver_by: dt.date
    days_left: int


def reminder_key(deliver_by: dt.date, threshold: str) -> str:
    return f"{deliver_by.isoformat()}:{threshold}"


def due_reminder(
    cert: Certificate, as_of: dt.date, go_live: dt.date | None, sent: frozenset[str]
) -> DueReminder | None:
    """The reminder due for the current deadline as of `as_of`, given the keys already sent.
    None when the certificate lapsed, the deadline's report was acknowledged, or the deadline
    is history."""
    current = cert.current
    if cert.lapsed is not None or current.acknowledged or current.is_history(go_live):
        return None
    days_left = (current.deliver_by - as_of).days
    crossed = [
        reminder_key(current.deliver_by, key)
        for key, limit in REMINDER_THRESHOLDS
        if days_left <= limit
    ]
    new = [key for key in crossed if key not in sent]
    if not new:
        return None
    return DueReminder(new[0], frozenset(crossed), current.deliver_by, days_left)


def next_deadline(cert: Certificate, delivery_years: int) -> dt.date:
    """The deadline a renewal sets by default: the current one plus the delivery period."""
    return add_years(cert.current.deliver_by, delivery_years)
