"""The notifications service's other stores in memory (`services/notifications/ports.py`):
the recipients directory, the letter registers and the message bodies, with the semantics of
the MongoDB adapters (`tests/notifications_contract.py` runs the same tests on both). Documents
go through BSON as the services' client reads them; each read or write yields to the event loop
once, as a round trip does."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field

from smartcity_th.services.common.documents import Doc
from smartcity_th.services.notifications.adapters.bodies import body_doc, body_from
from smartcity_th.services.notifications.adapters.directory import (
    RecipientChange,
    RecipientIn,
    seed_documents,
)
from smartcity_th.services.notifications.adapters.register import entry_id
from smartcity_th.services.notifications.domain import Body, Recipient
from smartcity_th.services.notifications.ports import Issued
from tests.unit.fakes.store import decode, encode


async def _round_trip() -> None:
    await asyncio.sleep(0)


class InMemoryRecipients:
    """`RecipientsDirectory`: entries by id (seeded like the real one)."""

    def __init__(self) -> None:
        self._entries: dict[str, bytes] = {}

    async def seed(self) -> int:
        await _round_trip()
        missing = [d for d in seed_documents() if d["_id"] not in self._entries]
        for doc in missing:
            self._entries[doc["_id"]] = encode(doc)
        return len(missing)

    async def create(self, entry: RecipientIn, by: str) -> Doc | None:
        await _round_trip()
        if entry.recipient_id in self._entries:
            return None
        doc = {
            "_id": entry.recipient_id,
            "email": entry.email,
            "name_th": entry.name_th,
            "name_en": entry.name_en,
            "digest": entry.digest,
            "updated_at": dt.datetime.now(dt.UTC),
            "updated_by": by,
        }
        self._entries[entry.recipient_id] = encode(doc)
        return doc

    async def update(self, recipient_id: str, change: RecipientChange, by: str) -> Doc | None:
        await _round_trip()
        raw = self._entries.get(recipient_id)
        if raw is None:
            return None
        fields = change.model_dump(exclude_none=True)
        doc = {**decode(raw), **fields, "updated_at": dt.datetime.now(dt.UTC), "updated_by": by}
        self._entries[recipient_id] = encode(doc)
        return decode(self._entries[recipient_id])

    async def get(self, recipient_id: str) -> Recipient | None:
        await _round_trip()
        raw = self._entries.get(recipient_id)
        if raw is None:
            return None
        doc = decode(raw)
        return Recipient(
            doc["_id"], doc["email"], doc["name_th"], doc["name_en"], bool(doc.get("digest"))
        )


@dataclass
class MemoryRegisters:
    """What several `InMemoryLetterRegister`s share, as processes share the database."""

    entries: dict[str, Doc] = field(default_factory=dict)


class InMemoryLetterRegister:
    """`LetterRegister`: insert-only numbers, unique per register and per letter."""

    def __init__(self, shared: MemoryRegisters | None = None) -> None:
        self.shared = shared if shared is not None else MemoryRegisters()

    async def number(self, register: str, letter_id: str, *, now: dt.datetime) -> int:
        return (await self.issue(register, letter_id, now=now)).number

    async def issue(self, register: str, letter_id: str, *, now: dt.datetime) -> Issued:
        await _round_trip()
        for entry in self.shared.entries.values():
            if entry["letter_id"] == letter_id:
                return Issued(int(entry["number"]), entry["at"])
        numbers = [e["number"] for e in self.shared.entries.values() if e["register"] == register]
        candidate = max(numbers, default=0) + 1
        self.shared.entries[entry_id(register, candidate)] = decode(
            encode(
                {
                    "_id": entry_id(register, candidate),
                    "register": register,
                    "number": candidate,
                    "letter_id": letter_id,
                    "at": now,
                }
            )
        )
        return Issued(candidate, now)

    async def entries_of(self, register: str) -> list[Doc]:
        await _round_trip()
        found = [e for e in self.shared.entries.values() if e["register"] == register]
        return sorted(found, key=lambda e: int(e["number"]))


class InMemoryMessageBodies:
    """`MessageBodies`: one body per delivery id; the first stored is kept."""

    def __init__(self) -> None:
        self._docs: dict[str, bytes] = {}

    async def put_many(self, bodies: list[Body]) -> None:
        await _round_trip()
        for body in bodies:
            self._docs.setdefault(body.delivery_id, encode(body_doc(body)))

    async def take(self, delivery_id: str) -> Body | None:
        await _round_trip()
        raw = self._docs.get(delivery_id)
        return None if raw is None else body_from(decode(raw))

    async def replace_many(self, bodies: list[Body]) -> None:
        for body in bodies:
            await _round_trip()
            self._docs[body.delivery_id] = encode(body_doc(body))

    async def event_value(self, delivery_id: str) -> str | None:
        await _round_trip()
        raw = self._docs.get(delivery_id)
        return None if raw is None else decode(raw).get("event_value")
