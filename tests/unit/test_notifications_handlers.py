"""The notifications service's handlers (`services/notifications/handlers.py`) on the
in-memory stores: an event becomes its letter (addressed, numbered, rendered, queued once), a
decision read before its submission waits for it, a recipient missing from the directory is a
clear failure, proofreading holds a letter until its data is fixed, history before the go-live
is not told."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from smartcity_th.contracts.common import BilingualText
from smartcity_th.contracts.refusal import RefusalKind
from smartcity_th.services.notifications.adapters.directory import RecipientChange
from tests.unit.notifications_stack import (
    SETTINGS,
    Notifications,
    event,
    new_proposal_id,
    notifications_with,
    submit,
)


async def test_an_event_becomes_one_numbered_letter_queued_once_even_when_redelivered(
    notifications: Notifications,
) -> None:
    pid = new_proposal_id()
    submitted = await submit(notifications, pid)
    [letter] = await notifications.of(submitted)
    assert letter.status == "queued"
    assert letter.delivery_id == f"{submitted.event_id}:{letter.email}"
    assert letter.recipient_id == "lg-phuket-city"
    body = await notifications.bodies.take(letter.delivery_id)
    assert body is not None
    assert body.event_value == submitted.model_dump_json()
    assert body.text is not None
    assert "ภูเก็ตเมืองอัจฉริยะ" in body.text
    assert notifications.woken == [[letter.delivery_id]]
    [entry] = [
        e
        for register in {e["register"] for e in notifications.register.shared.entries.values()}
        for e in await notifications.register.entries_of(register)
    ]
    assert entry["letter_id"].startswith(str(submitted.event_id))
    await notifications.handlers.on_event(submitted)  # redelivered
    assert [d.delivery_id for d in await notifications.of(submitted)] == [letter.delivery_id]
    assert len(notifications.register.shared.entries) == 1  # numbered once
    # The redelivery wakes the sender again (an earlier try may have queued and stopped).
    assert notifications.woken == [[letter.delivery_id], [letter.delivery_id]]


async def test_a_decision_read_before_its_submission_waits_for_it_and_names_the_area(
    notifications: Notifications,
) -> None:
    pid = new_proposal_id()
    area = BilingualText(th="เทศบาลนครรอคอย", en="Waiting City Municipality")
    screened = event("ProposalScreened", pid)
    await notifications.handlers.on_event(screened)
    assert await notifications.of(screened) == []  # held until the proposal is known
    submitted = await submit(notifications, pid, area=area)
    for told in (submitted, screened):
        [letter] = await notifications.of(told)
        body = await notifications.bodies.take(letter.delivery_id)
        assert body is not None
        assert body.text is not None
        assert "เทศบาลนครรอคอย" in body.text
        assert "ขั้นตอน ณ วันที่ของหนังสือ: -" not in body.text
    await notifications.handlers.on_event(screened)  # redelivered after its release
    assert len(await notifications.of(screened)) == 1


async def test_a_recipient_missing_from_the_directory_is_a_clear_failure(
    notifications: Notifications,
) -> None:
    pid = new_proposal_id()
    await submit(notifications, pid)
    refused = event("TransitionRefused", pid, producer="lg-nowhere-city")
    await notifications.handlers.on_event(refused)
    [failure] = await notifications.of(refused)
    assert (failure.status, failure.recipient_id) == ("failed", "lg-nowhere-city")
    assert failure.last_error is not None
    assert "recipients directory" in failure.last_error
    [failed] = [e for e in notifications.db.envelopes(pid) if e.event_type == "NotificationFailed"]
    assert failed.payload.recipient_id == "lg-nowhere-city"
    assert failed.payload.attempts == 0


async def test_a_letter_that_fails_proofreading_is_held_then_released_once_fixed(
    notifications: Notifications,
) -> None:
    entry = await notifications.directory.get("lg-phuket-city")
    assert entry is not None
    await notifications.directory.update(
        "lg-phuket-city", RecipientChange(name_th=f"{entry.name_th} TODO"), "depa"
    )
    pid = new_proposal_id()
    submitted = await submit(notifications, pid)
    [held] = await notifications.of(submitted)
    assert held.status == "review"
    assert held.last_error is not None
    assert "a placeholder: 'TODO'" in held.last_error
    assert "NotificationHeld" in notifications.db.event_types(pid)
    assert notifications.woken == []
    refused = await notifications.handlers.release(held.delivery_id)
    assert refused is not None
    assert refused.kind is RefusalKind.CONFLICT
    assert any("TODO" in e.message.en for e in refused.errors)
    await notifications.directory.update(
        "lg-phuket-city", RecipientChange(name_th=entry.name_th), "depa"
    )
    assert await notifications.handlers.release(held.delivery_id) is None
    [released] = await notifications.of(submitted)
    assert (released.status, released.last_error) == ("queued", None)
    body = await notifications.bodies.take(held.delivery_id)
    assert body is not None
    assert body.text is not None
    assert "TODO" not in body.text
    assert notifications.woken == [[held.delivery_id]]
    not_held = await notifications.handlers.release(held.delivery_id)
    assert not_held is not None
    assert not_held.kind is RefusalKind.NOT_FOUND  # not held any more


async def test_history_before_the_go_live_and_events_without_a_letter_are_not_told() -> None:
    # The samples occur now: the go-live is a month ahead.
    notifications = await notifications_with(
        replace(SETTINGS, go_live=dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30))
    )
    pid = new_proposal_id()
    submitted = await submit(notifications, pid)
    assert await notifications.of(submitted) == []
    contacts = event("ProposalContactsRecorded", pid)
    await notifications.handlers.on_event(contacts)
    assert await notifications.of(contacts) == []
    assert notifications.db.sent == []
    view = await notifications.view.get(pid)
    assert view is not None
    assert view["stage"] == "submitted"  # recorded and shown, never told
