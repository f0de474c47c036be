"""The proposal aggregate and its rules. Pure: no I/O; it returns the events it causes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from smartcity_th.contracts.approvals import RevisionRequested
from smartcity_th.contracts.authorisation import Producer, authorise
from smartcity_th.contracts.common import (
    ProvinceRef,
    Stage,
    Words,
    service_principal,
)
from smartcity_th.contracts.contacts import contact_refusal
from smartcity_th.contracts.envelope import AnyEnvelope, new_envelope
from smartcity_th.contracts.proposals import (
    ProposalContactsRecorded,
    ProposalContent,
    ProposalDraft,
    ProposalResubmitted,
    ProposalSubmitted,
    ProposalWithdrawn,
    SubmittedContent,
)
from smartcity_th.contracts.reference import UnknownProvince, province
from smartcity_th.contracts.refusal import Refusal, RefusalKind, Refused, field_error, refusal
from smartcity_th.contracts.workflow import transition

SERVICE_PRODUCER = service_principal("proposals")


def no_such_proposal(proposal_id: str) -> Refusal:
    return refusal(
        RefusalKind.UNKNOWN_PROPOSAL, f"no proposal {proposal_id}", f"ไม่พบข้อเสนอ {proposal_id}"
    )


def id_in_use(proposal_id: str) -> Refusal:
    """Another applicant's proposal, or another submission, already has this id."""
    return refusal(
        RefusalKind.CONFLICT,
        f"proposal id {proposal_id} is already in use",
        f"รหัสข้อเสนอ {proposal_id} ถูกใช้แล้ว",
    )


def derive_proposal_id(applicant: str, idempotency_key: str) -> str:
    """The same applicant retrying with the same key always names the same proposal."""
    digest = hashlib.sha256(f"{applicant}\x00{idempotency_key}".encode()).digest()
    return "SC-" + base64.b32encode(digest).decode("ascii")[:10]


def resolve_province(value: str, *, field_name: str = "province") -> ProvinceRef:
    try:
        p = province(value)
    except UnknownProvince as exc:
        raise Refused(
            refusal(
                RefusalKind.VALIDATION,
                "unknown province",
                "ไม่พบจังหวัด",
                (
                    field_error(
                        field_name,
                        f"{value!r} is not one of Thailand's 77 provinces",
                        f"{value!r} ไม่ใช่หนึ่งใน 77 จังหวัดของประเทศไทย",
                    ),
                ),
            )
        ) from exc
    return ProvinceRef(code=p.code, name_th=p.name_th, name_en=p.name_en)


def content_from_draft(draft: ProposalDraft) -> SubmittedContent:
    data = draft.model_dump(exclude={"province", "received_on"})
    return SubmittedContent(province=resolve_province(draft.province), **data)


def public_content(content: SubmittedContent) -> ProposalContent:
    """The plan as the facts carry it: without the contact addresses (personal data, which only
    ProposalContactsRecorded carries, on a topic only the services read)."""
    return ProposalContent.model_validate(content.model_dump(exclude={"contact_emails"}))


def submitted_content(
    content: ProposalContent, contact_emails: list[str] | None
) -> SubmittedContent:
    """A claim's plan with its contact addresses, which a claim must give (beside the content;
    schema version 1 gave them in it, which reading upgrades)."""
    if not contact_emails:
        raise Refused(
            refusal(
                RefusalKind.VALIDATION,
                "the claim gives no contact address for the applicant",
                "คำขอไม่ได้ระบุอีเมลผู้ประสานงานของผู้ยื่น",
                (
                    field_error(
                        "payload.contact_emails",
                        "at least one address is required",
                        "ต้องระบุอย่างน้อยหนึ่งอีเมล",
                    ),
                ),
            )
        )
    return SubmittedContent.model_validate(
        {**content.model_dump(), "contact_emails": contact_emails}
    )


def check_contacts(applicant: str, content: SubmittedContent, email_domains: Sequence[str]) -> None:
    """The applicant's contact addresses must be at its registered email domains
    (contracts/contacts.py), or they would receive official letters carrying its text."""
    outside = contact_refusal(applicant, content.contact_emails, email_domains)
    if outside is not None:
        raise Refused(outside)


def check_effective_on(effective_on: dt.date | None, now: dt.datetime) -> dt.date | None:
    """A step recorded late may say the day it took effect, never a day after it is recorded
    (in Thailand's calendar)."""
    if effective_on is None:
        return None
    today = now.astimezone(dt.timezone(dt.timedelta(hours=7))).date()
    if effective_on > today:
        raise Refused(
            refusal(
                RefusalKind.VALIDATION,
                f"the day it took effect ({effective_on}) is after today ({today})",
                f"วันที่มีผล ({effective_on}) อยู่หลังวันนี้ ({today})",
                (field_error("received_on", "must not be in the future", "ต้องไม่เป็นวันในอนาคต"),),
            )
        )
    return effective_on


def check_content(content: SubmittedContent) -> SubmittedContent:
    """Checks a claim's content against the reference data (the province must be one of the 77
    and its names must be that province's); returns it with canonical names."""
    ref = resolve_province(content.province.code, field_name="content.province.code")
    if (
        content.province.name_en.casefold() != ref.name_en.casefold()
        and content.province.name_th != ref.name_th
    ):
        raise Refused(
            refusal(
                RefusalKind.VALIDATION,
                "province names do not match the code",
                "ชื่อจังหวัดไม่ตรงกับรหัสจังหวัด",
                (
                    field_error(
                        "content.province",
                        f"code {ref.code} is {ref.name_en} ({ref.name_th}), not "
                        f"{content.province.name_en}",
                        f"รหัส {ref.code} คือจังหวัด{ref.name_th} ไม่ใช่{content.province.name_th}",
                    ),
                ),
            )
        )
    return content.model_copy(update={"province": ref})


def check_authorised(
    actor: Producer,
    event_type: str,
    proposal_id: str,
    *,
    proposal_owner: str | None = None,
    province_code: str,
) -> None:
    """The authorisation matrix's answer; another agency's proposal is refused as reading it
    is: as if it did not exist, without naming its owner."""
    refused = authorise(
        actor, event_type, proposal_owner=proposal_owner, province_code=province_code
    )
    if refused is None:
        return
    if refused.kind is RefusalKind.UNKNOWN_PROPOSAL:
        raise Refused(no_such_proposal(proposal_id))
    raise Refused(refused)


def check_allowed_now(proposal_id: str, status: str, event_type: str) -> None:
    """The workflow's rule for what an applicant may do at the proposal's current status."""
    outcome = transition(Stage(status), event_type, proposal_id)
    if isinstance(outcome, Refusal):
        raise Refused(outcome)


def _contacts(
    applicant: str,
    revision: int,
    content: SubmittedContent,
    proposal_id: str,
    cause: AnyEnvelope | None,
    now: dt.datetime,
) -> AnyEnvelope:
    """The contact addresses of one version, published (before its fact, in the same commit) on
    the topic only the services read."""
    return new_envelope(
        ProposalContactsRecorded(
            applicant=applicant, revision=revision, contact_emails=content.contact_emails
        ),
        producer=SERVICE_PRODUCER,
        proposal_id=proposal_id,
        cause=cause,
        occurred_at=now,
    )


@dataclass
class Proposal:
    """A proposal as the proposals service knows it: the submitted versions and its status
    (submitted, revision_requested or withdrawn; approvals tracks the later stages)."""

    proposal_id: str
    applicant: str
    status: str
    revision: int
    content: SubmittedContent
    submitted_at: dt.datetime
    idempotency_key: str
    revisions: list[dict[str, Any]] = field(default_factory=list)
    revision_requests: list[dict[str, Any]] = field(default_factory=list)
    processed: list[str] = field(default_factory=list)
    withdrawal_reason: Words | None = None
    updated_at: dt.datetime | None = None
    version: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    """What was published about it so far (id, type, time), oldest first."""
    pending_events: list[AnyEnvelope] = field(default_factory=list)
    loaded: dict[str, int] = field(default_factory=dict)
    """Lengths of the history lists when loaded: what lies beyond is new (for the repository)."""

    @classmethod
    def submit(
        cls,
        *,
        proposal_id: str,
        actor: Producer,
        content: SubmittedContent,
        idempotency_key: str,
        now: dt.datetime,
        email_domains: Sequence[str],
        cause: AnyEnvelope | None = None,
        effective_on: dt.date | None = None,
    ) -> Proposal:
        """`email_domains`: the applicant's registered email domains, where its contact
        addresses must be."""
        content = check_content(content)
        effective_on = check_effective_on(effective_on, now)
        check_authorised(
            actor, "ProposalSubmitted", proposal_id, province_code=content.province.code
        )
        check_contacts(actor.agency_id, content, email_domains)
        contacts = _contacts(actor.agency_id, 1, content, proposal_id, cause, now)
        event = new_envelope(
            ProposalSubmitted(
                applicant=actor.agency_id,
                content=public_content(content),
                effective_on=effective_on,
            ),
            producer=SERVICE_PRODUCER,
            proposal_id=proposal_id,
            cause=cause,
            occurred_at=now,
        )
        return cls(
            proposal_id=proposal_id,
            applicant=actor.agency_id,
            status=Stage.SUBMITTED.value,
            revision=1,
            content=content,
            submitted_at=now,
            updated_at=now,
            idempotency_key=idempotency_key,
            revisions=[
                {
                    "revision": 1,
                    "submitted_at": now,
                    "event_id": str(event.event_id),
                    "content": content.model_dump(mode="json"),
                    "changes": None,
                }
            ],
            processed=[str(cause.event_id)] if cause else [],
            pending_events=[contacts, event],
        )

    def has_processed(self, command_key: str | None) -> bool:
        return command_key is not None and command_key in self.processed

    def _done(self, command_key: str | None, now: dt.datetime) -> None:
        if command_key is not None:
            self.processed.append(command_key)
        self.updated_at = now

    def resubmit(
        self,
        *,
        actor: Producer,
        content: SubmittedContent,
        changes: Words | None,
        command_key: str | None,
        now: dt.datetime,
        email_domains: Sequence[str],
        cause: AnyEnvelope | None = None,
        claimed_revision: int | None = None,
        effective_on: dt.date | None = None,
    ) -> None:
        """The applicant's revised plan, allowed only while a revision is requested; its
        contact addresses at `email_domains`, the applicant's registered email domains."""
        content = check_content(content)
        effective_on = check_effective_on(effective_on, now)
        check_authorised(
            actor,
            "ProposalResubmitted",
            self.proposal_id,
            proposal_owner=self.applicant,
            province_code=content.province.code,
        )
        check_allowed_now(self.proposal_id, self.status, "ProposalResubmitted")
        check_contacts(self.applicant, content, email_domains)
        revision = self.revision + 1
        if claimed_revision is not None and claimed_revision != revision:
            raise Refused(
                refusal(
                    RefusalKind.CONFLICT,
                    f"revision {claimed_revision} does not follow the current revision "
                    f"{self.revision}; the next one is {revision}",
                    f"ฉบับแก้ไขที่ {claimed_revision} ไม่ต่อจากฉบับปัจจุบัน ({self.revision}) "
                    f"ฉบับถัดไปคือ {revision}",
                    (field_error("payload.revision", f"must be {revision}", f"ต้องเป็น {revision}"),),
                )
            )
        contacts = _contacts(self.applicant, revision, content, self.proposal_id, cause, now)
        event = new_envelope(
            ProposalResubmitted(
                applicant=self.applicant,
                revision=revision,
                content=public_content(content),
                changes=changes,
                effective_on=effective_on,
            ),
            producer=SERVICE_PRODUCER,
            proposal_id=self.proposal_id,
            cause=cause,
            occurred_at=now,
        )
        self.revision = revision
        self.content = content
        self.status = Stage.SUBMITTED.value
        self.revisions.append(
            {
                "revision": revision,
                "submitted_at": now,
                "event_id": str(event.event_id),
                "content": content.model_dump(mode="json"),
                "changes": changes.model_dump() if changes else None,
            }
        )
        self.pending_events.extend((contacts, event))
        self._done(command_key, now)

    def withdraw(
        self,
        *,
        actor: Producer,
        reason: Words | None,
        command_key: str | None,
        now: dt.datetime,
        cause: AnyEnvelope | None = None,
    ) -> None:
        """Withdrawal is allowed any time before certification; the proposals service does not
        know certification, so it refuses only a second withdrawal (approvals refuses later)."""
        check_authorised(
            actor,
            "ProposalWithdrawn",
            self.proposal_id,
            proposal_owner=self.applicant,
            province_code=self.content.province.code,
        )
        check_allowed_now(self.proposal_id, self.status, "ProposalWithdrawn")
        event = new_envelope(
            ProposalWithdrawn(applicant=self.applicant, reason=reason),
            producer=SERVICE_PRODUCER,
            proposal_id=self.proposal_id,
            cause=cause,
            occurred_at=now,
        )
        self.status = Stage.WITHDRAWN.value
        self.withdrawal_reason = reason
        self.pending_events.append(event)
        self._done(command_key, now)

    def request_revision(self, envelope: AnyEnvelope, now: dt.datetime) -> bool:
        """A RevisionRequested fact: the proposal now awaits a resubmission. Returns False when
        nothing changes (already processed). A withdrawn proposal stays withdrawn."""
        event_id = str(envelope.event_id)
        if self.has_processed(event_id):
            return False
        payload = envelope.payload
        assert isinstance(payload, RevisionRequested)
        self.revision_requests.append(
            {
                "event_id": event_id,
                "requested_by": payload.requested_by,
                "reasons": payload.reasons.model_dump(),
                "respond_by": payload.respond_by.isoformat() if payload.respond_by else None,
                "at": envelope.occurred_at,
            }
        )
        if self.status != Stage.WITHDRAWN.value:
            self.status = Stage.REVISION_REQUESTED.value
        self._done(event_id, now)
        return True
