"""The daily digests (`services/notifications/digest.py`) on the in-memory delivery log: a
recipient who chose a digest gets the copies held for it in one covering letter, sent once and
announced once for each letter it carries; two instances collecting at once make one digest; a
run stopped half-way is finished by the next; nothing held, nothing sent."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from smartcity_th.services.notifications import domain
from smartcity_th.services.notifications.adapters.directory import RecipientChange
from tests.unit.notifications_stack import (
    Notifications,
    event,
    new_proposal_id,
    notifications_with,
    submit,
)

GOVERNOR = "governor-83"
"""The sample proposal's province's governor, copied on most of its letters."""


@pytest.fixture
async def notifications() -> Notifications:
    notifications = await notifications_with()
    await notifications.directory.update(GOVERNOR, RecipientChange(digest=True), "depa")
    return notifications


async def held_copies(notifications: Notifications) -> list[str]:
    """Letters about a proposal's first steps, with the governor's copies held; the ids of
    those copies."""
    pid = new_proposal_id()
    await submit(notifications, pid)
    for event_type in ("ProposalScreened", "SubcommitteeApproved"):
        await notifications.handlers.on_event(event(event_type, pid))
    await notifications.send_all()
    held = [d for d in await notifications.all_deliveries() if d.status == "held"]
    assert held
    return sorted(d.delivery_id for d in held)


async def governor_address(notifications: Notifications) -> str:
    governor = await notifications.directory.get(GOVERNOR)
    assert governor is not None
    return governor.email


async def test_held_copies_go_out_in_one_digest_sent_and_announced_once(
    notifications: Notifications,
) -> None:
    held = await held_copies(notifications)
    governor = await governor_address(notifications)
    assert all(governor not in m["To"] for m in notifications.mailer.accepted)
    [digest_id] = await notifications.digests.send_digests(notifications.clock())
    assert digest_id == domain.digest_id(governor, notifications.clock())
    copies = [await notifications.deliveries.get(i) for i in held]
    assert {c.status for c in copies if c is not None} == {"digested"}
    digest = await notifications.deliveries.get(digest_id)
    assert digest is not None
    assert (digest.kind, digest.email, digest.status) == ("digest", governor, "queued")
    assert sorted(i.delivery_id for i in digest.items) == held
    await notifications.send_all()
    assert notifications.mailer.to(str(digest.message_id)) == [[governor]]
    [message] = [m for m in notifications.mailer.accepted if governor in m["To"]]
    assert "ส่งสำเนาหนังสือ" in str(message["Subject"])
    about = Counter(
        e.payload.about_event_id
        for e in notifications.db.envelopes()
        if e.event_type == "NotificationSent" and e.payload.message_id == digest.message_id
    )
    assert about == Counter({i.event_id: 1 for i in digest.items})
    assert await notifications.digests.send_digests(notifications.clock()) == []
    await notifications.send_all()
    assert len(notifications.mailer.to(str(digest.message_id))) == 1


async def test_two_instances_collecting_at_once_make_one_digest(
    notifications: Notifications,
) -> None:
    held = await held_copies(notifications)
    _, their_sender, their_digests = notifications.other_process()
    as_of = notifications.clock()
    mine, theirs = await asyncio.gather(
        notifications.digests.send_digests(as_of), their_digests.send_digests(as_of)
    )
    [digest_id] = mine + theirs
    await notifications.send_all(notifications.sender, their_sender)
    digest = await notifications.deliveries.get(digest_id)
    assert digest is not None
    assert sorted(i.delivery_id for i in digest.items) == held
    assert len(notifications.mailer.to(str(digest.message_id))) == 1
    copies = [await notifications.deliveries.get(i) for i in held]
    assert {c.status for c in copies if c is not None} == {"digested"}


async def test_a_run_stopped_after_claiming_is_finished_by_the_next(
    notifications: Notifications,
) -> None:
    held = await held_copies(notifications)
    governor = await governor_address(notifications)
    stopped_at = notifications.clock()
    claimed_by = domain.digest_id(governor, stopped_at)
    await notifications.deliveries.claim_held(governor, claimed_by)  # and then it stopped
    assert await notifications.deliveries.held_recipients() == []
    notifications.clock.advance(86400)
    assert await notifications.digests.send_digests(notifications.clock()) == [claimed_by]
    digest = await notifications.deliveries.get(claimed_by)
    assert digest is not None
    assert sorted(i.delivery_id for i in digest.items) == held


async def test_with_nothing_held_no_digest_is_made(notifications: Notifications) -> None:
    await notifications.directory.update(GOVERNOR, RecipientChange(digest=False), "depa")
    pid = new_proposal_id()
    await submit(notifications, pid)
    await notifications.handlers.on_event(event("ProposalScreened", pid))
    await notifications.send_all()
    assert [d for d in await notifications.all_deliveries() if d.status == "held"] == []
    assert await notifications.digests.send_digests(notifications.clock()) == []
    assert [d for d in await notifications.all_deliveries() if d.kind == "digest"] == []
