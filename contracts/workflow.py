"""The certification workflow as a state machine: which event moves a proposal from which stage
to which, and why anything else is refused. Pure: no I/O, no clock."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.common import BilingualText, Stage

S = Stage

ACTIVE = frozenset(
    {
        S.SUBMITTED,
        S.REVISION_REQUESTED,
        S.SCREENED,
        S.SUBCOMMITTEE_APPROVED,
        S.STEERING_ACKNOWLEDGED,
        S.CABINET_ENDORSED,
    }
)
TERMINAL = frozenset({S.CERTIFIED, S.REJECTED, S.WITHDRAWN})

CERTIFICATE_EVENTS = frozenset(
    {
        "DeliveryReported",
        "DeliveryAcknowledged",
        "DeliveryReturned",
        "CertificationRenewed",
        "CertificationLapsed",
    }
)
"""Events about a certified area's certificate: they keep the proposal certified (the
certificate's own rules are in contracts.certificate)."""

TRANSITIONS: dict[str, tuple[frozenset[Stage], Stage]] = {
    "ProposalResubmitted": (frozenset({S.REVISION_REQUESTED}), S.SUBMITTED),
    "ProposalWithdrawn": (ACTIVE, S.WITHDRAWN),
    "ProposalScreened": (frozenset({S.SUBMITTED}), S.SCREENED),
    "RevisionRequested": (frozenset({S.SUBMITTED, S.SCREENED}), S.REVISION_REQUESTED),
    "SubcommitteeApproved": (frozenset({S.SCREENED}), S.SUBCOMMITTEE_APPROVED),
    "SubcommitteeRejected": (frozenset({S.SCREENED}), S.REJECTED),
    "SteeringCommitteeAcknowledged": (
        frozenset({S.SUBCOMMITTEE_APPROVED}),
        S.STEERING_ACKNOWLEDGED,
    ),
    "CabinetEndorsed": (frozenset({S.STEERING_ACKNOWLEDGED}), S.CABINET_ENDORSED),
    "CabinetReturned": (frozenset({S.STEERING_ACKNOWLEDGED}), S.REJECTED),
    "CertificationAwarded": (frozenset({S.CABINET_ENDORSED}), S.CERTIFIED),
    **{event_type: (frozenset({S.CERTIFIED}), S.CERTIFIED) for event_type in CERTIFICATE_EVENTS},
}
"""Event type -> (stages it may happen at, the stage it leads to)."""

OPENING_EVENT = "ProposalSubmitted"

ORDER: tuple[Stage, ...] = (
    S.SUBMITTED,
    S.SCREENED,
    S.SUBCOMMITTEE_APPROVED,
    S.STEERING_ACKNOWLEDGED,
    S.CABINET_ENDORSED,
    S.CERTIFIED,
)

WAITING_FOR: dict[Stage, BilingualText] = {
    S.SUBMITTED: BilingualText(
        en="depa has not screened it yet", th="สำนักงานเมืองอัจฉริยะ (ดีป้า) ยังไม่ได้กลั่นกรอง"
    ),
    S.REVISION_REQUESTED: BilingualText(
        en="it awaits the applicant's revised plan", th="รอผู้ยื่นส่งแผนฉบับแก้ไข"
    ),
    S.SCREENED: BilingualText(
        en="the subcommittee has not decided on it yet", th="คณะอนุกรรมการยังไม่ได้พิจารณา"
    ),
    S.SUBCOMMITTEE_APPROVED: BilingualText(
        en="the steering committee has not acknowledged it yet",
        th="คณะกรรมการขับเคลื่อนฯ ยังไม่ได้รับทราบ",
    ),
    S.STEERING_ACKNOWLEDGED: BilingualText(
        en="the Cabinet has not endorsed it yet", th="คณะรัฐมนตรียังไม่ได้เห็นชอบ"
    ),
    S.CABINET_ENDORSED: BilingualText(
        en="the certification has not been awarded yet", th="ยังไม่ได้มอบตราสัญลักษณ์"
    ),
    S.CERTIFIED: BilingualText(
        en="it is already certified; no further decisions apply",
        th="ได้รับการรับรองแล้ว ไม่มีการพิจารณาเพิ่มเติม",
    ),
    S.REJECTED: BilingualText(
        en="it was rejected; no further decisions apply", th="ถูกปฏิเสธแล้ว ไม่มีการพิจารณาเพิ่มเติม"
    ),
    S.WITHDRAWN: BilingualText(
        en="it was withdrawn; no further decisions apply", th="ถูกถอนแล้ว ไม่มีการพิจารณาเพิ่มเติม"
    ),
}


@dataclass(frozen=True)
class Moved:
    from_stage: Stage | None
    to_stage: Stage


@dataclass(frozen=True)
class Refusal:
    stage: Stage | None
    reason: BilingualText


def _past(stage: Stage, required: frozenset[Stage]) -> bool:
    """Has `stage` already gone beyond every stage in `required` along the main path?"""
    if stage not in ORDER:
        return False
    ranks = [ORDER.index(r) for r in required if r in ORDER]
    return bool(ranks) and ORDER.index(stage) > max(ranks)


def transition(stage: Stage | None, event_type: str, proposal_id: str) -> Moved | Refusal:
    """Where `event_type` takes a proposal at `stage` (None: no case yet), or why it may not."""
    if event_type == OPENING_EVENT:
        if stage is None:
            return Moved(None, S.SUBMITTED)
        return Refusal(
            stage,
            BilingualText(
                en=f"{event_type} refused: proposal {proposal_id} was already submitted "
                f"(it is at stage {stage.value})",
                th=f"ปฏิเสธ {event_type}: ข้อเสนอ {proposal_id} ยื่นไว้แล้ว (ขั้นตอน {stage.value})",
            ),
        )
    rule = TRANSITIONS.get(event_type)
    if rule is None:
        return Refusal(
            stage,
            BilingualText(
                en=f"{event_type} is not a workflow decision",
                th=f"{event_type} ไม่ใช่การตัดสินใจในกระบวนการรับรอง",
            ),
        )
    allowed, target = rule
    if stage is None:
        return Refusal(
            None,
            BilingualText(
                en=f"{event_type} refused: there is no proposal {proposal_id}",
                th=f"ปฏิเสธ {event_type}: ไม่พบข้อเสนอ {proposal_id}",
            ),
        )
    if stage in allowed:
        return Moved(stage, target)
    if event_type in CERTIFICATE_EVENTS:
        return Refusal(
            stage,
            BilingualText(
                en=f"{event_type} refused: proposal {proposal_id} is not certified (it is at "
                f"stage {stage.value}); only a certified area has a certificate",
                th=f"ปฏิเสธ {event_type}: ข้อเสนอ {proposal_id} ยังไม่ได้รับการรับรอง "
                f"(อยู่ในขั้นตอน {stage.value}) เฉพาะพื้นที่ที่ได้รับการรับรองจึงมีใบรับรอง",
            ),
        )
    if stage in TERMINAL:
        why = WAITING_FOR[stage]
    elif _past(stage, allowed):
        why = BilingualText(en="it has already passed that step", th="ได้ผ่านขั้นตอนนั้นแล้ว")
    else:
        why = WAITING_FOR[stage]
    return Refusal(
        stage,
        BilingualText(
            en=f"{event_type} refused: proposal {proposal_id} is at stage {stage.value}; {why.en}",
            th=f"ปฏิเสธ {event_type}: ข้อเสนอ {proposal_id} อยู่ในขั้นตอน {stage.value} {why.th}",
        ),
    )


def stage_after(event_type: str) -> Stage | None:
    """The stage a proposal is at once `event_type` has happened (None: not a transition)."""
    if event_type == OPENING_EVENT:
        return S.SUBMITTED
    rule = TRANSITIONS.get(event_type)
    return rule[1] if rule else None
