"""The approvals service's handlers (`services/approvals/handlers.py`) on the in-memory
aggregate store: cases opened by the proposals service's facts, decisions and meetings as
claims (HTTP or Kafka), certificates numbered and sealed, deadline reminders; what each commits
and publishes."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass

import pytest

from smartcity_th.contracts.approvals import (
    AwardCertification,
    CabinetEndorsed,
    CertificationAwarded,
    SubcommitteeApproved,
    TransitionRefused,
)
from smartcity_th.contracts.certificate_seal import ISSUER, check_seal
from smartcity_th.contracts.common import Meeting, Stage
from smartcity_th.contracts.refusal import RefusalKind
from smartcity_th.contracts.signing import SigningKey
from smartcity_th.services.approvals.adapters.repository import CaseRepository
from smartcity_th.services.approvals.handlers import CaseHandlers, DecisionResult
from smartcity_th.services.common.dead_letters import Unprocessable
from tests.builders import claim
from tests.e2e.approvals_support import CHAIR, meeting, screened, submitted
from tests.support import signer_for
from tests.unit.fakes.store import InMemoryAggregateStore, MemoryDatabase

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
SIGNER = signer_for(ISSUER)


@dataclass
class Approvals:
    db: MemoryDatabase
    repo: CaseRepository
    handlers: CaseHandlers

    def sent(self, proposal_id: str | None = None) -> list[str]:
        return self.db.event_types(proposal_id)

    async def open_case(self, province: str = "83", applicant: str = "lg-phuket-city") -> str:
        fact = submitted(province, 1, applicant=applicant)
        await self.handlers.on_proposal_fact(fact)
        return fact.proposal_id

    async def decide(self, producer: str, payload: object, proposal_id: str) -> DecisionResult:
        [result] = await self.handlers.handle_claim(claim(payload, producer, proposal_id))  # type: ignore[arg-type]
        return result


@pytest.fixture
def approvals() -> Approvals:
    db = MemoryDatabase()

    def store(name: str) -> InMemoryAggregateStore:
        return InMemoryAggregateStore(name, db, service="approvals", clock=lambda: NOW)

    repo = CaseRepository(
        store("cases"), store("orphan_refusals"), store("certificate_register"), store("meetings")
    )
    return Approvals(db, repo, CaseHandlers(repo, clock=lambda: NOW, signer=SIGNER))


def screening(proposal_id: str) -> object:
    return screened(proposal_id).payload


async def to_cabinet_endorsed(approvals: Approvals, pid: str) -> None:
    assert (await approvals.decide("depa", screening(pid), pid)).outcome == "applied"
    for body, meeting_id, agency_id, decision, number in (
        ("subcommittee", "1/2569", "des-subcommittee", "SubcommitteeApproved", None),
        (
            "steering_committee",
            "2/2569",
            "steering-committee",
            "SteeringCommitteeAcknowledged",
            None,
        ),
        ("cabinet", "20/2569", "cabinet-secretariat", "CabinetEndorsed", "นร 0505/ว 123"),
    ):
        recorded = meeting(body, meeting_id, [(pid, decision)], number)
        assert (await approvals.decide(agency_id, recorded, pid)).outcome == "applied"


async def test_a_proposal_goes_from_submission_to_certified_with_a_sealed_certificate(
    approvals: Approvals,
) -> None:
    pid = await approvals.open_case()
    early = meeting("cabinet", "9/2569", [(pid, "CabinetEndorsed")], "นร 0505/ว 1")
    refused = await approvals.decide("cabinet-secretariat", early, pid)
    assert (refused.outcome, refused.stage) == ("refused", "submitted")
    assert refused.reason_en is not None
    assert "depa has not screened it yet" in refused.reason_en
    await to_cabinet_endorsed(approvals, pid)
    award = await approvals.decide("depa", AwardCertification(valid_from=NOW.date()), pid)
    assert (award.outcome, award.stage) == ("applied", "certified")
    assert approvals.sent(pid) == [
        "TransitionRefused",
        "ProposalScreened",
        "SubcommitteeApproved",
        "SteeringCommitteeAcknowledged",
        "CabinetEndorsed",
        "CertificationAwarded",
    ]
    [awarded] = [e for e in approvals.db.envelopes(pid) if e.event_type == "CertificationAwarded"]
    assert awarded.producer == "depa"
    payload = awarded.payload
    assert isinstance(payload, CertificationAwarded)
    assert payload.certificate_number == "SCT-2569-0001"
    key = SigningKey(
        SIGNER.key_id,
        ISSUER,
        SIGNER.private_key.public_key().public_bytes_raw(),
        dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )
    assert check_seal(payload, pid, {SIGNER.key_id: key})
    case = await approvals.repo.get_document(pid)
    assert case is not None
    assert case["certificate"]["certificate_number"] == "SCT-2569-0001"
    assert "processed" not in case
    again = await approvals.decide("depa", AwardCertification(valid_from=NOW.date()), pid)
    assert again.outcome == "refused"  # certified already
    assert await approvals.repo.certified_ids() == [pid]


async def test_a_meeting_recorded_twice_decides_once_and_counts_its_recordings(
    approvals: Approvals,
) -> None:
    pids = [await approvals.open_case(p, "pd-samyan") for p in ("83", "40", "21")]
    for pid in pids:
        assert (await approvals.decide("depa", screening(pid), pid)).outcome == "applied"
    decisions = [(pids[0], "SubcommitteeApproved"), (pids[1], "SubcommitteeRejected")]
    decisions.append((pids[2], "RevisionRequested"))
    minutes = meeting("subcommittee", "7/2565", decisions)
    first = await approvals.handlers.handle_claim(claim(minutes, "des-subcommittee", pids[0]))
    assert [r.outcome for r in first] == ["applied"] * 3
    second = await approvals.handlers.handle_claim(claim(minutes, "des-subcommittee", pids[0]))
    assert [r.outcome for r in second] == ["duplicate"] * 3
    assert [approvals.sent(pid)[-1] for pid in pids] == [
        "SubcommitteeApproved",
        "SubcommitteeRejected",
        "RevisionRequested",
    ]
    stored = await approvals.repo.meetings.get("subcommittee:7/2565")
    assert stored is not None
    assert (stored["times_recorded"], stored["recorded_by"]) == (2, "des-subcommittee")
    assert [d["proposal_id"] for d in stored["decisions"]] == pids
    other = {**stored, "recorded_by": "depa"}
    await approvals.repo.record_meeting("subcommittee:7/2565", other, NOW)
    kept = await approvals.repo.meetings.get("subcommittee:7/2565")
    assert kept == stored  # another agency's recording changes nothing


async def test_a_meeting_whose_recorder_may_not_take_every_decision_is_not_kept(
    approvals: Approvals,
) -> None:
    pid = await approvals.open_case()
    assert (await approvals.decide("depa", screening(pid), pid)).outcome == "applied"
    minutes = meeting("subcommittee", "8/2565", [(pid, "SubcommitteeApproved")])
    [result] = await approvals.handlers.handle_claim(claim(minutes, "depa", pid))
    assert result.outcome == "unauthorised"
    assert await approvals.repo.meetings.get("subcommittee:8/2565") is None


async def test_refusals_unknown_proposals_and_unknown_producers(approvals: Approvals) -> None:
    unknown = f"T-{uuid.uuid4().hex[:12]}"
    result = await approvals.decide("depa", screening(unknown), unknown)
    assert (result.outcome, result.stage) == ("unknown_proposal", None)
    # 404 over HTTP: tests/unit/test_refusals.py maps each kind once.
    assert result.kind is RefusalKind.UNKNOWN_PROPOSAL
    assert result.reason_en == (
        "The screening by depa cannot be accepted: there is no such proposal."
    )
    assert approvals.sent(unknown) == ["TransitionRefused"]  # committed as an orphan refusal
    assert await approvals.repo.get(unknown) is None
    pid = await approvals.open_case()
    stranger = await approvals.decide("lg-nowhere-city", screening(pid), pid)
    assert stranger.outcome == "unauthorised"
    assert stranger.reason_en is not None
    assert "not in the agency directory" in stranger.reason_en
    applicant = await approvals.decide("lg-phuket-city", screening(pid), pid)
    assert applicant.outcome == "unauthorised"
    case = await approvals.repo.get(pid)
    assert case is not None
    assert case.stage.value == "submitted"
    early_award = await approvals.decide("depa", AwardCertification(valid_from=NOW.date()), pid)
    assert early_award.outcome == "refused"
    assert not await approvals.repo.register.exists("certificates-2569")  # no number taken


async def test_claims_on_intake_dead_letter_only_the_unauthorised(approvals: Approvals) -> None:
    pid = await approvals.open_case()
    with pytest.raises(Unprocessable) as unauthorised:
        await approvals.handlers.on_intake(screened(pid, producer="lg-phuket-city"))
    assert unauthorised.value.kind == "unauthorised"
    early = claim(
        meeting("cabinet", "9/2569", [(pid, "CabinetEndorsed")], "นร 0505/ว 1"),
        "cabinet-secretariat",
        pid,
    )
    await approvals.handlers.on_intake(early)  # refused by the stage: answered, not dead-lettered
    fact_only = submitted("83", 2)  # the proposals service's fact, not approvals' claim
    await approvals.handlers.on_intake(fact_only)
    assert await approvals.repo.get(fact_only.proposal_id) is None
    accepted = screened(pid)
    await approvals.handlers.on_intake(accepted)
    assert approvals.sent(pid) == ["TransitionRefused", "TransitionRefused", "ProposalScreened"]


async def test_racing_decisions_on_one_case_one_applies_the_other_is_decided_again_and_refused(
    approvals: Approvals,
) -> None:
    """Replaces tests/integration/test_approvals_repository.py's racing-decisions test."""
    pid = await approvals.open_case()
    results = await asyncio.gather(
        *(approvals.decide("depa", screening(pid), pid) for _ in range(2))
    )
    assert sorted(r.outcome for r in results) == ["applied", "refused"]
    case = await approvals.repo.get(pid)
    assert case is not None
    assert (case.stage.value, case.version) == ("screened", 3)
    assert [(h["event_type"], h["refused"] is None) for h in case.history] == [
        ("ProposalSubmitted", True),
        ("ProposalScreened", True),
        ("ProposalScreened", False),
    ]
    assert approvals.sent(pid) == ["ProposalScreened", "TransitionRefused"]


async def test_concurrent_awards_get_unique_numbers_and_a_retry_gets_the_same_one(
    approvals: Approvals,
) -> None:
    """Replaces tests/integration/test_approvals_repository.py's test of the same name."""
    awards = [f"award-{i}" for i in range(20)]
    numbers = await asyncio.gather(
        *(approvals.repo.certificate_number_for(a, 2571, NOW) for a in awards)
    )
    assert sorted(numbers) == [f"SCT-2571-{i:04d}" for i in range(1, 21)]
    assert await approvals.repo.certificate_number_for("award-7", 2571, NOW) == numbers[7]


async def test_the_deadline_scan_reminds_once_per_threshold(approvals: Approvals) -> None:
    pid = await approvals.open_case()
    await to_cabinet_endorsed(approvals, pid)
    valid_from = NOW.date().replace(year=NOW.year - 2) + dt.timedelta(days=20)
    award = await approvals.decide("depa", AwardCertification(valid_from=valid_from), pid)
    assert award.outcome == "applied"
    assert await approvals.handlers.scan_deadlines() == 1
    assert await approvals.handlers.scan_deadlines() == 0
    assert approvals.sent(pid)[-1] == "DeliveryDeadlineReminder"


async def test_only_the_proposals_services_facts_that_change_a_case_are_followed(
    approvals: Approvals,
) -> None:
    pid = await approvals.open_case()
    assert approvals.sent(pid) == []  # opening a case publishes nothing
    await approvals.handlers.on_proposal_fact(screened(pid))  # not a proposals fact
    case = await approvals.repo.get(pid)
    assert case is not None
    assert (case.stage.value, case.version) == ("submitted", 1)


async def test_out_of_order_and_unauthorised_claims_are_refused_answered_and_kept_in_the_history(
    approvals: Approvals,
) -> None:
    """An applicant's screening (as over HTTP: 403), a subcommittee's approval before the
    screening (refused by the stage, answered, not dead-lettered) and the Cabinet's endorsement
    claimed by depa (dead-lettered as unauthorised): each answered by a TransitionRefused to its
    producer and kept in the case's history; the stage does not move. (An unknown producer is
    refused before any handler, by its signature: tests/e2e/test_signed_claims.py.)"""
    pid = await approvals.open_case("40", "lg-khon-kaen-city")
    applicant = await approvals.decide("lg-khon-kaen-city", screening(pid), pid)
    assert applicant.kind is RefusalKind.UNAUTHORISED
    assert applicant.reason_en is not None
    assert "may not emit ProposalScreened" in applicant.reason_en
    out_of_order = claim(
        SubcommitteeApproved(
            meeting=Meeting(meeting_id="3/2565", held_on=dt.date(2022, 5, 1), chair=CHAIR),
            resolution="approved",
        ),
        "des-subcommittee",
        pid,
    )
    await approvals.handlers.on_intake(out_of_order)
    endorsed = CabinetEndorsed(
        resolution_number="นร 1", resolution_date=dt.date(2022, 5, 2), resolution="endorsed"
    )
    wrong_agency = claim(endorsed, "depa", pid)
    with pytest.raises(Unprocessable) as dead:
        await approvals.handlers.on_intake(wrong_agency)
    assert dead.value.kind == "unauthorised"
    refusals = {
        e.payload.refused_event_id: e.payload
        for e in approvals.db.envelopes(pid)
        if isinstance(e.payload, TransitionRefused)
    }
    assert len(refusals) == 3
    late = refusals[str(out_of_order.event_id)]
    assert (late.producer, late.stage) == ("des-subcommittee", Stage.SUBMITTED)
    assert late.reason.en == (
        "The approval by the subcommittee cannot be accepted: the proposal is at the stage "
        "\u201cSubmitted\u201d and depa has not screened it yet."
    )
    assert "depa (depa) may not emit CabinetEndorsed" in (
        refusals[str(wrong_agency.event_id)].reason.en
    )
    case = await approvals.repo.get(pid)
    assert case is not None
    assert case.stage is Stage.SUBMITTED
    assert sorted(h["event_type"] for h in case.history if h["refused"]) == [
        "CabinetEndorsed",
        "ProposalScreened",
        "SubcommitteeApproved",
    ]


async def test_twelve_decisions_at_once_one_applies_and_eleven_are_refused_as_conflicts(
    approvals: Approvals,
) -> None:
    """Twelve screenings of one case at once (as twelve HTTP requests): one applies, eleven are
    decided again and refused (409), each refusal kept and answered; nothing is lost. The real
    store's compare-and-set is the contract suite's (tests/store_contract.py), on FerretDB in
    tests/integration/test_store_contract.py."""
    pid = await approvals.open_case("50")
    results = await asyncio.gather(
        *(approvals.decide("depa", screening(pid), pid) for _ in range(12))
    )
    assert sorted(r.outcome for r in results) == ["applied"] + ["refused"] * 11
    assert {r.kind for r in results if r.outcome == "refused"} == {RefusalKind.CONFLICT}
    case = await approvals.repo.get(pid)
    assert case is not None
    assert (case.stage, case.version) == (Stage.SCREENED, 13)
    assert len(case.history) == 13
    assert [h["refused"] is None for h in case.history].count(True) == 2
    sent = approvals.db.envelopes(pid)
    assert sorted(e.event_type for e in sent) == ["ProposalScreened"] + ["TransitionRefused"] * 11
    assert len({e.event_id for e in sent}) == 12
