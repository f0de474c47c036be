"""The certification workflow as a state machine: which event moves a proposal from which stage
to which, and why anything else is refused. Pure: no I/O, no clock."""

from __future__ import annotations

from dataclasses import dataclass

from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.common import BilingualText, Stage
from smartcity_th.contracts.process import ACTIVE as ACTIVE
from smartcity_th.contracts.process import CABINET as CABINET
from smartcity_th.contracts.process import DEPA as DEPA
from smartcity_th.contracts.process import LOGO as LOGO
from smartcity_th.contracts.process import SMART_CITY_OFFICE as SMART_CITY_OFFICE
from smartcity_th.contracts.process import STEERING_COMMITTEE as STEERING_COMMITTEE
from smartcity_th.contracts.process import SUBCOMMITTEE as SUBCOMMITTEE
from smartcity_th.contracts.process import TERMINAL as TERMINAL
from smartcity_th.contracts.refusal import Refusal, RefusalKind

S = Stage

TRANSITIONS: dict[str, tuple[frozenset[Stage], Stage]] = {
    name: (spec.transition.after, spec.transition.to)
    for name, spec in EVENTS.items()
    if spec.transition is not None and not spec.transition.opens
}
"""Event type -> (stages it may happen at, the stage it leads to), from the event
specifications.

A Cabinet that returns a matter (ส่งเรื่องคืน) sends it back to the ministry that proposed it
for rework; it is not a final decision on the proposal. So `CabinetReturned` leads to
`cabinet_returned`, an active stage that is with the subcommittee again: the subcommittee
reconsiders the reworked matter (approves it again, which goes on to the steering committee
and the Cabinet once more, or rejects it), or sends the plan back to the applicant for
revision. See docs/process.md."""

CERTIFICATE_EVENTS = frozenset(
    name
    for name, (after, to) in TRANSITIONS.items()
    if after == frozenset({S.CERTIFIED}) and to is S.CERTIFIED
)
"""Events about a certified area's certificate: they keep the proposal certified (the
certificate's own rules are in contracts.certificate)."""

[OPENING_EVENT] = [
    name for name, spec in EVENTS.items() if spec.transition is not None and spec.transition.opens
]
"""The one event that opens a proposal's case."""

ORDER: tuple[Stage, ...] = (
    S.SUBMITTED,
    S.SCREENED,
    S.SUBCOMMITTEE_APPROVED,
    S.STEERING_ACKNOWLEDGED,
    S.CABINET_ENDORSED,
    S.CERTIFIED,
)

# -- the names people read: one Thai and one English name per body, stage and event ----------
# Used everywhere people read (emails, the status page, the console, the CLI); never the codes.
# The bodies' names are in contracts.process, the events' in their specifications.

STAGE_NAMES: dict[Stage, BilingualText] = {
    S.SUBMITTED: BilingualText(th="ยื่นข้อเสนอแล้ว", en="Submitted"),
    S.REVISION_REQUESTED: BilingualText(
        th="รอผู้ยื่นแก้ไขข้อเสนอ", en="Awaiting the applicant's revision"
    ),
    S.SCREENED: BilingualText(th="ผ่านการกลั่นกรองของดีป้า", en="Screened by depa"),
    S.SUBCOMMITTEE_APPROVED: BilingualText(
        th="คณะอนุกรรมการฯ เห็นชอบ", en="Approved by the subcommittee"
    ),
    S.STEERING_ACKNOWLEDGED: BilingualText(
        th="คณะกรรมการฯ รับทราบ", en="Acknowledged by the steering committee"
    ),
    S.CABINET_ENDORSED: BilingualText(th="คณะรัฐมนตรีเห็นชอบ", en="Endorsed by the Cabinet"),
    S.CABINET_RETURNED: BilingualText(
        th="คณะรัฐมนตรีส่งเรื่องคืนเพื่อทบทวน", en="Returned by the Cabinet for rework"
    ),
    S.CERTIFIED: BilingualText(th="ประกาศเป็นพื้นที่เมืองอัจฉริยะ", en="Announced as a smart-city area"),
    S.REJECTED: BilingualText(th="ไม่ผ่านการพิจารณา", en="Not approved"),
    S.WITHDRAWN: BilingualText(th="ผู้ยื่นถอนข้อเสนอ", en="Withdrawn by the applicant"),
}

EVENT_NAMES: dict[str, BilingualText] = {name: spec.name for name, spec in EVENTS.items()}
"""Every event of the catalogue, as a noun phrase (from the event specifications)."""


def stage_name(stage: Stage | str | None) -> BilingualText:
    """The name of a stage (a dash when there is none yet)."""
    if stage is None or stage == "":
        return BilingualText(th="ยังไม่มี", en="none yet")
    return STAGE_NAMES[Stage(stage)]


def event_name(event_type: str) -> BilingualText:
    """The name of an event type; an unknown one is named as such, never by its code."""
    return EVENT_NAMES.get(event_type, BilingualText(th="รายการที่ระบบไม่รู้จัก", en="unknown record"))


WAITING_FOR: dict[Stage, BilingualText] = {
    S.SUBMITTED: BilingualText(en="depa has not screened it yet", th="ดีป้ายังไม่ได้กลั่นกรองข้อเสนอ"),
    S.REVISION_REQUESTED: BilingualText(
        en="it awaits the applicant's revised plan", th="ยังรอข้อเสนอฉบับแก้ไขจากผู้ยื่น"
    ),
    S.SCREENED: BilingualText(
        en="the subcommittee has not decided on it yet",
        th="คณะอนุกรรมการฯ ยังไม่ได้พิจารณา",
    ),
    S.SUBCOMMITTEE_APPROVED: BilingualText(
        en="the steering committee has not acknowledged it yet",
        th="คณะกรรมการฯ ยังไม่ได้รับทราบ",
    ),
    S.STEERING_ACKNOWLEDGED: BilingualText(
        en="the Cabinet has not decided on it yet", th="คณะรัฐมนตรียังไม่ได้มีมติ"
    ),
    S.CABINET_ENDORSED: BilingualText(
        en="the area has not been announced and awarded the logo yet",
        th="ยังไม่ได้ประกาศเป็นพื้นที่เมืองอัจฉริยะและมอบตราสัญลักษณ์",
    ),
    S.CABINET_RETURNED: BilingualText(
        en="the subcommittee has not reconsidered the returned matter yet",
        th="คณะอนุกรรมการฯ ยังไม่ได้พิจารณาทบทวนเรื่องที่คณะรัฐมนตรีส่งคืน",
    ),
    S.CERTIFIED: BilingualText(
        en="it is already announced as a smart-city area; no further decisions apply",
        th="ได้ประกาศเป็นพื้นที่เมืองอัจฉริยะแล้ว ไม่มีการพิจารณาเพิ่มเติม",
    ),
    S.REJECTED: BilingualText(
        en="it was not approved; no further decisions apply",
        th="ข้อเสนอไม่ผ่านการพิจารณาแล้ว ไม่มีการพิจารณาเพิ่มเติม",
    ),
    S.WITHDRAWN: BilingualText(
        en="the applicant withdrew it; no further decisions apply",
        th="ผู้ยื่นได้ถอนข้อเสนอแล้ว ไม่มีการพิจารณาเพิ่มเติม",
    ),
}

NEXT_STEP: dict[Stage, BilingualText] = {
    S.SUBMITTED: BilingualText(
        th="ดีป้าจะกลั่นกรองข้อเสนอ แล้วเสนอคณะอนุกรรมการฯ พิจารณา หรือขอให้ผู้ยื่นแก้ไข",
        en="depa screens the proposal and forwards it to the subcommittee, or asks the "
        "applicant to revise it.",
    ),
    S.REVISION_REQUESTED: BilingualText(
        th="ผู้ยื่นแก้ไขข้อเสนอตามที่แจ้งและยื่นฉบับแก้ไข ดีป้าจะกลั่นกรองอีกครั้ง",
        en="The applicant revises the plan as asked and resubmits it; depa screens it again.",
    ),
    S.SCREENED: BilingualText(
        th="คณะอนุกรรมการฯ จะพิจารณาข้อเสนอในการประชุม",
        en="The subcommittee considers the proposal at a meeting.",
    ),
    S.SUBCOMMITTEE_APPROVED: BilingualText(
        th="เสนอคณะกรรมการฯ เพื่อรับทราบ",
        en="The steering committee is asked to acknowledge the approval.",
    ),
    S.STEERING_ACKNOWLEDGED: BilingualText(
        th="เสนอคณะรัฐมนตรีเพื่อทราบหรือพิจารณา",
        en="The matter goes to the Cabinet.",
    ),
    S.CABINET_ENDORSED: BilingualText(
        th="ประกาศเป็นพื้นที่เมืองอัจฉริยะและมอบตราสัญลักษณ์เมืองอัจฉริยะประเทศไทย",
        en="The area is announced as a smart-city area and awarded the Smart City Thailand logo.",
    ),
    S.CABINET_RETURNED: BilingualText(
        th="คณะอนุกรรมการฯ จะพิจารณาทบทวนเรื่องตามที่คณะรัฐมนตรีส่งคืน หากต้องแก้ไขข้อเสนอ "
        "ดีป้าจะแจ้งผู้ยื่นให้ทราบ ผู้ยื่นยังไม่ต้องดำเนินการใดจนกว่าจะได้รับแจ้ง",
        en="The subcommittee reconsiders the matter the Cabinet returned; if the plan must "
        "change, depa tells the applicant. Nothing is needed from the applicant until then.",
    ),
    S.CERTIFIED: BilingualText(
        th="พื้นที่ดำเนินการตามแผนและแสดงผลการดำเนินงานภายในกำหนด",
        en="The area carries out its plan and shows its delivery by the deadline.",
    ),
    S.REJECTED: BilingualText(
        th="สิ้นสุดการพิจารณาข้อเสนอนี้ ผู้ยื่นอาจยื่นข้อเสนอใหม่ได้",
        en="Consideration of this proposal has ended; the applicant may submit a new one.",
    ),
    S.WITHDRAWN: BilingualText(
        th="สิ้นสุดการพิจารณาข้อเสนอนี้", en="Consideration of this proposal has ended."
    ),
}
"""What happens next at each stage (the status page and the emails say it)."""


@dataclass(frozen=True)
class Moved:
    from_stage: Stage | None
    to_stage: Stage


def _past(stage: Stage, required: frozenset[Stage]) -> bool:
    """Has `stage` already gone beyond every stage in `required` along the main path?"""
    if stage not in ORDER:
        return False
    ranks = [ORDER.index(r) for r in required if r in ORDER]
    return bool(ranks) and ORDER.index(stage) > max(ranks)


def _refused(event_type: str, why: BilingualText) -> BilingualText:
    name = event_name(event_type)
    return BilingualText(
        th=f"ไม่อาจรับ{name.th}ได้ เนื่องจาก{why.th}",
        en=f"The {name.en} cannot be accepted: {why.en}.",
    )


def _at_stage(stage: Stage, why: BilingualText) -> BilingualText:
    name = STAGE_NAMES[stage]
    return BilingualText(
        th=f"ข้อเสนออยู่ในขั้นตอน \u201c{name.th}\u201d และ{why.th}",
        en=f"the proposal is at the stage \u201c{name.en}\u201d and {why.en}",
    )


def _refusal(stage: Stage | None, reason: BilingualText) -> Refusal:
    """Refused at a stage: a conflict with where the proposal is; with no case yet, unknown."""
    kind = RefusalKind.UNKNOWN_PROPOSAL if stage is None else RefusalKind.CONFLICT
    return Refusal(kind, reason, stage=stage)


def transition(stage: Stage | None, event_type: str, proposal_id: str) -> Moved | Refusal:
    """Where `event_type` takes a proposal at `stage` (None: no case yet), or why it may not.
    The reason is written for people: names, never codes or ids (`proposal_id` is kept in the
    signature for callers and logs)."""
    if event_type == OPENING_EVENT:
        if stage is None:
            return Moved(None, S.SUBMITTED)
        return _refusal(
            stage,
            _refused(
                event_type,
                _at_stage(
                    stage,
                    BilingualText(th="ได้ยื่นไว้แล้ว", en="it was already submitted"),
                ),
            ),
        )
    rule = TRANSITIONS.get(event_type)
    if rule is None:
        return _refusal(
            stage,
            _refused(
                event_type,
                BilingualText(
                    th="รายการนี้ไม่ใช่มติในกระบวนการรับรอง",
                    en="it is not a decision of the certification process",
                ),
            ),
        )
    allowed, target = rule
    if stage is None:
        return _refusal(
            None,
            _refused(
                event_type,
                BilingualText(th="ไม่พบข้อเสนอนี้ในระบบ", en="there is no such proposal"),
            ),
        )
    if stage in allowed:
        return Moved(stage, target)
    if event_type in CERTIFICATE_EVENTS:
        return _refusal(
            stage,
            _refused(
                event_type,
                _at_stage(
                    stage,
                    BilingualText(
                        th="ยังไม่ได้รับการประกาศเป็นพื้นที่เมืองอัจฉริยะ จึงยังไม่มีใบรับรอง",
                        en="it is not certified, so it has no certificate",
                    ),
                ),
            ),
        )
    if stage not in TERMINAL and _past(stage, allowed):
        why = BilingualText(en="it has already passed that step", th="ได้ผ่านขั้นตอนนั้นแล้ว")
    else:
        why = WAITING_FOR[stage]
    return _refusal(stage, _refused(event_type, _at_stage(stage, why)))


def stage_after(event_type: str) -> Stage | None:
    """The stage a proposal is at once `event_type` has happened (None: not a transition)."""
    if event_type == OPENING_EVENT:
        return S.SUBMITTED
    rule = TRANSITIONS.get(event_type)
    return rule[1] if rule else None
