"""The sender (`services/notifications/sender.py`) on the in-memory delivery log and a mail
server that keeps what it takes: every queued email is sent once and announced once, a failed
attempt is tried again later under the same Message-ID, an email another sender holds is not
sent twice (and is sent when that sender's lease ends), a refusal for good or the last attempt
fails the email with a dead letter, refused copies get the letter alone, a letter held for
review waits for its release."""

from __future__ import annotations

from collections import Counter

from prometheus_client import REGISTRY

from smartcity_th.contracts.envelope import AnyEnvelope
from smartcity_th.services.notifications.adapters.directory import RecipientChange
from smartcity_th.services.notifications.domain import Delivery
from smartcity_th.services.notifications.ports import LEASE_SECONDS, PermanentSmtpError
from tests.unit.notifications_stack import (
    Notifications,
    event,
    new_proposal_id,
    submit,
)


def announced(notifications: Notifications, event_type: str) -> Counter[str]:
    """How many times each Message-ID was announced (NotificationSent, NotificationFailed)."""
    return Counter(
        e.payload.message_id for e in notifications.db.envelopes() if e.event_type == event_type
    )


async def a_round(
    notifications: Notifications, proposals: int = 3
) -> tuple[list[AnyEnvelope], list[Delivery]]:
    """Each proposal submitted, screened and approved: the events told, and the emails
    queued (a letter about each)."""
    told: list[AnyEnvelope] = []
    for _ in range(proposals):
        pid = new_proposal_id()
        told.append(await submit(notifications, pid))
        for event_type in ("ProposalScreened", "SubcommitteeApproved"):
            told.append(event(event_type, pid))
            await notifications.handlers.on_event(told[-1])
    queued = [d for d in await notifications.all_deliveries() if d.status == "queued"]
    assert len(queued) == len(told)
    return told, queued


async def test_every_queued_email_is_sent_once_and_announced_once_even_when_told_again(
    notifications: Notifications,
) -> None:
    told, queued = await a_round(notifications)
    await notifications.send_all()
    message_ids = sorted(str(d.message_id) for d in queued)
    assert sorted(notifications.mailer.message_ids()) == message_ids
    assert {d.status for d in await notifications.all_deliveries()} == {"sent"}
    assert announced(notifications, "NotificationSent") == Counter(message_ids)
    for envelope in told:  # every event read again (a rebalance, a replay)
        await notifications.handlers.on_event(envelope)
    notifications.clock.advance(LEASE_SECONDS)
    await notifications.send_all()
    assert sorted(notifications.mailer.message_ids()) == message_ids
    assert announced(notifications, "NotificationSent") == Counter(message_ids)


async def test_a_failed_attempt_is_tried_again_later_under_the_same_message_id(
    notifications: Notifications,
) -> None:
    notifications.mailer.failures.append(ConnectionRefusedError("the mail server is down"))
    submitted = await submit(notifications, new_proposal_id())
    await notifications.send_all()
    [letter] = await notifications.of(submitted)
    assert (letter.status, letter.attempts) == ("queued", 1)
    assert letter.last_error is not None
    assert "ConnectionRefusedError" in letter.last_error
    assert notifications.mailer.accepted == []
    notifications.clock.advance(1)  # the first retry waits 2 s (base delay, longest jitter)
    assert await notifications.send_all() == 0
    notifications.clock.advance(1)
    await notifications.send_all()
    [sent] = await notifications.of(submitted)
    assert (sent.status, sent.attempts) == ("sent", 2)
    assert [str(m["Message-ID"]) for m in notifications.mailer.tried] == [letter.message_id] * 2
    assert notifications.mailer.message_ids() == [letter.message_id]
    assert announced(notifications, "NotificationSent") == Counter([letter.message_id])


async def test_an_email_another_sender_holds_is_not_sent_twice_and_is_sent_when_its_lease_ends(
    notifications: Notifications,
) -> None:
    _, queued = await a_round(notifications, proposals=2)
    theirs, their_sender, _ = notifications.other_process()
    notifications.clock.advance(LEASE_SECONDS)  # the queuing leases over: either may take any
    held_by_them = await theirs.claim(queued[0].delivery_id, notifications.clock())
    assert isinstance(held_by_them, Delivery)  # and then that process stops
    await notifications.send_all(notifications.sender, their_sender)
    message_ids = sorted(str(d.message_id) for d in queued)
    assert sorted(notifications.mailer.message_ids()) == sorted(
        str(d.message_id) for d in queued[1:]
    )
    notifications.clock.advance(LEASE_SECONDS)
    await notifications.send_all(notifications.sender, their_sender)
    assert sorted(notifications.mailer.message_ids()) == message_ids
    # The stopped process comes back: the email is settled, its late mark changes nothing.
    assert not await theirs.mark_sent(
        held_by_them.delivery_id, 1, "250 OK", notifications.clock(), []
    )
    assert announced(notifications, "NotificationSent") == Counter(message_ids)


async def test_two_senders_at_once_send_each_email_once(notifications: Notifications) -> None:
    _, their_sender, _ = notifications.other_process()
    _, queued = await a_round(notifications)
    notifications.clock.advance(LEASE_SECONDS)  # the queuing leases over: either may take any
    await notifications.send_all(notifications.sender, their_sender)
    message_ids = sorted(str(d.message_id) for d in queued)
    assert sorted(notifications.mailer.message_ids()) == message_ids
    assert announced(notifications, "NotificationSent") == Counter(message_ids)


async def test_a_refusal_for_good_fails_the_email_with_a_dead_letter_and_an_announcement(
    notifications: Notifications,
) -> None:
    notifications.mailer.failures.append(PermanentSmtpError("550 5.1.1 no such mailbox"))
    submitted = await submit(notifications, new_proposal_id())
    await notifications.send_all()
    [letter] = await notifications.of(submitted)
    assert (letter.status, letter.attempts) == ("failed", 1)
    assert letter.last_error is not None
    assert "550 5.1.1 no such mailbox" in letter.last_error
    [dead] = notifications.dead_letters.sent
    assert (dead["kind"], dead["consumer"], dead["event_id"]) == (
        "processing",
        "notifications-sender",
        str(submitted.event_id),
    )
    assert dead["record"].value == submitted.model_dump_json().encode()
    assert announced(notifications, "NotificationFailed") == Counter([letter.message_id])
    notifications.clock.advance(3600)
    assert await notifications.send_all() == 0
    assert len(notifications.mailer.tried) == 1


async def test_after_the_last_attempt_the_email_fails_and_is_tried_no_more(
    notifications: Notifications,
) -> None:
    down = [ConnectionRefusedError(f"down {n}") for n in range(3)]
    notifications.mailer.failures.extend(down)
    submitted = await submit(notifications, new_proposal_id())
    for _ in range(3):
        await notifications.send_all()
        notifications.clock.advance(5)  # the longest retry delay here
    [letter] = await notifications.of(submitted)
    assert (letter.status, letter.attempts) == ("failed", 3)
    assert len(notifications.mailer.tried) == 3
    assert len(notifications.dead_letters.sent) == 1
    assert notifications.dead_letters.sent[0]["attempts"] == 3
    assert announced(notifications, "NotificationFailed") == Counter([letter.message_id])


async def test_a_copy_the_server_refuses_gets_the_letter_again_alone(
    notifications: Notifications,
) -> None:
    submitted = await submit(notifications, new_proposal_id())
    [letter] = await notifications.of(submitted)
    [(_, contact)] = [c for c in letter.cc if not c[0]]  # the applicant's contact address
    notifications.mailer.refusing[contact] = "550 5.1.1 no such mailbox"
    await notifications.send_all()
    sent, resend = sorted(await notifications.of(submitted), key=lambda d: len(d.delivery_id))
    assert (sent.status, resend.status) == ("sent", "failed")
    assert (resend.email, resend.copy_of, resend.cc) == (contact, letter.delivery_id, ())
    assert resend.message_id == letter.message_id
    assert notifications.mailer.to(str(letter.message_id)) == [[letter.email]]
    [dead] = notifications.dead_letters.sent
    assert contact in dead["error"]


async def test_a_letter_held_for_review_is_sent_once_released(
    notifications: Notifications,
) -> None:
    entry = await notifications.directory.get("lg-phuket-city")
    assert entry is not None
    fixed = RecipientChange(name_th=entry.name_th)
    await notifications.directory.update(
        "lg-phuket-city", RecipientChange(name_th=f"{entry.name_th} TODO"), "depa"
    )
    submitted = await submit(notifications, new_proposal_id())
    notifications.clock.advance(LEASE_SECONDS)
    assert await notifications.send_all() == 0
    [held] = await notifications.of(submitted)
    assert held.status == "review"
    assert notifications.mailer.tried == []
    await notifications.directory.update("lg-phuket-city", fixed, "depa")
    assert await notifications.handlers.release(held.delivery_id) is None
    await notifications.send_all()
    assert notifications.mailer.message_ids() == [held.message_id]


async def test_the_gauges_show_the_queue_as_the_log_counts_it(
    notifications: Notifications,
) -> None:
    notifications.mailer.failures.append(ConnectionRefusedError("down"))
    await submit(notifications, new_proposal_id())
    await notifications.send_all()
    notifications.clock.advance(1)
    await notifications.sender.refresh_gauges()
    assert REGISTRY.get_sample_value("smartcity_emails_retrying") == 1
    assert REGISTRY.get_sample_value("smartcity_email_queue_oldest_age_seconds") == 1
    notifications.clock.advance(1)
    await notifications.send_all()
    await notifications.sender.refresh_gauges()
    assert REGISTRY.get_sample_value("smartcity_emails_retrying") == 0
    assert REGISTRY.get_sample_value("smartcity_email_queue_oldest_age_seconds") == 0
