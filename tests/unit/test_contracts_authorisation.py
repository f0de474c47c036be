"""The authorisation matrix: every event type x every agency kind, plus the applicant rules.

The expected table is written out here independently of
`smartcity_th.contracts.authorisation.MATRIX`, so a change to the matrix must be made (and
reviewed) twice.
"""

from __future__ import annotations

import itertools
import re

import pytest

from smartcity_th.contracts.authorisation import (
    MATRIX,
    OWNER_BOUND_EVENTS,
    Producer,
    authorise,
)
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.common import AgencyKind
from smartcity_th.contracts.refusal import Refusal, RefusalKind

K = AgencyKind
LG, PAO, PD = K.LOCAL_GOVERNMENT, K.PROVINCIAL_ADMINISTRATIVE_ORGANISATION, K.PRIVATE_DEVELOPER
APPLICANTS = {LG, PAO, PD}

EXPECTED: dict[str, set[AgencyKind]] = {
    "ProposalSubmitted": APPLICANTS,
    "ProposalResubmitted": APPLICANTS,
    "ProposalWithdrawn": APPLICANTS,
    "IntakeRejected": {K.SYSTEM},
    "ProposalContactsRecorded": {K.SYSTEM},
    "ProposalScreened": {K.DEPA},
    "RevisionRequested": {K.DEPA, K.DES_SUBCOMMITTEE},
    "SubcommitteeApproved": {K.DES_SUBCOMMITTEE},
    "SubcommitteeRejected": {K.DES_SUBCOMMITTEE},
    "SteeringCommitteeAcknowledged": {K.STEERING_COMMITTEE},
    "CabinetEndorsed": {K.CABINET},
    "CabinetReturned": {K.CABINET},
    "CertificationAwarded": {K.DEPA, K.DES_SUBCOMMITTEE},
    "MeetingRecorded": {K.DES_SUBCOMMITTEE, K.STEERING_COMMITTEE, K.CABINET},
    "DeliveryReported": APPLICANTS,
    "DeliveryAcknowledged": {K.DEPA},
    "DeliveryReturned": {K.DEPA},
    "CertificationRenewed": {K.DEPA, K.DES_SUBCOMMITTEE},
    "CertificationLapsed": {K.DEPA, K.DES_SUBCOMMITTEE},
    "TransitionRefused": {K.SYSTEM},
    "DeliveryDeadlineReminder": {K.SYSTEM},
    "NotificationSent": {K.SYSTEM},
    "NotificationFailed": {K.SYSTEM},
    "NotificationHeld": {K.SYSTEM},
}
THAI = re.compile(r"[\u0E00-\u0E7F]")

CASES = [
    (event_type, kind, kind in EXPECTED[event_type])
    for event_type, kind in itertools.product(sorted(EXPECTED), AgencyKind)
]


def _producer(
    kind: AgencyKind, agency_id: str = "agency-x", province: str | None = "83"
) -> Producer:
    return Producer(agency_id, kind, province if kind in {LG, PAO} else None)


def test_the_matrix_covers_exactly_the_catalogue() -> None:
    assert set(MATRIX) == set(EVENTS) == set(EXPECTED)


@pytest.mark.parametrize(("event_type", "kind", "allowed"), CASES)
def test_every_event_type_for_every_agency_kind(
    event_type: str, kind: AgencyKind, allowed: bool
) -> None:
    refused = authorise(_producer(kind), event_type, proposal_owner="agency-x", province_code="83")
    assert (refused is None) is allowed
    if not allowed:
        assert isinstance(refused, Refusal)
        assert refused.kind is RefusalKind.UNAUTHORISED
        assert event_type in refused.reason.en
        assert "may not emit" in refused.reason.en
        assert THAI.search(refused.reason.th)


@pytest.mark.parametrize("event_type", sorted(OWNER_BOUND_EVENTS))
@pytest.mark.parametrize("kind", sorted(APPLICANTS))
def test_an_applicant_acts_only_for_its_own_proposals(event_type: str, kind: AgencyKind) -> None:
    me = _producer(kind, "lg-phuket-city")
    assert authorise(me, event_type, proposal_owner="lg-phuket-city", province_code="83") is None
    refused = authorise(me, event_type, proposal_owner="pao-83", province_code="83")
    assert isinstance(refused, Refusal)
    assert "own proposals" in refused.reason.en
    assert "pao-83" not in refused.reason.en  # the owner is never named
    assert refused.kind is RefusalKind.UNKNOWN_PROPOSAL  # answered as if it did not exist
    assert THAI.search(refused.reason.th)


def test_the_own_proposal_rule_covers_resubmission_withdrawal_and_delivery_reports() -> None:
    assert {"ProposalResubmitted", "ProposalWithdrawn", "DeliveryReported"} == OWNER_BOUND_EVENTS
    me = _producer(LG, "lg-phuket-city")
    assert authorise(me, "ProposalSubmitted", proposal_owner=None, province_code="83") is None


@pytest.mark.parametrize("event_type", sorted(e for e, kinds in EXPECTED.items() if LG in kinds))
@pytest.mark.parametrize("kind", [LG, PAO])
def test_local_bodies_act_only_in_their_own_province(event_type: str, kind: AgencyKind) -> None:
    phuket = Producer("lg-phuket-city", kind, "83")
    assert (
        authorise(phuket, event_type, proposal_owner="lg-phuket-city", province_code="83") is None
    )
    refused = authorise(phuket, event_type, proposal_owner="lg-phuket-city", province_code="40")
    assert isinstance(refused, Refusal)
    assert refused.kind is RefusalKind.UNAUTHORISED
    assert "province 40" in refused.reason.en
    assert THAI.search(refused.reason.th)


@pytest.mark.parametrize("event_type", ["ProposalSubmitted", "ProposalWithdrawn"])
def test_private_developers_may_act_in_any_province(event_type: str) -> None:
    developer = Producer("pd-samyan", PD, None)
    for code in ("10", "40", "83"):
        assert (
            authorise(developer, event_type, proposal_owner="pd-samyan", province_code=code) is None
        )


@pytest.mark.parametrize("kind", sorted(set(AgencyKind) - APPLICANTS))
def test_national_bodies_are_not_bound_to_a_province(kind: AgencyKind) -> None:
    event_type = next(e for e, kinds in sorted(EXPECTED.items()) if kind in kinds)
    assert authorise(Producer("x-body", kind, None), event_type, province_code="40") is None


def test_what_is_unknown_to_the_caller_is_not_held_against_the_producer() -> None:
    me = _producer(LG, "lg-phuket-city")
    assert authorise(me, "ProposalWithdrawn") is None


@pytest.mark.parametrize("kind", list(AgencyKind))
def test_an_unknown_event_type_is_refused_for_everyone(kind: AgencyKind) -> None:
    refused = authorise(_producer(kind), "ProposalApprovedByMagic")
    assert isinstance(refused, Refusal)
    assert "not an event type" in refused.reason.en
    assert THAI.search(refused.reason.th)


def test_who_reads_what_and_who_administers() -> None:
    from smartcity_th.contracts.authorisation import may_administer, may_read, sees_only_own

    assert sees_only_own(AgencyKind.LOCAL_GOVERNMENT)
    assert not sees_only_own(AgencyKind.DEPA)
    assert may_read(AgencyKind.LOCAL_GOVERNMENT, "lg-a", "lg-a")
    assert not may_read(AgencyKind.LOCAL_GOVERNMENT, "lg-a", "lg-b")
    assert not may_read(AgencyKind.LOCAL_GOVERNMENT, "lg-a", None)
    assert may_read(AgencyKind.CABINET, "cabinet-secretariat", "lg-b")
    assert may_administer(AgencyKind.DEPA)
    assert may_administer(AgencyKind.SYSTEM)
    assert not may_administer(AgencyKind.DES_SUBCOMMITTEE)
    assert not may_administer(AgencyKind.LOCAL_GOVERNMENT)


def test_claims_and_facts_are_told_apart_in_the_catalogue_only() -> None:
    """Every service asks contracts (`is_fact_producer`, `may_read`, `sees_only_own`,
    `may_administer`, `owned_by`, `new_envelope`) instead of deciding these rules itself."""
    from pathlib import Path

    from smartcity_th.contracts.catalogue import is_fact_producer

    assert is_fact_producer("svc-approvals")
    assert not is_fact_producer("depa")
    services = Path(__file__).resolve().parents[2] / "services"
    reimplemented = {
        ".is_applicant": "smartcity_th.contracts.authorisation.sees_only_own / may_read",
        'startswith("svc-")': "smartcity_th.contracts.catalogue.is_fact_producer",
        "ADMIN_KINDS": "smartcity_th.contracts.authorisation.may_administer",
        "Envelope[type(": "smartcity_th.contracts.envelope.new_envelope",
        '"ProposalSubmitted", "ProposalResubmitted"': "smartcity_th.contracts.catalogue.owned_by",
    }
    found = [
        f"{path.relative_to(services.parent)}: {pattern} (use {instead})"
        for path in services.rglob("*.py")
        for pattern, instead in reimplemented.items()
        if pattern in path.read_text(encoding="utf-8")
    ]
    assert found == []


def test_the_catalogue_says_which_events_an_owner_emits_and_agencies_may_claim() -> None:
    from smartcity_th.contracts.authorisation import is_claimable
    from smartcity_th.contracts.catalogue import claims_for, owned_by

    proposals = owned_by("proposals")
    assert proposals == {
        "ProposalSubmitted",
        "ProposalResubmitted",
        "ProposalWithdrawn",
        "IntakeRejected",
        "ProposalContactsRecorded",
    }
    emitted_only = {"IntakeRejected", "ProposalContactsRecorded"}
    assert set(filter(is_claimable, proposals)) == proposals - emitted_only
    assert set(claims_for("proposals")) == proposals - emitted_only
    assert owned_by("notifications") == {
        "NotificationSent",
        "NotificationFailed",
        "NotificationHeld",
    }
    assert not is_claimable("TransitionRefused")
    assert is_claimable("CabinetEndorsed")
    assert not is_claimable("NoSuchEvent")
