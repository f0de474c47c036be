"""Notifications' domain, pure (services/notifications/domain.py): which emails an event
causes, and what follows an attempt to send one."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from smartcity_th.contracts.envelope import AnyEnvelope
from smartcity_th.services.common.context import Source
from smartcity_th.services.notifications import domain
from smartcity_th.services.notifications.domain import (
    Delivery,
    GiveUp,
    Recipient,
    Retry,
)
from smartcity_th.services.notifications.samples import sample_envelope
from tests.unit.notifications_stack import SETTINGS

NOW = dt.datetime(2022, 8, 6, 3, 0, tzinfo=dt.UTC)
PROPOSAL: dict[str, Any] = {
    "_id": "PRP-2565-0001",
    "area_name": {"th": "ภูเก็ตเมืองอัจฉริยะ", "en": "Phuket Smart City"},
    "province": {"code": "83", "name_th": "ภูเก็ต", "name_en": "Phuket"},
    "stage": "submitted",
    "applicant": "lg-phuket-city",
    "contact_emails": ["Owner@Phuket.example.go.th"],
}
APPLICANT = Recipient(
    "lg-phuket-city", "smartcity@phuketcity.example.go.th", "เทศบาลนครภูเก็ต", "Phuket City"
)
GOVERNOR = Recipient(
    "governor-83", "governor-83@provinces.example.go.th", "ผู้ว่าราชการจังหวัดภูเก็ต", "Governor of Phuket"
)
DES = Recipient(
    "des-subcommittee", "subcommittee@mdes.example.go.th", "ฝ่ายเลขานุการฯ", "DES", digest=True
)
SOURCE = Source("smartcity.proposals", 3, 17)
CONTACT = "owner@phuket.example.go.th"


def plan(
    envelope: AnyEnvelope,
    to: Recipient | None = APPLICANT,
    copies: tuple[Recipient, ...] = (),
    missing: tuple[str, ...] = (),
    contacts: tuple[str, ...] = (),
) -> domain.Plan:
    letter = (
        None
        if to is None
        else domain.address_letter(envelope.event_type, to, copies, contacts, missing)
    )
    return domain.plan_event(
        envelope,
        PROPOSAL,
        letter,
        missing,
        SETTINGS,
        now=NOW,
        number=7,
        source=SOURCE,
        trace={"t": "1"},
    )


def test_one_email_per_letter_copies_in_cc_and_a_digest_recipients_copy_held() -> None:
    screened = sample_envelope("ProposalScreened")
    got = plan(screened, APPLICANT, (GOVERNOR, DES), contacts=(CONTACT, APPLICANT.email))
    by_recipient = {d.recipient_id: d for d in got.deliveries}
    assert set(by_recipient) == {"lg-phuket-city", "des-subcommittee"}
    applicant, des = by_recipient["lg-phuket-city"], by_recipient["des-subcommittee"]
    assert applicant.delivery_id == f"{screened.event_id}:{APPLICANT.email}"
    # The governor in Cc, named; the contact in Cc, unnamed; the addressee's own address once.
    assert applicant.cc == ((GOVERNOR.name_th, GOVERNOR.email), ("", CONTACT))
    assert (applicant.status, des.status) == ("queued", "held")
    assert des.copy_of == applicant.delivery_id
    assert applicant.letter is not None
    assert applicant.letter == des.letter
    assert applicant.letter.number_th == "สศด 04/7"
    assert got.ready == [applicant.delivery_id]
    body = {b.delivery_id: b for b in got.bodies}[applicant.delivery_id]
    assert body.text is not None
    assert "สำเนาส่ง  ผู้ว่าราชการจังหวัดภูเก็ต\n          เลขานุการฯ" in body.text


def test_a_letter_is_dated_the_day_it_is_issued_and_its_body_gives_the_day_of_the_decision() -> (
    None
):
    approved = sample_envelope("SubcommitteeApproved")
    held_on = approved.payload.meeting.held_on
    assert domain.effective_date(approved) == held_on
    # told as it happens: issued the day of the meeting, dated that day
    told = dt.datetime.combine(held_on, dt.time(9), tzinfo=dt.UTC)
    assert domain.issue_date(approved, told) == held_on
    # recorded years later: dated the day it takes its number, so the register's dates run
    # with its numbers; the meeting's day is in the body
    late = dt.datetime(2026, 12, 6, 3, 0, tzinfo=dt.UTC)
    assert domain.issue_date(approved, late) == dt.date(2026, 12, 6)
    assert domain.register_id_now(SETTINGS.office, late) == "depa:2569"
    letter = domain.address_letter(approved.event_type, APPLICANT, (), ())
    plan = domain.plan_event(
        approved, PROPOSAL, letter, [], SETTINGS, now=late, number=7, numbered_at=late
    )
    text = plan.bodies[0].text
    assert text is not None
    assert "6 ธันวาคม 2569" in text.split("เรื่อง", 1)[0]  # ลงวันที่: the day of issue
    assert "เมื่อวันที่ 6 สิงหาคม 2565" in text  # the meeting, in the body
    assert "ส่งทางอีเมลเมื่อวันที่" not in text
    assert plan.deliveries[0].letter is not None
    assert plan.deliveries[0].letter.date == dt.date(2026, 12, 6)


def test_the_facts_and_status_link_follow_both_letters_outside_them() -> None:
    approved = sample_envelope("SubcommitteeApproved")
    letter = domain.address_letter(approved.event_type, APPLICANT, (), ())
    plan = domain.plan_event(approved, PROPOSAL, letter, [], SETTINGS, now=NOW, number=1)
    text, html = plan.bodies[0].text, plan.bodies[0].html
    assert text is not None
    assert html is not None
    english_closing = text.index("Yours faithfully,")
    assert text.index("ข้อมูลสำหรับติดตามข้อเสนอ") > english_closing
    assert text.index("Following the proposal") > english_closing
    # outside both letters in the HTML, which the PDF's stylesheet leaves out
    assert html.index('class="email-note"') > html.rindex('class="letter"')


def test_history_before_the_go_live_is_never_told() -> None:
    approved = sample_envelope("SubcommitteeApproved")
    day = domain.effective_date(approved)
    live = replace(SETTINGS, go_live=day)
    assert not domain.before_go_live(approved, live)
    later = replace(SETTINGS, go_live=day + dt.timedelta(days=1))
    assert domain.before_go_live(approved, later)
    letter = domain.address_letter(approved.event_type, APPLICANT, (), ())
    assert domain.plan_event(approved, PROPOSAL, letter, [], later, now=NOW, number=1) == (
        domain.Plan()
    )


def test_an_event_plans_its_letter_with_what_the_sender_needs() -> None:
    submitted = sample_envelope("ProposalSubmitted")
    got = plan(submitted)
    [applicant] = got.deliveries
    assert applicant.delivery_id == f"{submitted.event_id}:{APPLICANT.email}"
    assert got.ready == [applicant.delivery_id]
    assert applicant.attempts == 0
    assert applicant.next_attempt_at == NOW
    assert applicant.source == SOURCE
    assert applicant.trace == {"t": "1"}
    assert applicant.message_id is not None
    assert "notify.example.go.th" in applicant.message_id
    assert applicant.subject
    assert applicant.timeline_url
    assert applicant.timeline_url.startswith("https://smartcity.example.go.th/status/")
    bodies = {b.delivery_id: b for b in got.bodies}
    assert set(bodies) == {applicant.delivery_id}
    body = bodies[applicant.delivery_id]
    assert body.text
    assert body.html
    assert body.event_value == submitted.model_dump_json()
    assert got.failures == {}


def test_a_critical_letters_copy_goes_at_once_even_to_a_digest_recipient() -> None:
    endorsed = sample_envelope("CabinetEndorsed")
    got = plan(endorsed, APPLICANT, (DES,))
    assert [d.status for d in got.deliveries] == ["queued"]
    assert got.deliveries[0].cc == ((DES.name_th, DES.email),)


def test_a_redelivered_event_plans_the_same_ids() -> None:
    screened = sample_envelope("ProposalScreened")
    first = [d.delivery_id for d in plan(screened, APPLICANT, (DES,)).deliveries]
    again = [d.delivery_id for d in plan(screened, APPLICANT, (DES,)).deliveries]
    assert first == again


def test_no_letter_without_its_addressee_only_the_failure() -> None:
    screened = sample_envelope("ProposalScreened")
    got = plan(screened, None, missing=("lg-nowhere",))
    assert [d.status for d in got.deliveries] == ["failed"]
    assert got.ready == []


def test_a_recipient_missing_from_the_directory_is_a_failed_delivery_with_its_fact() -> None:
    submitted = sample_envelope("ProposalSubmitted")
    got = plan(submitted, APPLICANT, missing=("lg-nowhere",))
    missing_id = f"{submitted.event_id}:missing:lg-nowhere"
    [failed] = [d for d in got.deliveries if d.delivery_id == missing_id]
    assert failed.status == "failed"
    assert failed.email is None
    assert failed.failed_at == NOW
    assert failed.last_error is not None
    assert "lg-nowhere" in failed.last_error
    assert got.ready == [f"{submitted.event_id}:{APPLICANT.email}"]
    fact = got.failures[missing_id]
    assert fact.event_type == "NotificationFailed"
    assert fact.payload.recipient_id == "lg-nowhere"
    assert fact.payload.attempts == 0
    assert fact.causation_id == submitted.event_id


def test_an_event_with_no_route_plans_nothing() -> None:
    sent = sample_envelope("ProposalSubmitted").model_copy(update={"event_type": "NoSuchEvent"})
    letter = domain.address_letter("ProposalSubmitted", APPLICANT, (), ())
    assert domain.plan_event(sent, PROPOSAL, letter, [], SETTINGS, now=NOW, number=1) == (
        domain.Plan()
    )


def test_a_letter_about_an_unknown_proposal_says_what_the_event_says() -> None:
    submitted = sample_envelope("ProposalSubmitted")
    unknown = domain.letter_proposal(submitted, {})
    assert unknown["_id"] == submitted.proposal_id
    assert unknown["applicant"] is None
    assert unknown["contact_emails"] == []
    assert domain.letter_proposal(submitted, PROPOSAL) is PROPOSAL


# -- after an attempt ------------------------------------------------------------------------


def queued() -> tuple[Delivery, domain.Body, AnyEnvelope]:
    submitted = sample_envelope("ProposalSubmitted")
    got = plan(submitted)
    return got.deliveries[0], got.bodies[0], submitted


def test_a_sent_email_records_one_notification_sent_continuing_its_event() -> None:
    delivery, body, submitted = queued()
    outcome = domain.sent(delivery, domain.about(delivery, body), attempts=2)
    [fact] = outcome.events
    assert fact.event_type == "NotificationSent"
    assert fact.payload.attempts == 2
    assert fact.payload.message_id == delivery.message_id
    assert fact.proposal_id == submitted.proposal_id
    assert fact.causation_id == submitted.event_id
    assert fact.correlation_id == submitted.correlation_id


@pytest.mark.parametrize("attempts", [1, 2])
def test_a_transient_failure_is_retried_after_the_common_backoff(attempts: int) -> None:
    top = min(SETTINGS.max_delay, SETTINGS.base_delay * 2 ** (attempts - 1))
    for pick, expected in ((lambda lo, hi: lo, top / 2), (lambda lo, hi: hi, top)):
        outcome = domain.after_failure(
            attempts, "SMTPServerDisconnected: x", SETTINGS, permanent=False, now=NOW, rand=pick
        )
        assert isinstance(outcome, Retry)
        assert outcome.delay == expected
        assert outcome.next_attempt_at == NOW + dt.timedelta(seconds=expected)
        assert outcome.attempts == attempts


def test_the_backoff_is_capped() -> None:
    settings = replace(SETTINGS, max_attempts=10)
    outcome = domain.after_failure(
        8, "timeout", settings, permanent=False, now=NOW, rand=lambda lo, hi: hi
    )
    assert isinstance(outcome, Retry)
    assert outcome.delay == SETTINGS.max_delay


def test_the_last_attempt_or_a_permanent_failure_is_given_up_on() -> None:
    exhausted = domain.after_failure(3, "timeout", SETTINGS, permanent=False, now=NOW)
    assert exhausted == GiveUp(3, "timeout", permanent=False)
    refused = domain.after_failure(1, "550 no such user", SETTINGS, permanent=True, now=NOW)
    assert refused == GiveUp(1, "550 no such user", permanent=True)
    long = domain.after_failure(3, "x" * 900, SETTINGS, permanent=False, now=NOW)
    assert len(long.error) == 500


def test_a_failed_email_records_notification_failed_and_names_it_for_the_dead_letter() -> None:
    delivery, body, submitted = queued()
    give_up = GiveUp(3, "timeout", permanent=False)
    outcome = domain.failed(delivery, domain.about(delivery, body), give_up)
    [fact] = outcome.events
    assert fact.event_type == "NotificationFailed"
    assert fact.payload.attempts == 3
    assert fact.payload.error == "timeout"
    assert fact.causation_id == submitted.event_id
    [about] = outcome.about
    assert about.source == SOURCE
    assert about.event_value == submitted.model_dump_json()
    reason = outcome.dead_letter_reason(delivery)
    assert delivery.message_id is not None
    assert delivery.message_id in reason
    assert "failed after 3 attempts: timeout" in reason


def test_a_digest_is_about_each_held_email_and_is_queued_at_once() -> None:
    screened, approved = (
        sample_envelope("ProposalScreened"),
        sample_envelope("SubcommitteeApproved"),
    )
    held = [plan(e, APPLICANT, (DES,)).deliveries[1] for e in (screened, approved)]
    assert [h.status for h in held] == ["held", "held"]
    did = domain.digest_id(DES.email, NOW)
    values = [screened.model_dump_json(), approved.model_dump_json()]
    digest = domain.plan_digest(did, held, values, SETTINGS, as_of=NOW, now=NOW, number=9)
    assert (digest.kind, digest.status, digest.event_id, digest.email) == (
        "digest",
        "queued",
        did,
        DES.email,
    )
    assert digest.text is not None
    assert "สำเนาหนังสือที่ สศด 04/7" in digest.text
    assert digest.text
    assert digest.html
    assert digest.subject
    assert [i.delivery_id for i in digest.items] == [h.delivery_id for h in held]
    outcome = domain.sent(digest, domain.about(digest, None), attempts=1)
    assert [e.causation_id for e in outcome.events] == [screened.event_id, approved.event_id]


def test_proofreading_holds_a_letter_with_its_reasons_and_a_held_fact() -> None:
    approved = sample_envelope("SubcommitteeApproved")
    # A placeholder in the addressee's name (a directory entry left half-edited).
    broken = replace(APPLICANT, name_th="เทศบาลนครภูเก็ต TODO")
    got = plan(approved, broken, (GOVERNOR, DES))
    statuses = {d.recipient_id: d.status for d in got.deliveries}
    assert statuses == {"lg-phuket-city": "review", "des-subcommittee": "review"}
    assert got.ready == []
    [main_id] = list(got.held)
    held = got.held[main_id].payload
    assert held.event_type == "NotificationHeld"
    assert any("TODO" in p for p in held.problems)
    main = next(d for d in got.deliveries if d.delivery_id == main_id)
    assert main.last_error is not None
    assert "TODO" in main.last_error


def test_a_letter_dated_before_an_earlier_dated_step_contradicts_it() -> None:
    approved = sample_envelope("SubcommitteeApproved")
    later = {"event_id": "earlier", "event_type": "ProposalScreened", "decided_on": "2023-01-01"}
    proposal = {**PROPOSAL, "history": [later]}
    letter = domain.address_letter(approved.event_type, APPLICANT, (), ())
    rendered, _head, _ = domain.render_letter(
        approved, proposal, letter, SETTINGS, number=1, issued_on=NOW.date()
    )
    found = domain.letter_problems(
        approved, proposal, letter, rendered, domain.effective_date(approved)
    )
    assert found == [
        "date: 2022-08-06 is before the proposal's earlier step ProposalScreened of 2023-01-01"
    ]
    day = domain.effective_date(approved)
    assert domain.letter_problems(approved, PROPOSAL, letter, rendered, day) == []
