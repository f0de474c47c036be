"""Issue 24 item 9: an applicant's contact addresses only at its registered email domains (the
rule in contracts/contacts.py, the registry's record of the domains, the proposal aggregate)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from importlib.resources import files

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartcity_th.contracts.agencies import agencies, agency
from smartcity_th.contracts.approvals import RevisionRequested
from smartcity_th.contracts.common import APPLICANT_KINDS, BilingualText
from smartcity_th.contracts.contacts import contact_refusal, normal_domain, within
from smartcity_th.contracts.envelope import new_envelope
from smartcity_th.contracts.refusal import RefusalKind, Refused
from smartcity_th.contracts.registry import (
    AgencyRegistered,
    AgencyUpdated,
    Registry,
    agency_event,
    parse_registry_record,
    registry_event,
)
from smartcity_th.services.proposals.domain import Proposal
from tests.builders import submitted_content

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
PHUKET = agency("lg-phuket-city")


def test_an_address_is_within_a_domain_or_a_subdomain_of_it_and_nowhere_else() -> None:
    domains = ["phuketcity.go.th"]
    assert within("smartcity@phuketcity.go.th", domains)
    assert within("it@mail.phuketcity.go.th", domains)
    assert within("IT@Mail.PhuketCity.go.th", domains)
    assert not within("x@evilphuketcity.go.th", domains)  # a suffix, not a subdomain
    assert not within("x@phuketcity.go.th.evil.example", domains)
    assert not within("x@go.th", domains)
    assert not within("x@gmail.com", domains)
    assert not within("x@phuketcity.go.th", [])


def test_the_refusal_names_each_outside_address_and_the_allowed_domains_in_both_languages() -> None:
    refusal = contact_refusal(
        "lg-phuket-city",
        ["ok@phuketcity.go.th", "someone@gmail.com", "b@khonkaen.go.th"],
        ["phuketcity.go.th", "phuket.go.th"],
    )
    assert refusal is not None
    assert refusal.kind is RefusalKind.CONTACT_OUTSIDE_DOMAINS
    assert [e.field for e in refusal.errors] == ["contact_emails.1", "contact_emails.2"]
    reason = refusal.reason
    for text in (reason.en, reason.th):
        assert "someone@gmail.com" in text
        assert "b@khonkaen.go.th" in text
        assert "phuketcity.go.th, phuket.go.th" in text
        assert "ok@phuketcity.go.th" not in text
    message = refusal.errors[0].message
    assert "someone@gmail.com" in message.en
    assert "someone@gmail.com" in message.th
    assert "phuketcity.go.th" in message.th
    # Said where every agency may read it: by position, no address.
    public = refusal.public
    assert public is not None
    assert public.kind is RefusalKind.CONTACT_OUTSIDE_DOMAINS
    assert [e.field for e in public.errors] == ["contact_emails.1", "contact_emails.2"]
    for text in (public.reason.en, public.reason.th, public.errors[0].message.en):
        assert "@" not in text
        assert "phuketcity.go.th" in text
    assert "contact_emails[1], contact_emails[2]" in public.reason.en
    assert contact_refusal("lg-phuket-city", ["ok@phuketcity.go.th"], ["phuketcity.go.th"]) is None


def test_an_agency_with_no_registered_domain_may_name_no_address_and_is_told_how() -> None:
    refusal = contact_refusal("lg-new", ["a@new.go.th"], [])
    assert refusal is not None
    reason = refusal.reason
    assert "no registered email domain" in reason.en
    assert "a@new.go.th" in reason.en
    assert "smartcity-admin email-domains lg-new --add DOMAIN" in reason.en
    assert "smartcity-admin email-domains lg-new --add DOMAIN" in reason.th
    assert "ยังไม่ได้ลงทะเบียนโดเมนอีเมล" in reason.th
    assert "@" not in refusal.for_everyone.reason.en


@pytest.mark.parametrize(
    ("given", "registered"),
    [("PhuketCity.go.th", "phuketcity.go.th"), ("depa.or.th.", "depa.or.th"), ("a.th", "a.th")],
)
def test_a_domain_is_registered_in_lowercase(given: str, registered: str) -> None:
    assert normal_domain(given) == registered


@pytest.mark.parametrize(
    "bad",
    ["th", "x@phuketcity.go.th", ".go.th", "go..th", "-a.go.th", "a_b.go.th", "a.go.th/x", ""],
)
def test_what_is_not_a_domain_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not an email domain"):
        normal_domain(bad)


@given(
    st.lists(st.from_regex(r"[a-z0-9]{1,8}\.(go|or|co)\.th", fullmatch=True), max_size=4),
    st.lists(st.emails(), min_size=1, max_size=10),
)
def test_the_rule_refuses_exactly_the_addresses_outside_the_domains(
    domains: list[str], addresses: list[str]
) -> None:
    refusal = contact_refusal("lg-x", addresses, domains)
    outside = [a for a in addresses if not within(a, domains)]
    assert (refusal is None) == (not outside)
    if refusal is not None:
        assert [e.field for e in refusal.errors] == [
            f"contact_emails.{i}" for i, a in enumerate(addresses) if not within(a, domains)
        ]


def test_every_csv_agency_that_may_apply_has_the_illustrative_domain_and_no_derived_one() -> None:
    text = files("smartcity_th.contracts.reference").joinpath("agencies.csv").read_text("utf-8")
    in_csv = {row["id"] for row in csv.DictReader(io.StringIO(text))}
    for a in agencies().values():
        assert all(normal_domain(d) == d for d in a.email_domains), a.agency_id
        if a.agency_id not in in_csv:
            assert a.email_domains == (), a.agency_id  # a PAO derived from the province list
        elif a.kind in APPLICANT_KINDS:
            assert a.email_domains == ("example.go.th",), a.agency_id


def test_the_registry_records_an_agencys_domains_and_an_update_changes_them() -> None:
    state = Registry()
    state.apply(registry_event(agency_event(PHUKET)))
    assert state.agency("lg-phuket-city").email_domains == ("example.go.th",)
    changed = AgencyUpdated(
        **agency_event(PHUKET).model_dump() | {"email_domains": ["PhuketCity.go.th"]}
    )
    state.apply(registry_event(changed))
    assert state.agency("lg-phuket-city").email_domains == ("phuketcity.go.th",)


def test_an_agency_registered_before_domains_existed_reads_as_having_none() -> None:
    old = registry_event(agency_event(dataclasses.replace(PHUKET, email_domains=())))
    raw = old.to_bytes().replace(b',"email_domains":[]', b"")
    assert b"email_domains" not in raw
    parsed = parse_registry_record(raw)
    assert isinstance(parsed.payload, AgencyRegistered)
    state = Registry()
    state.apply(parsed)
    assert state.agency("lg-phuket-city").email_domains == ()


def _submit(emails: list[str], domains: tuple[str, ...]) -> Proposal:
    return Proposal.submit(
        proposal_id="SC-TEST00001",
        actor=PHUKET.as_producer(),
        content=submitted_content(contact_emails=emails),
        idempotency_key="k1",
        now=NOW,
        email_domains=domains,
    )


def test_a_submission_with_an_address_outside_the_applicants_domains_is_refused() -> None:
    with pytest.raises(Refused) as err:
        _submit(["smartcity@phuketcity.go.th", "friend@gmail.com"], ("phuketcity.go.th",))
    refusal = err.value.refusal
    assert refusal.kind is RefusalKind.CONTACT_OUTSIDE_DOMAINS
    assert "friend@gmail.com" in refusal.reason.en
    assert "friend@gmail.com" in refusal.reason.th
    assert [e.field for e in refusal.errors] == ["contact_emails.1"]
    public = refusal.public
    assert public is not None
    assert public.kind is RefusalKind.CONTACT_OUTSIDE_DOMAINS
    assert "friend@gmail.com" not in public.reason.en + public.reason.th + str(public.errors)
    assert [e.field for e in public.errors] == ["contact_emails.1"]
    proposal = _submit(
        ["smartcity@phuketcity.go.th", "it@mail.phuketcity.go.th"], ("phuketcity.go.th",)
    )
    contacts = proposal.pending_events[0].payload
    assert contacts.contact_emails == ["smartcity@phuketcity.go.th", "it@mail.phuketcity.go.th"]


def test_an_applicant_with_no_domain_cannot_submit_until_one_is_registered() -> None:
    with pytest.raises(Refused) as err:
        _submit(["smartcity@phuketcity.go.th"], ())
    assert err.value.refusal.kind is RefusalKind.CONTACT_OUTSIDE_DOMAINS
    assert "email-domains lg-phuket-city --add" in err.value.refusal.reason.en


def test_a_resubmission_is_held_to_the_same_rule() -> None:
    proposal = _submit(["a@phuketcity.go.th"], ("phuketcity.go.th",))
    proposal.request_revision(
        new_envelope(
            RevisionRequested(requested_by="depa", reasons=BilingualText(th="แก้", en="fix")),
            producer="svc-approvals",
            proposal_id=proposal.proposal_id,
        ),
        NOW,
    )
    with pytest.raises(Refused) as err:
        proposal.resubmit(
            actor=PHUKET.as_producer(),
            content=submitted_content(contact_emails=["a@phuketcity.go.th", "x@evil.example"]),
            changes=None,
            command_key="r1",
            now=NOW,
            email_domains=("phuketcity.go.th",),
        )
    assert err.value.refusal.kind is RefusalKind.CONTACT_OUTSIDE_DOMAINS
    assert [e.field for e in err.value.refusal.errors] == ["contact_emails.1"]
    assert proposal.revision == 1
