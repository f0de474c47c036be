"""The proposal aggregate's rules, and the API's pure helpers (no I/O)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from smartcity_th.contracts.agencies import agency
from smartcity_th.contracts.approvals import RevisionRequested
from smartcity_th.contracts.common import BilingualText, ProvinceRef, Stage, Words
from smartcity_th.contracts.envelope import new_envelope
from smartcity_th.contracts.proposals import ProposalDraft
from smartcity_th.contracts.refusal import RefusalKind, Refused
from smartcity_th.services.proposals.adapters.repository import (
    BadCursor,
    decode_cursor,
    encode_cursor,
)
from smartcity_th.services.proposals.domain import (
    Proposal,
    check_content,
    content_from_draft,
    derive_proposal_id,
)
from smartcity_th.services.proposals.entrypoints.errors import dotted, validation_body
from smartcity_th.services.proposals.handlers import ClaimRef
from tests.builders import PHUKET as PHUKET_REF
from tests.builders import submitted_content as content

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
PHUKET = agency("lg-phuket-city").as_producer()
KHON_KAEN = agency("lg-khon-kaen-city").as_producer()
SAMYAN = agency("pd-samyan").as_producer()
DEPA = agency("depa").as_producer()
DOMAINS = agency("lg-phuket-city").email_domains


def submitted(actor: object = PHUKET) -> Proposal:
    proposal = Proposal.submit(
        proposal_id="SC-TEST00001",
        actor=actor,  # type: ignore[arg-type]
        content=content(),
        idempotency_key="k1",
        now=NOW,
        email_domains=DOMAINS,
    )
    proposal.pending_events.clear()
    return proposal


def revision_requested(proposal_id: str = "SC-TEST00001") -> object:
    return new_envelope(
        RevisionRequested(
            requested_by="depa", reasons=BilingualText(th="เพิ่มแผนงบประมาณ", en="Add a budget plan")
        ),
        producer="svc-approvals",
        proposal_id=proposal_id,
    )


def test_the_same_applicant_and_key_name_the_same_proposal() -> None:
    assert derive_proposal_id("lg-phuket-city", "k") == derive_proposal_id("lg-phuket-city", "k")
    assert derive_proposal_id("lg-phuket-city", "k") != derive_proposal_id("pd-samyan", "k")


def test_a_submission_records_revision_one_and_its_contacts_apart_from_the_fact() -> None:
    proposal = Proposal.submit(
        proposal_id="SC-TEST00001",
        actor=PHUKET,
        content=content(),
        idempotency_key="k1",
        now=NOW,
        email_domains=DOMAINS,
    )
    assert proposal.status == "submitted"
    assert [r["revision"] for r in proposal.revisions] == [1]
    assert [e.event_type for e in proposal.pending_events] == [
        "ProposalContactsRecorded",
        "ProposalSubmitted",
    ]
    contacts, fact = proposal.pending_events
    assert contacts.payload.contact_emails == ["city@example.go.th"]
    assert contacts.payload.revision == 1
    assert fact.payload.applicant == "lg-phuket-city"
    # The fact, which every agency may read, carries no contact address (schema version 2).
    assert b"city@example.go.th" not in fact.to_bytes()
    assert fact.payload.contact_emails is None
    assert proposal.content.contact_emails == ["city@example.go.th"]


def test_depa_may_not_submit() -> None:
    with pytest.raises(Refused) as err:
        Proposal.submit(
            proposal_id="SC-X01",
            actor=DEPA,
            content=content(),
            idempotency_key="k",
            now=NOW,
            email_domains=DOMAINS,
        )
    assert err.value.refusal.kind is RefusalKind.UNAUTHORISED
    assert "may not emit ProposalSubmitted" in err.value.refusal.reason.en


def test_a_local_government_may_not_submit_for_another_province() -> None:
    with pytest.raises(Refused) as err:
        Proposal.submit(
            proposal_id="SC-X01",
            actor=KHON_KAEN,
            content=content(),
            idempotency_key="k",
            now=NOW,
            email_domains=DOMAINS,
        )
    assert err.value.refusal.kind is RefusalKind.UNAUTHORISED
    assert "province 40" in err.value.refusal.reason.en
    assert err.value.refusal.reason.th


def test_a_private_developer_may_submit_in_any_province() -> None:
    assert (
        Proposal.submit(
            proposal_id="SC-X01",
            actor=SAMYAN,
            content=content(),
            idempotency_key="k",
            now=NOW,
            email_domains=DOMAINS,
        ).applicant
        == "pd-samyan"
    )


def test_province_must_be_one_of_the_77_and_names_must_match() -> None:
    with pytest.raises(Refused) as err:
        check_content(content(PHUKET_REF.model_copy(update={"code": "99"})))
    assert err.value.refusal.errors[0].field == "content.province.code"
    with pytest.raises(Refused) as err:
        check_content(content(ProvinceRef(code="83", name_en="Chiang Mai", name_th="เชียงใหม่")))
    assert err.value.refusal.errors[0].field == "content.province"
    lower_case = PHUKET_REF.model_copy(update={"name_en": "phuket"})
    assert check_content(content(lower_case)).province.name_en == "Phuket"


def test_a_draft_province_may_be_a_name_or_a_code() -> None:
    base = content().model_dump(exclude={"province"})
    for given in ("Phuket", "83", "TH-83", "ภูเก็ต"):
        assert content_from_draft(ProposalDraft(province=given, **base)).province.code == "83"
    with pytest.raises(Refused) as err:
        content_from_draft(ProposalDraft(province="Atlantis", **base))
    assert err.value.refusal.errors[0].field == "province"


def test_resubmission_is_refused_unless_a_revision_was_requested() -> None:
    proposal = submitted()
    with pytest.raises(Refused) as err:
        proposal.resubmit(
            actor=PHUKET,
            content=content(),
            changes=None,
            command_key="r1",
            now=NOW,
            email_domains=DOMAINS,
        )
    assert err.value.refusal.kind is RefusalKind.CONFLICT
    assert "at the stage \u201cSubmitted\u201d" in err.value.refusal.reason.en
    assert proposal.pending_events == []
    assert proposal.revision == 1


def test_a_revision_request_then_a_resubmission() -> None:
    proposal = submitted()
    request = revision_requested()
    assert proposal.request_revision(request, NOW)  # type: ignore[arg-type]
    assert proposal.status == Stage.REVISION_REQUESTED
    assert not proposal.request_revision(request, NOW)  # type: ignore[arg-type]
    assert len(proposal.revision_requests) == 1
    proposal.resubmit(
        actor=PHUKET,
        content=content(),
        changes=Words(en="budget added"),
        command_key="r1",
        now=NOW,
        email_domains=DOMAINS,
    )
    assert proposal.status == "submitted"
    assert proposal.revision == 2
    assert [r["revision"] for r in proposal.revisions] == [1, 2]
    contacts, event = proposal.pending_events
    assert (contacts.event_type, contacts.payload.revision) == ("ProposalContactsRecorded", 2)
    assert event.event_type == "ProposalResubmitted"
    assert event.payload.revision == 2
    assert event.payload.changes is not None
    assert (event.payload.changes.th, event.payload.changes.en) == (None, "budget added")
    assert proposal.has_processed("r1")


def test_only_the_owner_may_resubmit_or_withdraw() -> None:
    proposal = submitted()
    proposal.request_revision(revision_requested(), NOW)  # type: ignore[arg-type]
    with pytest.raises(Refused) as err:
        proposal.resubmit(
            actor=SAMYAN,
            content=content(),
            changes=None,
            command_key=None,
            now=NOW,
            email_domains=DOMAINS,
        )
    assert err.value.refusal.kind is RefusalKind.UNKNOWN_PROPOSAL
    with pytest.raises(Refused) as err:
        proposal.withdraw(actor=SAMYAN, reason=None, command_key=None, now=NOW)
    # as if it did not exist, like GET
    assert err.value.refusal.kind is RefusalKind.UNKNOWN_PROPOSAL
    assert "lg-phuket-city" not in err.value.refusal.reason.en


def test_a_claimed_revision_number_must_follow_the_current_one() -> None:
    proposal = submitted()
    proposal.request_revision(revision_requested(), NOW)  # type: ignore[arg-type]
    with pytest.raises(Refused) as err:
        proposal.resubmit(
            actor=PHUKET,
            content=content(),
            changes=None,
            command_key=None,
            now=NOW,
            email_domains=DOMAINS,
            claimed_revision=5,
        )
    assert err.value.refusal.kind is RefusalKind.CONFLICT
    assert err.value.refusal.errors[0].field == "payload.revision"


def test_withdrawal_any_time_but_only_once() -> None:
    proposal = submitted()
    proposal.withdraw(actor=PHUKET, reason=Words(en="merged"), command_key="w1", now=NOW)
    assert proposal.status == "withdrawn"
    assert proposal.withdrawal_reason == Words(en="merged")
    assert [e.event_type for e in proposal.pending_events] == ["ProposalWithdrawn"]
    with pytest.raises(Refused) as err:
        proposal.withdraw(actor=PHUKET, reason=None, command_key="w2", now=NOW)
    assert err.value.refusal.kind is RefusalKind.CONFLICT
    assert "Withdrawn by the applicant" in err.value.refusal.reason.en


def test_a_withdrawn_proposal_stays_withdrawn_after_a_late_revision_request() -> None:
    proposal = submitted()
    proposal.withdraw(actor=PHUKET, reason=None, command_key=None, now=NOW)
    assert proposal.request_revision(revision_requested(), NOW)  # type: ignore[arg-type]
    assert proposal.status == "withdrawn"


def test_cursor_round_trip_and_garbage() -> None:
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=dt.UTC)
    assert decode_cursor(encode_cursor(at, "SC-ABC")) == (at, "SC-ABC")
    for bad in ("nope", "", encode_cursor(at, "x")[:-3] + "!!!"):
        with pytest.raises(BadCursor):
            decode_cursor(bad)


def test_validation_errors_are_field_precise_and_bilingual() -> None:
    assert dotted(("body", "plan", "smart_solutions")) == "plan.smart_solutions"
    assert dotted(("query", "limit")) == "query.limit"
    body = validation_body(
        [
            {
                "type": "too_short",
                "loc": ("body", "dimensions"),
                "msg": "List should have at least 1 item after validation, not 0",
                "ctx": {"min_length": 1, "actual_length": 0},
            },
            {
                "type": "greater_than_equal",
                "loc": ("body", "budget_baht"),
                "msg": "Input should be greater than or equal to 0",
                "ctx": {"ge": 0},
            },
            {"type": "something_new", "loc": ("body", "x"), "msg": "odd"},
        ]
    )
    assert body["error"] == "the request has 3 invalid fields"
    assert body["error_th"]
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert fields["dimensions"]["th"] == "มีจำนวนน้อยเกินไป (ต้องมีอย่างน้อย 1 รายการ)"
    assert "ห้ามติดลบ" in fields["budget_baht"]["th"]
    assert fields["x"] == {"en": "odd", "th": "ข้อมูลไม่ถูกต้อง"}


def test_event_ids_are_fresh_per_event() -> None:
    a = Proposal.submit(
        proposal_id="SC-X01",
        actor=PHUKET,
        content=content(),
        idempotency_key="k",
        now=NOW,
        email_domains=DOMAINS,
    )
    b = Proposal.submit(
        proposal_id="SC-X01",
        actor=PHUKET,
        content=content(),
        idempotency_key="k",
        now=NOW,
        email_domains=DOMAINS,
    )
    assert a.pending_events[0].event_id != b.pending_events[0].event_id
    assert isinstance(a.pending_events[0].event_id, uuid.UUID)


def test_an_invalid_claim_is_addressable_only_when_it_names_its_producer() -> None:
    good = {
        "event_type": "ProposalWithdrawn",
        "event_id": str(uuid.uuid4()),
        "producer": "lg-phuket-city",
        "proposal_id": "KF-123",
        "correlation_id": "nope",
    }
    ref = ClaimRef.from_invalid(json.dumps(good).encode())
    assert ref is not None
    assert (ref.producer, ref.proposal_id, ref.correlation_id) == ("lg-phuket-city", "KF-123", None)
    for broken in (
        {**good, "event_type": "CabinetEndorsed"},  # approvals answers its own claims
        {**good, "producer": "svc-approvals"},
        {**good, "producer": "Bad Producer"},
        {**good, "event_id": "not-a-uuid"},
        {**good, "proposal_id": "!"},
        {k: v for k, v in good.items() if k != "producer"},
    ):
        assert ClaimRef.from_invalid(json.dumps(broken).encode()) is None
    assert ClaimRef.from_invalid(b"\xff") is None
    assert ClaimRef.from_invalid(b"[1]") is None
