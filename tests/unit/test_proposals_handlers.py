"""The proposals service's handlers (`services/proposals/handlers.py`) on the in-memory
aggregate store: submissions, resubmissions, withdrawals and revision requests, over HTTP
commands and as claims and facts from Kafka; what each commits and publishes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from dataclasses import dataclass

import pytest

from smartcity_th.contracts.agencies import agency
from smartcity_th.contracts.approvals import RevisionRequested
from smartcity_th.contracts.common import BilingualText, ProvinceRef
from smartcity_th.contracts.envelope import AnyEnvelope, EnvelopeError
from smartcity_th.contracts.proposals import (
    IntakeRejected,
    ProposalResubmitted,
    ProposalSubmitted,
    ProposalWithdrawn,
)
from smartcity_th.contracts.refusal import RefusalKind, Refused
from smartcity_th.services.common.dead_letters import Unprocessable
from smartcity_th.services.proposals.adapters.repository import ProposalRepository
from smartcity_th.services.proposals.handlers import (
    DecisionFacts,
    IntakeClaims,
    ProposalHandlers,
    RejectionLog,
    ResubmitProposal,
    SubmitProposal,
    WithdrawProposal,
)
from tests import builders
from tests.unit.fakes.store import InMemoryAggregateStore, MemoryDatabase

NOW = dt.datetime(2026, 2, 1, 8, 0, tzinfo=dt.UTC)
PHUKET = agency("lg-phuket-city")
RAYONG = agency("lg-rayong-city")


@dataclass
class Proposals:
    """The service as `services/proposals/bootstrap.py` wires it, on one in-memory database."""

    db: MemoryDatabase
    repo: ProposalRepository
    handlers: ProposalHandlers
    claims: IntakeClaims
    facts: DecisionFacts

    def sent(self, event_type: str) -> list[AnyEnvelope]:
        return [e for e in self.db.envelopes() if e.event_type == event_type]


@pytest.fixture
def proposals() -> Proposals:
    db = MemoryDatabase()
    repo = ProposalRepository(InMemoryAggregateStore("proposals", db, clock=lambda: NOW))
    handlers = ProposalHandlers(repo, clock=lambda: NOW)
    rejections = RejectionLog(
        InMemoryAggregateStore("intake_rejections", db, clock=lambda: NOW), handlers.clock
    )
    return Proposals(
        db, repo, handlers, IntakeClaims(handlers, rejections), DecisionFacts(handlers)
    )


def submit(key: str = "k1", applicant: str = "lg-phuket-city", **kwargs: object) -> SubmitProposal:
    return SubmitProposal(
        applicant=agency(applicant),
        content=builders.submitted_content(),
        idempotency_key=key,
        **kwargs,  # type: ignore[arg-type]
    )


def revision_requested(proposal_id: str, producer: str = "svc-approvals") -> AnyEnvelope:
    return builders.claim(
        RevisionRequested(
            requested_by="depa", reasons=BilingualText(th="แก้ไขแผน", en="Revise the plan")
        ),
        producer,
        proposal_id,
    )


# ---- commands (HTTP) ----


async def test_a_submission_commits_the_proposal_and_its_events_and_a_retry_returns_it(
    proposals: Proposals,
) -> None:
    first = await proposals.handlers.submit(submit())
    assert first.created
    pid = first.proposal.proposal_id
    assert proposals.db.event_types(pid) == ["ProposalContactsRecorded", "ProposalSubmitted"]
    again = await proposals.handlers.submit(submit())
    assert not again.created
    assert again.proposal.proposal_id == pid
    assert proposals.db.event_types(pid) == ["ProposalContactsRecorded", "ProposalSubmitted"]
    stored = await proposals.repo.get_document(pid)
    assert stored is not None
    assert (stored["_id"], stored["status"], stored["revision"]) == (pid, "submitted", 1)
    assert stored["content"]["budget_baht"] == "1000000"


async def test_a_proposal_id_another_applicant_or_key_took_is_a_conflict(
    proposals: Proposals,
) -> None:
    pid = (await proposals.handlers.submit(submit())).proposal.proposal_id
    for other in (submit("k2", proposal_id=pid), submit("k1", "pd-samyan", proposal_id=pid)):
        with pytest.raises(Refused) as refused:
            await proposals.handlers.submit(other)
        assert refused.value.refusal.kind is RefusalKind.CONFLICT
    assert len(proposals.sent("ProposalSubmitted")) == 1


async def test_a_resubmission_waits_for_a_revision_request_and_a_repeated_command_changes_nothing(
    proposals: Proposals,
) -> None:
    pid = (await proposals.handlers.submit(submit())).proposal.proposal_id

    def resubmit(key: str) -> ResubmitProposal:
        return ResubmitProposal(
            actor=PHUKET,
            proposal_id=pid,
            content=builders.submitted_content(plan="แผนฉบับแก้ไข / revised"),
            changes=None,
            command_key=key,
        )

    with pytest.raises(Refused) as too_early:
        await proposals.handlers.resubmit(resubmit("r1"))
    assert too_early.value.refusal.kind is RefusalKind.CONFLICT
    request = revision_requested(pid)
    assert await proposals.handlers.revision_requested(request)
    assert await proposals.handlers.revision_requested(request)  # redelivered: no new commit
    loaded = await proposals.repo.get(pid)
    assert loaded is not None
    assert (loaded.status, loaded.version) == ("revision_requested", 2)
    done = await proposals.handlers.resubmit(resubmit("r1"))
    assert done.created
    assert (done.proposal.revision, done.proposal.status) == (2, "submitted")
    repeated = await proposals.handlers.resubmit(resubmit("r1"))
    assert not repeated.created
    assert proposals.db.event_types(pid) == [
        "ProposalContactsRecorded",
        "ProposalSubmitted",
        "ProposalContactsRecorded",
        "ProposalResubmitted",
    ]
    assert not await proposals.handlers.revision_requested(revision_requested("P-unknown"))


async def test_withdrawals_of_unknown_withdrawn_or_anothers_proposals_are_refused(
    proposals: Proposals,
) -> None:
    pid = (await proposals.handlers.submit(submit())).proposal.proposal_id

    def withdraw(actor: str, key: str, proposal_id: str = pid) -> WithdrawProposal:
        return WithdrawProposal(
            actor=agency(actor), proposal_id=proposal_id, reason=None, command_key=key
        )

    for command, kind in (
        (withdraw("lg-phuket-city", "w0", "P-unknown"), RefusalKind.UNKNOWN_PROPOSAL),
        # another's: answered as GET answers it
        (withdraw("lg-rayong-city", "w0"), RefusalKind.UNKNOWN_PROPOSAL),
    ):
        with pytest.raises(Refused) as refused:
            await proposals.handlers.withdraw(command)
        assert refused.value.refusal.kind is kind
    assert (await proposals.handlers.withdraw(withdraw("lg-phuket-city", "w1"))).created
    assert not (await proposals.handlers.withdraw(withdraw("lg-phuket-city", "w1"))).created
    with pytest.raises(Refused) as twice:
        await proposals.handlers.withdraw(withdraw("lg-phuket-city", "w2"))
    assert twice.value.refusal.kind is RefusalKind.CONFLICT
    assert len(proposals.sent("ProposalWithdrawn")) == 1


async def test_concurrent_withdrawals_make_one_event(proposals: Proposals) -> None:
    """Replaces tests/integration/test_proposals_repository.py's test of the same name: the
    store's compare-and-set is the contract suite's (tests/store_contract.py)."""
    pid = (await proposals.handlers.submit(submit())).proposal.proposal_id
    outcomes = await asyncio.gather(
        *(
            proposals.handlers.withdraw(
                WithdrawProposal(actor=PHUKET, proposal_id=pid, reason=None, command_key=f"w{i}")
            )
            for i in range(4)
        ),
        return_exceptions=True,
    )
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, Refused)]
    assert len(done) == 1
    assert {r.refusal.kind for r in refused} == {RefusalKind.CONFLICT}
    assert len(refused) == 3
    stored = await proposals.repo.get_document(pid)
    assert stored is not None
    assert [e["event_type"] for e in stored["events"]] == [
        "ProposalContactsRecorded",
        "ProposalSubmitted",
        "ProposalWithdrawn",
    ]
    assert proposals.db.event_types(pid) == [e["event_type"] for e in stored["events"]]


# ---- claims on the intake topic ----


async def test_a_submission_claim_becomes_one_fact_even_when_delivered_twice(
    proposals: Proposals,
) -> None:
    claim = builders.submission("lg-phuket-city")
    await proposals.claims(claim)
    await proposals.claims(claim)
    [fact] = proposals.sent("ProposalSubmitted")
    assert fact.proposal_id == claim.proposal_id
    assert fact.producer == "svc-proposals"
    assert fact.causation_id == claim.event_id
    assert fact.correlation_id == claim.correlation_id
    stored = await proposals.repo.get(claim.proposal_id)
    assert stored is not None
    assert stored.processed == [str(claim.event_id)]
    assert proposals.sent("IntakeRejected") == []


async def test_resubmission_and_withdrawal_claims_follow_the_same_rules_as_commands(
    proposals: Proposals,
) -> None:
    opening = builders.submission("lg-phuket-city")
    await proposals.claims(opening)
    pid = opening.proposal_id
    await proposals.facts(revision_requested(pid))
    resubmitted = builders.claim(
        ProposalResubmitted(
            applicant="lg-phuket-city",
            revision=2,
            content=builders.content(),
            contact_emails=["city@example.go.th"],
        ),
        "lg-phuket-city",
        pid,
    )
    await proposals.claims(resubmitted)
    await proposals.claims(resubmitted)  # redelivered
    withdrawn = builders.claim(
        ProposalWithdrawn(applicant="lg-phuket-city", reason=None), "lg-phuket-city", pid
    )
    await proposals.claims(withdrawn)
    assert [t for t in proposals.db.event_types(pid) if t != "ProposalContactsRecorded"] == [
        "ProposalSubmitted",
        "ProposalResubmitted",
        "ProposalWithdrawn",
    ]
    stale = builders.claim(
        ProposalResubmitted(
            applicant="lg-phuket-city",
            revision=3,
            content=builders.content(),
            contact_emails=["city@example.go.th"],
        ),
        "lg-phuket-city",
        pid,
    )
    with pytest.raises(Unprocessable) as refused:
        await proposals.claims(stale)
    assert refused.value.kind == "conflict"
    [rejection] = proposals.sent("IntakeRejected")
    assert rejection.payload.refused_event_id == str(stale.event_id)


async def test_claims_out_of_turn_are_answered_with_the_stage_and_change_nothing(
    proposals: Proposals,
) -> None:
    """A resubmission before any revision request, and a second withdrawal, each answered to
    its producer by an IntakeRejected that names the stage, and dead-lettered as a conflict."""
    opening = builders.submission("lg-phuket-city")
    await proposals.claims(opening)
    pid = opening.proposal_id
    early = builders.claim(
        ProposalResubmitted(
            applicant="lg-phuket-city",
            revision=2,
            content=builders.content(),
            contact_emails=["city@example.go.th"],
        ),
        "lg-phuket-city",
        pid,
    )
    with pytest.raises(Unprocessable) as refused:
        await proposals.claims(early)
    assert refused.value.kind == "conflict"
    [rejection] = [e.payload for e in proposals.sent("IntakeRejected")]
    assert isinstance(rejection, IntakeRejected)
    assert rejection.producer == "lg-phuket-city"
    assert "at the stage \u201cSubmitted\u201d" in rejection.reason.en
    assert rejection.reason.th
    withdrawal = builders.claim(
        ProposalWithdrawn(applicant="lg-phuket-city", reason="merged"), "lg-phuket-city", pid
    )
    await proposals.claims(withdrawal)
    await proposals.claims(withdrawal)  # redelivered
    again = builders.claim(ProposalWithdrawn(applicant="lg-phuket-city"), "lg-phuket-city", pid)
    with pytest.raises(Unprocessable) as twice:
        await proposals.claims(again)
    assert twice.value.kind == "conflict"
    last = proposals.sent("IntakeRejected")[-1].payload
    assert isinstance(last, IntakeRejected)
    assert "Withdrawn by the applicant" in last.reason.en
    assert [t for t in proposals.db.event_types(pid) if t != "ProposalContactsRecorded"] == [
        "ProposalSubmitted",
        "IntakeRejected",
        "ProposalWithdrawn",
        "IntakeRejected",
    ]


@pytest.mark.parametrize(
    ("producer", "applicant", "where", "kind", "says"),
    [
        (
            "lg-khon-kaen-city",
            "lg-khon-kaen-city",
            builders.PHUKET,
            "unauthorised",
            "may not act for province 83",
        ),
        ("depa", "depa", builders.PHUKET, "unauthorised", "may not emit ProposalSubmitted"),
        ("lg-phuket-city", "lg-khon-kaen-city", builders.PHUKET, "unauthorised", "on behalf of"),
        (
            "lg-phuket-city",
            "lg-phuket-city",
            ProvinceRef(code="99", name_th="ไม่มี", name_en="Nowhere"),
            "validation",
            "not one of Thailand's 77 provinces",
        ),
    ],
    ids=["another province", "not an applicant", "on behalf of another", "no such province"],
)
async def test_a_refused_submission_claim_says_why_in_english_and_thai_and_is_kept(
    proposals: Proposals, producer: str, applicant: str, where: ProvinceRef, kind: str, says: str
) -> None:
    pid = builders.new_proposal_id()
    bad = builders.claim(
        ProposalSubmitted(
            applicant=applicant,
            content=builders.content(where),
            contact_emails=["city@example.go.th"],
        ),
        producer,
        pid,
    )
    with pytest.raises(Unprocessable) as refused:
        await proposals.claims(bad)
    assert refused.value.kind == kind
    [rejection] = [e.payload for e in proposals.sent("IntakeRejected")]
    assert isinstance(rejection, IntakeRejected)
    assert (rejection.producer, rejection.refused_event_type) == (producer, "ProposalSubmitted")
    assert says in rejection.reason.en or any(says in e.message.en for e in rejection.errors)
    assert rejection.reason.th
    assert await proposals.repo.get(pid) is None
    kept = await InMemoryAggregateStore("intake_rejections", proposals.db).get(str(bad.event_id))
    assert kept is not None
    assert (kept["producer"], kept["kind"]) == (producer, kind)


async def test_an_applicant_may_not_withdraw_anothers_proposal_by_claim(
    proposals: Proposals,
) -> None:
    """Answered as an unknown proposal, as GET answers it: the answer names no owner."""
    opening = builders.submission("lg-phuket-city")
    await proposals.claims(opening)
    pid = opening.proposal_id
    hostile = builders.claim(ProposalWithdrawn(applicant="pd-samyan"), "pd-samyan", pid)
    with pytest.raises(Unprocessable) as refused:
        await proposals.claims(hostile)
    assert refused.value.kind == "unknown_proposal"
    [rejection] = [e.payload for e in proposals.sent("IntakeRejected")]
    assert isinstance(rejection, IntakeRejected)
    assert "lg-phuket-city" not in rejection.reason.model_dump_json()
    stored = await proposals.repo.get(pid)
    assert stored is not None
    assert stored.status == "submitted"


@pytest.mark.parametrize(
    ("producer", "applicant", "kind"),
    [
        ("lg-nowhere-city", "lg-nowhere-city", "unauthorised"),  # not in the directory
        ("lg-phuket-city", "lg-rayong-city", "unauthorised"),  # on behalf of another
        ("lg-rayong-city", "lg-rayong-city", "unauthorised"),  # not its province
    ],
)
async def test_a_refused_claim_is_answered_by_intake_rejected_and_dead_lettered(
    proposals: Proposals, producer: str, applicant: str, kind: str
) -> None:
    claim = builders.submission(applicant)
    claim = claim.model_copy(update={"producer": producer})
    with pytest.raises(Unprocessable) as refused:
        await proposals.claims(claim)
    assert refused.value.kind == kind
    [rejection] = proposals.sent("IntakeRejected")
    assert rejection.proposal_id == claim.proposal_id
    assert rejection.causation_id == claim.event_id
    payload = rejection.payload
    assert payload.refused_event_id == str(claim.event_id)
    assert payload.producer == producer
    assert proposals.sent("ProposalSubmitted") == []
    with pytest.raises(Unprocessable):
        await proposals.claims(claim)  # redelivered: refused again, answered once
    assert len(proposals.sent("IntakeRejected")) == 1


async def test_a_claim_naming_a_contact_outside_the_applicants_domains_is_refused_without_it(
    proposals: Proposals,
) -> None:
    claim = builders.submission("lg-phuket-city", contact_emails=["someone@elsewhere.example"])
    with pytest.raises(Unprocessable) as refused:
        await proposals.claims(claim)
    assert refused.value.kind == "contact_outside_domains"
    [rejection] = proposals.db.sent
    assert rejection["event_type"] == "IntakeRejected"
    assert "someone@elsewhere.example" not in rejection["value"]  # a topic every agency reads


async def test_withdrawing_an_unknown_proposal_by_claim_is_refused(proposals: Proposals) -> None:
    claim = builders.claim(
        ProposalWithdrawn(applicant="lg-phuket-city", reason=None), "lg-phuket-city", "P-unknown"
    )
    with pytest.raises(Unprocessable) as refused:
        await proposals.claims(claim)
    assert refused.value.kind == "unknown_proposal"
    assert [e.event_type for e in proposals.db.envelopes()] == ["IntakeRejected"]


async def test_facts_and_other_services_claims_on_intake_are_not_the_proposals_services(
    proposals: Proposals,
) -> None:
    fact = builders.submission("lg-phuket-city").model_copy(update={"producer": "svc-proposals"})
    await proposals.claims(fact)
    await proposals.claims(revision_requested("P-1", producer="depa"))  # approvals' claim
    assert proposals.db.sent == []
    assert await proposals.repo.get(fact.proposal_id) is None


async def test_an_invalid_claim_is_answered_when_it_says_who_made_it(
    proposals: Proposals,
) -> None:
    event_id = str(uuid.uuid4())
    raw = {
        "event_id": event_id,
        "event_type": "ProposalSubmitted",
        "producer": "lg-phuket-city",
        "proposal_id": "P-invalid-1",
        "payload": {"applicant": "lg-phuket-city"},
    }
    error = EnvelopeError("payload.content", "Field required")
    await proposals.claims.refuse_invalid(json.dumps(raw).encode(), error)
    await proposals.claims.refuse_invalid(b"not json", error)
    anonymous = {**raw, "producer": None, "event_id": str(uuid.uuid4())}
    await proposals.claims.refuse_invalid(json.dumps(anonymous).encode(), error)
    [rejection] = proposals.sent("IntakeRejected")
    assert rejection.proposal_id == "P-invalid-1"
    assert rejection.payload.refused_event_id == event_id
    assert "payload.content" in rejection.payload.reason.en


# ---- facts on the decisions topic ----


async def test_a_revision_request_is_followed_from_approvals_or_an_allowed_agency_only(
    proposals: Proposals,
) -> None:
    pid = (await proposals.handlers.submit(submit())).proposal.proposal_id
    for producer in ("lg-nowhere-city", "lg-phuket-city"):
        with pytest.raises(Unprocessable) as refused:
            await proposals.facts(revision_requested(pid, producer))
        assert refused.value.kind == "unauthorised"
    refused_twice = await proposals.repo.get(pid)
    assert refused_twice is not None
    assert refused_twice.status == "submitted"  # the refused requests changed nothing
    with pytest.raises(Unprocessable) as unknown:
        await proposals.facts(revision_requested("P-unknown"))
    assert unknown.value.kind == "unknown_proposal"
    await proposals.facts(revision_requested(pid, producer="depa"))
    stored = await proposals.repo.get(pid)
    assert stored is not None
    assert stored.status == "revision_requested"
    await proposals.facts(builders.submission("lg-phuket-city", pid))  # not followed here
    assert proposals.db.event_types(pid) == ["ProposalContactsRecorded", "ProposalSubmitted"]
