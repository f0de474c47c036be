"""The contract of the notifications service's directory, letter registers and message bodies
(`services/notifications/ports.py`), one set of test bodies run against the MongoDB adapters
(`tests/integration/test_notifications_contract.py`) and their in-memory twins
(`tests/unit/test_notifications_contract.py`). Each tier gives an `adapters` fixture."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Protocol

from smartcity_th.services.common.documents import Doc
from smartcity_th.services.notifications.adapters.directory import RecipientChange, RecipientIn
from smartcity_th.services.notifications.domain import Body, Recipient
from smartcity_th.services.notifications.ports import Issued

__all__ = [
    "Adapters",
    "test_a_body_stored_first_is_kept_and_a_replacement_replaces_it",
    "test_a_letter_keeps_the_moment_it_took_its_number_whatever_year_it_is_told_again",
    "test_a_register_numbers_each_letter_once_without_gaps",
    "test_the_directory_has_the_seed_entries_and_what_is_added_or_changed",
    "test_two_processes_numbering_at_once_give_no_number_twice_and_none_to_a_letter_twice",
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
