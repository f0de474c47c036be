"""The contract of the notifications service's directory, letter registers, message bodies and
delivery log (`services/notifications/ports.py`), one set of test bodies run against the
MongoDB adapters (`tests/integration/test_notifications_contract.py`) and their in-memory twins
(`tests/unit/test_notifications_contract.py`). Each tier gives an `adapters` fixture."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace
from typing import Any, Protocol

from smartcity_th.services.common.documents import Doc
from smartcity_th.services.notifications.adapters.directory import RecipientChange, RecipientIn
from smartcity_th.services.notifications.domain import Body, Delivery, DigestItem, Recipient
from smartcity_th.services.notifications.ports import LEASE_SECONDS, DeliveryLog, Issued, Listing

__all__ = [
    "Adapters",
    "test_a_body_stored_first_is_kept_and_a_replacement_replaces_it",
    "test_a_lease_goes_to_one_sender_and_is_due_again_when_it_ends",
    "test_a_letter_held_for_review_stays_held_until_it_is_released_once",
    "test_a_letter_keeps_the_moment_it_took_its_number_whatever_year_it_is_told_again",
    "test_a_register_numbers_each_letter_once_without_gaps",
    "test_a_retry_waits_for_its_time_and_a_settled_email_stays_settled",
    "test_an_email_is_queued_once_and_read_back_as_it_was_queued",
    "test_due_emails_are_the_queued_ones_whose_time_has_come",
    "test_emails_queued_leased_to_their_own_sender_are_due_to_others_when_the_lease_ends",
    "test_held_copies_are_claimed_by_one_digest_then_digested_or_given_back",
    "test_the_directory_has_the_seed_entries_and_what_is_added_or_changed",
    "test_the_figures_count_the_queue_and_age_its_oldest_email",
    "test_the_listing_is_newest_first_filtered_and_without_bodies",
    "test_two_processes_numbering_at_once_give_no_number_twice_and_none_to_a_letter_twice",
    "test_two_senders_claiming_at_once_take_each_email_exactly_once",
]


class Directory(Protocol):
    async def get(self, recipient_id: str) -> Recipient | None: ...

    async def create(self, entry: RecipientIn, by: str) -> Doc | None: ...

    async def update(self, recipient_id: str, change: RecipientChange, by: str) -> Doc | None: ...


class Register(Protocol):
    async def number(self, register: str, letter_id: str, *, now: dt.datetime) -> int: ...

    async def issue(self, register: str, letter_id: str, *, now: dt.datetime) -> Issued: ...

    async def entries_of(self, register: str) -> list[Doc]: ...


class MessageBodies(Protocol):
    async def put_many(self, bodies: list[Body]) -> None: ...

    async def replace_many(self, bodies: list[Body]) -> None: ...

    async def event_value(self, delivery_id: str) -> str | None: ...

    async def take(self, delivery_id: str) -> Body | None: ...


class Adapters(Protocol):
    async def directory(self) -> Directory:
        """A seeded directory of its own."""

    async def register(self) -> Register:
        """A register database of its own."""

    def register_twin(self, register: Register) -> Register:
        """The same registers as another process has them."""

    def bodies(self) -> MessageBodies:
        """A bodies collection of its own."""

    async def deliveries(self) -> DeliveryLog:
        """A delivery log of its own."""

    def deliveries_twin(self, log: DeliveryLog) -> DeliveryLog:
        """The same delivery log as another process has it."""


NOW = dt.datetime(2026, 3, 1, 9, 30, 15, 123_456, tzinfo=dt.UTC)


async def test_the_directory_has_the_seed_entries_and_what_is_added_or_changed(
    adapters: Adapters,
) -> None:
    directory = await adapters.directory()
    depa = await directory.get("depa")
    assert depa is not None
    assert (depa.email, depa.digest) == ("smartcity-office@depa.example.go.th", False)
    assert depa.name_en.startswith("Digital Economy Promotion Agency")
    governor = await directory.get("governor-83")
    assert governor is not None
    assert governor.email == "governor-83@provinces.example.go.th"
    assert await directory.get("office-new") is None
    entry = RecipientIn(
        recipient_id="office-new",
        email="office@example.go.th",
        name_th="สำนักงานใหม่",
        name_en="New Office",
        digest=True,
    )
    assert await directory.create(entry, "depa") is not None
    assert await directory.create(entry, "depa") is None  # the id is taken
    assert await directory.get("office-new") == Recipient(
        "office-new", "office@example.go.th", "สำนักงานใหม่", "New Office", True
    )
    changed = await directory.update(
        "office-new", RecipientChange(email="moved@example.go.th"), "depa"
    )
    assert changed is not None
    assert changed["email"] == "moved@example.go.th"
    moved = await directory.get("office-new")
    assert moved is not None
    assert (moved.email, moved.name_en) == ("moved@example.go.th", "New Office")
    assert await directory.update("office-none", RecipientChange(digest=True), "depa") is None


async def test_a_register_numbers_each_letter_once_without_gaps(adapters: Adapters) -> None:
    register = await adapters.register()
    assert await register.number("depa:2569", "e1:a", now=NOW) == 1
    assert await register.number("depa:2569", "e2:a", now=NOW) == 2
    assert await register.number("depa:2569", "e1:a", now=NOW) == 1  # a redelivery
    assert await register.number("depa:2570", "e3:a", now=NOW) == 1  # another register
    entries = await register.entries_of("depa:2569")
    assert [(e["_id"], e["number"], e["letter_id"]) for e in entries] == [
        ("depa:2569@00000001", 1, "e1:a"),
        ("depa:2569@00000002", 2, "e2:a"),
    ]
    assert entries[0]["at"] == NOW.replace(microsecond=123_000)


async def test_a_letter_keeps_the_moment_it_took_its_number_whatever_year_it_is_told_again(
    adapters: Adapters,
) -> None:
    """A letter is dated the day it took its number (docs/notifications.md, "Dates")."""
    register = await adapters.register()
    first = await register.issue("depa:2569", "e1:a", now=NOW)
    assert (first.number, first.at) == (1, NOW)
    next_year = NOW + dt.timedelta(days=400)
    again = await register.issue("depa:2570", "e1:a", now=next_year)  # told again a year on
    assert (again.number, again.at) == (1, NOW.replace(microsecond=123_000))
    fresh = await register.issue("depa:2570", "e2:a", now=next_year)
    assert (fresh.number, fresh.at) == (1, next_year)
    assert [e["letter_id"] for e in await register.entries_of("depa:2570")] == ["e2:a"]


async def test_two_processes_numbering_at_once_give_no_number_twice_and_none_to_a_letter_twice(
    adapters: Adapters,
) -> None:
    mine = await adapters.register()
    theirs = adapters.register_twin(mine)
    letters = [f"e{i}:a" for i in range(12)]
    numbers = await asyncio.gather(
        *(
            (mine if i % 2 else theirs).number("depa:2569", letter, now=NOW)
            for i, letter in enumerate(letters)
        )
    )
    assert sorted(numbers) == list(range(1, 13))
    both = await asyncio.gather(
        mine.number("depa:2569", "e99:a", now=NOW), theirs.number("depa:2569", "e99:a", now=NOW)
    )
    assert list(both) == [13, 13]
    entries = await theirs.entries_of("depa:2569")
    assert [e["number"] for e in entries] == list(range(1, 14))


async def test_a_body_stored_first_is_kept_and_a_replacement_replaces_it(
    adapters: Adapters,
) -> None:
    bodies = adapters.bodies()
    first = Body("d1", '{"event": 1}', NOW, "text one", "<p>one</p>")
    unaddressed = Body("d2", '{"event": 2}', NOW)
    await bodies.put_many([first, unaddressed])
    await bodies.put_many([Body("d1", '{"event": "again"}', NOW, "text again", None)])
    assert await bodies.event_value("d1") == '{"event": 1}'
    assert await bodies.event_value("d2") == '{"event": 2}'
    assert await bodies.event_value("d3") is None
    stored = await bodies.take("d2")
    assert stored == Body("d2", '{"event": 2}', NOW.replace(microsecond=123_000))
    await bodies.replace_many([Body("d1", '{"event": 1}', NOW, "fixed", "<p>fixed</p>")])
    replaced = await bodies.take("d1")
    assert replaced is not None
    assert (replaced.text, replaced.html) == ("fixed", "<p>fixed</p>")
    assert await bodies.take("d3") is None


# -- the delivery log ---------------------------------------------------------------------------

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
"""Whole milliseconds: what is stored is read back equal."""


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def email(delivery_id: str, **fields: Any) -> Delivery:
    """A queued email about an event, due at T0 (`fields` change any of it)."""
    queued = Delivery(
        delivery_id=delivery_id,
        kind="event",
        event_id=f"event-{delivery_id}",
        event_type="ProposalScreened",
        proposal_id="PRP-CONTRACT-1",
        recipient_id="lg-phuket-city",
        email="saraban@phuket.example.go.th",
        status="queued",
        created_at=T0,
        updated_at=T0,
        next_attempt_at=T0,
        name_th="เทศบาลนครภูเก็ต",
        name_en="Phuket City Municipality",
        message_id=f"<{delivery_id}@notify.example.go.th>",
        subject="ผลการกลั่นกรองข้อเสนอ | Proposal screened",
        occurred_at=T0,
    )
    return replace(queued, **fields)


async def status_of(log: DeliveryLog, delivery_id: str) -> str | None:
    found = await log.get(delivery_id)
    return None if found is None else found.status


async def test_an_email_is_queued_once_and_read_back_as_it_was_queued(
    adapters: Adapters,
) -> None:
    log = await adapters.deliveries()
    first, second = email("d1"), email("d2", cc=(("สำนักงาน", "office@example.go.th"),))
    assert await log.queue_many([first, second]) == {"d1", "d2"}
    assert await log.queue_many([first, email("d3")]) == {"d3"}  # d1: an earlier delivery's
    assert await log.queue(second) is False
    assert await log.get("d1") == first
    assert await log.get("d2") == second
    assert await log.get("d9") is None


async def test_a_lease_goes_to_one_sender_and_is_due_again_when_it_ends(
    adapters: Adapters,
) -> None:
    log = await adapters.deliveries()
    await log.queue(email("d1", next_attempt_at=at(10)))
    assert await log.claim("d1", T0) == at(10)  # not due yet: when it is
    leased = await log.claim("d1", at(10))
    assert isinstance(leased, Delivery)
    assert leased.next_attempt_at == at(10 + LEASE_SECONDS)
    assert await log.claim("d1", at(11)) == at(10 + LEASE_SECONDS)  # another sender's lease
    assert await log.claim_due(at(11)) == []
    again = await log.claim("d1", at(10 + LEASE_SECONDS))  # that sender died: due again
    assert isinstance(again, Delivery)
    assert again.message_id == leased.message_id
    assert await log.mark_sent("d1", 1, "250 OK", at(71), []) is True
    assert await status_of(log, "d1") == "sent"
    assert await log.claim("d1", at(500)) is None
    assert await log.claim("d9", at(500)) is None


async def test_two_senders_claiming_at_once_take_each_email_exactly_once(
    adapters: Adapters,
) -> None:
    mine = await adapters.deliveries()
    theirs = adapters.deliveries_twin(mine)
    ids = [f"d{i}" for i in range(12)]
    await mine.queue_many([email(i) for i in ids])
    scans = asyncio.gather(mine.claim_due(T0), theirs.claim_due(T0))
    one_by_one = asyncio.gather(
        *((mine if n % 2 else theirs).claim(i, T0) for n, i in enumerate(ids))
    )
    (found_by_mine, found_by_theirs), claimed = await asyncio.gather(scans, one_by_one)
    leased = [d.delivery_id for d in (*found_by_mine, *found_by_theirs)]
    leased += [d.delivery_id for d in claimed if isinstance(d, Delivery)]
    assert sorted(leased) == sorted(ids)
    assert await theirs.claim_due(at(1)) == []


async def test_due_emails_are_the_queued_ones_whose_time_has_come(adapters: Adapters) -> None:
    log = await adapters.deliveries()
    await log.queue_many(
        [
            email("due"),
            email("later", next_attempt_at=at(10)),
            email("held", status="held", copy_of="due"),
            email("review", status="review", last_error="text: a placeholder: 'TODO'"),
            email("failed", status="failed", last_error="no address", failed_at=T0),
        ]
    )
    assert [d.delivery_id for d in await log.claim_due(T0)] == ["due"]
    assert [d.delivery_id for d in await log.claim_due(at(10))] == ["later"]
    await log.queue_many([email(f"more{i}", next_attempt_at=at(20)) for i in range(3)])
    assert len(await log.claim_due(at(20), limit=2)) == 2
    assert len(await log.claim_due(at(20), limit=2)) == 1
    for delivery_id, status in (("held", "held"), ("review", "review"), ("failed", "failed")):
        assert await status_of(log, delivery_id) == status


async def test_emails_queued_leased_to_their_own_sender_are_due_to_others_when_the_lease_ends(
    adapters: Adapters,
) -> None:
    log = await adapters.deliveries()
    held = email("copy", status="held", copy_of="d1")
    assert await log.queue_many([email("d1"), held], leased_until=at(60)) == {"d1", "copy"}
    queued = await log.get("d1")
    assert queued is not None
    assert queued.next_attempt_at == at(60)
    assert await log.get("copy") == held  # only what is to be sent is leased
    assert await log.claim_due(at(59)) == []
    assert [d.delivery_id for d in await log.claim_due(at(60))] == ["d1"]


async def test_a_retry_waits_for_its_time_and_a_settled_email_stays_settled(
    adapters: Adapters,
) -> None:
    log = await adapters.deliveries()
    await log.queue_many([email("d1"), email("d2")])
    await log.claim("d1", T0)
    await log.mark_retry("d1", 1, "ConnectionRefusedError: " + "x" * 600, at(30), at(1))
    retried = await log.get("d1")
    assert retried is not None
    assert (retried.status, retried.attempts, retried.next_attempt_at) == ("queued", 1, at(30))
    assert retried.last_error is not None
    assert len(retried.last_error) == 500
    assert await log.claim("d1", at(10)) == at(30)
    taken = await log.claim("d1", at(30))
    assert isinstance(taken, Delivery)
    assert taken.attempts == 1
    assert await log.mark_failed("d1", 2, "550 no such mailbox", at(31), []) is True
    assert await log.mark_sent("d1", 3, "250 OK", at(32), []) is False
    await log.mark_retry("d1", 3, "again", at(90), at(32))
    failed = await log.get("d1")
    assert failed is not None
    assert (failed.status, failed.attempts, failed.last_error) == (
        "failed",
        2,
        "550 no such mailbox",
    )
    assert await log.mark_sent("d2", 1, "250 OK", at(1), []) is True
    assert await log.mark_failed("d2", 2, "late", at(2), []) is False
    assert await status_of(log, "d2") == "sent"


async def test_a_letter_held_for_review_stays_held_until_it_is_released_once(
    adapters: Adapters,
) -> None:
    log = await adapters.deliveries()
    held = email("d1", status="review", last_error="text: a placeholder: 'TODO'")
    await log.queue(held)
    assert await log.claim("d1", at(1)) is None  # not queued: no sender takes it
    await log.still_held("d1", ["text: a placeholder: 'TODO'", "html: a code: 'X_Y'"], at(2))
    still = await log.get("d1")
    assert still is not None
    assert (still.status, still.last_error) == (
        "review",
        "text: a placeholder: 'TODO'; html: a code: 'X_Y'",
    )
    fixed = replace(held, status="queued", subject="เรื่องที่แก้แล้ว | Fixed", last_error=None)
    assert await log.release(replace(fixed, created_at=at(3), updated_at=at(3)), at(3)) is True
    released = await log.get("d1")
    assert released is not None
    assert (released.status, released.subject, released.last_error) == (
        "queued",
        "เรื่องที่แก้แล้ว | Fixed",
        None,
    )
    assert (released.created_at, released.updated_at) == (T0, at(3))
    assert await log.release(fixed, at(4)) is False
    await log.still_held("d1", ["late"], at(5))
    assert await log.get("d1") == released


async def test_held_copies_are_claimed_by_one_digest_then_digested_or_given_back(
    adapters: Adapters,
) -> None:
    log = await adapters.deliveries()
    governor = "governor-40@provinces.example.go.th"

    def copy(delivery_id: str, occurred: float, to: str = governor) -> Delivery:
        return email(delivery_id, status="held", email=to, copy_of="x", occurred_at=at(occurred))

    await log.queue_many(
        [copy("c2", 2), copy("c1", 1), copy("c3", 3), copy("other", 1, "other@example.go.th")]
    )
    assert await log.held_recipients() == [governor, "other@example.go.th"]
    await log.claim_held(governor, "digest-1")
    await log.claim_held(governor, "digest-2")  # claimed already: nothing for a second digest
    assert await log.held_recipients() == ["other@example.go.th"]
    claimed = await log.claimed_items()
    assert list(claimed) == ["digest-1"]
    assert [d.delivery_id for d in claimed["digest-1"]] == ["c1", "c2", "c3"]
    assert claimed["digest-1"][0] == replace(copy("c1", 1), digest_id="digest-1")
    items = tuple(
        DigestItem(
            d.delivery_id, d.event_id, d.event_type, "PRP-1", None, d.occurred_at, None, None
        )
        for d in claimed["digest-1"][:2]
    )
    digest = email("digest-1", kind="digest", email=governor, items=items, text="t", html="h")
    assert await log.queue(digest) is True
    assert await log.digested_ids("digest-1") == {"c1", "c2"}
    await log.settle_claimed("digest-1", {"c1", "c2"})
    settled = [await status_of(log, i) for i in ("c1", "c2", "c3")]
    assert settled == ["digested", "digested", "held"]
    assert await log.claimed_items() == {}
    assert await log.held_recipients() == [governor, "other@example.go.th"]  # c3 is back


async def test_the_figures_count_the_queue_and_age_its_oldest_email(adapters: Adapters) -> None:
    log = await adapters.deliveries()
    assert await log.stats(T0) == {
        "retrying": 0,
        "queued": 0,
        "held": 0,
        "oldest_queued_age_seconds": 0.0,
    }
    await log.queue_many(
        [
            email("old", created_at=at(-60)),
            email("new", created_at=at(-10)),
            email("copy", status="held", copy_of="old"),
            email("sent"),
        ]
    )
    await log.mark_retry("new", 1, "451 busy", at(30), T0)
    await log.mark_sent("sent", 1, "250 OK", T0, [])
    assert await log.stats(at(30)) == {
        "retrying": 1,
        "queued": 2,
        "held": 1,
        "oldest_queued_age_seconds": 90.0,
    }


async def test_the_listing_is_newest_first_filtered_and_without_bodies(adapters: Adapters) -> None:
    log = await adapters.deliveries()
    item = DigestItem("c1", "event-c1", "ProposalScreened", "PRP-B", None, T0, None, '{"e": 1}')
    await log.queue_many(
        [
            email("a1", created_at=at(1)),
            email("b1", created_at=at(2), proposal_id="PRP-B", recipient_id="depa"),
            email("a2", created_at=at(3), status="held", copy_of="a1"),
            email("g1", created_at=at(4), kind="digest", items=(item,), text="t", html="h"),
        ]
    )
    listed = await log.listing(Listing())
    assert [d["_id"] for d in listed] == ["g1", "a2", "b1", "a1"]
    assert not any({"text", "html", "event_value"} & set(d) for d in listed)
    [listed_item] = listed[0]["items"]
    assert (listed_item["_id"], "event_value" in listed_item) == ("c1", False)
    assert [d["_id"] for d in await log.listing(Listing(recipient_id="depa"))] == ["b1"]
    assert [d["_id"] for d in await log.listing(Listing(proposal_id="PRP-B"))] == ["b1"]
    assert [d["_id"] for d in await log.listing(Listing(status="held"))] == ["a2"]
    assert [d["_id"] for d in await log.listing(Listing(limit=2))] == ["g1", "a2"]
    assert listed[-1]["created_at"] == at(1)
