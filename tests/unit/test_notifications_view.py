"""The proposals view of the notifications service: an event about a proposal not known yet
waits for the proposal's submission (pure rules, services/notifications/view.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from smartcity_th.contracts.envelope import AnyEnvelope
from smartcity_th.services.notifications import view
from smartcity_th.services.notifications.letters import needs_proposal
from smartcity_th.services.notifications.samples import sample_envelope

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
PID = "PRP-2565-0042"


def env(event_type: str) -> AnyEnvelope:
    return sample_envelope(event_type, proposal_id=PID, fixed=False)


def rec(
    state: dict[str, Any], e: AnyEnvelope, stage: str | None, now: dt.datetime = NOW
) -> view.Recorded:
    return view.record(state, e, stage, needs_proposal=needs_proposal(e.event_type), now=now)


def contacts_known() -> dict[str, Any]:
    """The view once the applicant's contacts are read (they travel apart from the facts)."""
    got = rec({}, env("ProposalContactsRecorded"), None)
    assert not got.held
    assert view.has_contacts(got.state)
    assert not view.is_known(got.state)
    return got.state


def test_which_letters_need_the_proposal() -> None:
    assert needs_proposal("ProposalScreened")
    assert needs_proposal("CabinetEndorsed")
    assert not needs_proposal("TransitionRefused")  # told to its producer
    assert not needs_proposal("IntakeRejected")
    assert not needs_proposal("NotificationSent")


def test_a_decision_before_its_submission_waits_then_is_released_in_order() -> None:
    screened, approved, submitted = (
        env("ProposalScreened"),
        env("SubcommitteeApproved"),
        env("ProposalSubmitted"),
    )
    first = rec(contacts_known(), screened, "screened")
    assert first.held
    assert first.changed
    assert not first.released
    assert "stage" not in first.state
    assert "history" not in first.state
    second = rec(first.state, approved, "subcommittee_approved")
    assert second.held
    third = rec(second.state, submitted, "submitted")
    assert not third.held
    assert view.is_known(third.state)
    assert [h.event_id for h in third.released] == [str(screened.event_id), str(approved.event_id)]
    assert third.state["stage"] == "submitted"
    # Telling each held event applies it; the stage ends where the last decision led.
    state = third.state
    for held, e in zip(third.released, (screened, approved), strict=True):
        after = view.release(state, held, e)
        assert after is not None
        state = after
    assert state["stage"] == "subcommittee_approved"
    assert "held" not in state
    assert [h["stage"] for h in state["history"]] == [
        "submitted",
        "screened",
        "subcommittee_approved",
    ]
    # Released twice (another instance told it first): nothing more to do.
    assert view.release(state, third.released[0], screened) is None


def test_a_redelivery_changes_nothing_but_still_releases_what_waits() -> None:
    screened, submitted = env("ProposalScreened"), env("ProposalSubmitted")
    held = rec(contacts_known(), screened, "screened")
    known = rec(held.state, submitted, "submitted")
    # A crash after the submission's commit, before the screening was told: redelivered.
    again = rec(known.state, submitted, "submitted")
    assert not again.changed
    assert not again.held
    assert [h.event_id for h in again.released] == [str(screened.event_id)]
    # The held event redelivered while its proposal is still unknown stays held.
    assert rec(held.state, screened, "screened").held


def test_an_event_that_needs_no_proposal_is_applied_at_once() -> None:
    refused = env("TransitionRefused")
    got = rec({}, refused, None)
    assert not got.held
    assert got.changed
    assert not got.released


def test_after_the_deadline_waiting_events_are_told_with_what_is_known() -> None:
    screened, approved = env("ProposalScreened"), env("SubcommitteeApproved")
    first = rec({}, screened, "screened")
    still = rec(first.state, approved, "subcommittee_approved", NOW + dt.timedelta(minutes=1))
    assert still.held
    late = NOW + view.HOLD_DEADLINE + dt.timedelta(seconds=1)
    third = env("SteeringCommitteeAcknowledged")
    given_up = rec(still.state, third, "steering_acknowledged", late)
    assert not given_up.held
    assert [h.event_id for h in given_up.released] == [
        str(screened.event_id),
        str(approved.event_id),
    ]
    # The store hands datetimes back without a zone: same rule.
    naive = {
        **first.state,
        "held": [{**first.state["held"][0], "held_at": NOW.replace(tzinfo=None)}],
    }
    assert not rec(naive, third, "steering_acknowledged", late).held


def test_a_fact_read_before_the_fact_it_follows_waits_for_it() -> None:
    """A resubmission (proposals topic) read before the revision request it answers
    (decisions topic) waits, so that its letter goes out after the request's, in the order
    things happened; a fact that moves no stage never waits."""
    submitted, revision, resubmitted, screened = (
        env("ProposalSubmitted"),
        env("RevisionRequested"),
        env("ProposalResubmitted"),
        env("ProposalScreened"),
    )
    state = rec(contacts_known(), submitted, "submitted").state
    early = rec(state, resubmitted, "submitted")
    assert early.held
    assert early.state["stage"] == "submitted"
    asked = rec(early.state, revision, "revision_requested")
    assert not asked.held
    assert asked.released == []  # the contacts of version 2 are not read yet
    second = sample_envelope("ProposalContactsRecorded", proposal_id=PID, fixed=False).model_copy(
        update={
            "payload": env("ProposalContactsRecorded").payload.model_copy(update={"revision": 2})
        }
    )
    asked = rec(asked.state, second, None)
    assert [h.event_id for h in asked.released] == [str(resubmitted.event_id)]
    told = view.release(asked.state, asked.released[0], resubmitted)
    assert told is not None
    assert told["stage"] == "submitted"
    assert [h["event_type"] for h in told["history"]] == [
        "ProposalSubmitted",
        "RevisionRequested",
        "ProposalResubmitted",
    ]
    assert not rec(told, screened, "screened").held
    # An early fact that never gets its predecessor is told anyway after the deadline.
    late = rec(early.state, env("DeliveryDeadlineReminder"), None, NOW + view.HOLD_DEADLINE)
    assert [h.event_id for h in late.released] == [str(resubmitted.event_id)]


def test_a_submission_waits_for_its_contacts_then_is_told_with_them() -> None:
    """Since schema version 2 the contacts travel on their own topic: a submission read first
    waits for them (its letter goes to the applicant's contact addresses), and the decisions
    read meanwhile wait behind it, in order."""
    submitted, screened, contacts = (
        env("ProposalSubmitted"),
        env("ProposalScreened"),
        env("ProposalContactsRecorded"),
    )
    first = rec({}, submitted, "submitted")
    assert first.held
    assert not view.is_known(first.state)
    second = rec(first.state, screened, "screened")
    assert second.held
    third = rec(second.state, contacts, None)
    assert not third.held
    assert [h.event_id for h in third.released] == [
        str(submitted.event_id),
        str(screened.event_id),
    ]
    assert third.state["contact_emails"] == ["smartcity@phuketcity.example.go.th"]
    state = third.state
    for held, e in zip(third.released, (submitted, screened), strict=True):
        after = view.release(state, held, e)
        assert after is not None
        state = after
    assert view.ready(state)
    assert state["stage"] == "screened"


def test_older_contacts_never_replace_newer_ones() -> None:
    state = contacts_known()
    newer = env("ProposalContactsRecorded")
    newer = newer.model_copy(
        update={
            "payload": newer.payload.model_copy(
                update={"revision": 2, "contact_emails": ["new@example.go.th"]}
            )
        }
    )
    state = rec(state, newer, None).state
    older = env("ProposalContactsRecorded")
    state = rec(state, older, None).state
    assert state["contact_emails"] == ["new@example.go.th"]
    assert state["contacts_revision"] == 2


def test_a_refusal_read_while_the_submission_waits_for_contacts_still_names_the_area() -> None:
    submitted, refused = env("ProposalSubmitted"), env("TransitionRefused")
    waiting = rec({}, submitted, "submitted")
    assert waiting.held
    told = rec(waiting.state, refused, None)
    assert not told.held  # told to its producer at once
    named = view.described(told.state)
    assert named["area_name"] == {"th": "ภูเก็ตเมืองอัจฉริยะ", "en": "Phuket Smart City"}
    assert named["province"]["code"] == "83"
    assert view.described({}) == {}


def test_released_events_are_told_in_order_each_with_the_view_as_of_it() -> None:
    screened, approved, submitted = (
        env("ProposalScreened"),
        env("SubcommitteeApproved"),
        env("ProposalSubmitted"),
    )
    first = rec(contacts_known(), screened, "screened")
    second = rec(first.state, approved, "subcommittee_approved")
    third = rec(second.state, submitted, "submitted")
    told = view.tellings(third)
    assert [t.envelope.event_id for t in told] == [screened.event_id, approved.event_id]
    assert [t.state["stage"] for t in told] == ["screened", "subcommittee_approved"]
    assert all(t.known for t in told)
    assert view.tellings(first) == []
