"""The notifications service's stores in memory (`services/notifications/ports.py`): the
recipients directory, the letter registers, the message bodies and the delivery log, with the
semantics of the MongoDB adapters (`tests/notifications_contract.py` runs the same tests on
both); and a mail server and a dead-letter topic that keep what they are given. Documents go
through BSON as the services' client reads them; each read or write yields to the event loop
once, as a round trip does."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

from smartcity_th.services.common.documents import Doc
from smartcity_th.services.common.record import Record
from smartcity_th.services.notifications.adapters.bodies import body_doc, body_from
from smartcity_th.services.notifications.adapters.delivery_log import UNLISTED, DeliveryCommits
from smartcity_th.services.notifications.adapters.directory import (
    RecipientChange,
    RecipientIn,
    seed_documents,
)
from smartcity_th.services.notifications.adapters.register import entry_id
from smartcity_th.services.notifications.domain import Body, Recipient
from smartcity_th.services.notifications.ports import (
    Accepted,
    Issued,
    Listing,
    PermanentSmtpError,
)
from tests.unit.fakes.store import InMemoryAggregateStore, decode, encode


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


EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)


def _unlisted(doc: Doc) -> Doc:
    listed = {k: v for k, v in doc.items() if k not in ("outbox", *UNLISTED)}
    if "items" in doc:
        listed["items"] = [{k: v for k, v in i.items() if k != "event_value"} for i in doc["items"]]
    return listed


class InMemoryDeliveryLog(DeliveryCommits):
    """`MongoDeliveryLog` on the in-memory aggregate store: the same steps (`DeliveryCommits`:
    its commits race as they do on the real store), and the queries read the store's projection
    as MongoDB reads its own (a missing field reads as null, and null sorts first)."""

    def __init__(self, store: InMemoryAggregateStore) -> None:
        super().__init__(store)
        self.memory = store

    async def _where(self, match: Callable[[Doc], bool]) -> list[Doc]:
        await _round_trip()
        projection = self.memory.db.current[self.memory.name]
        return [doc for doc in (decode(raw) for raw in list(projection.values())) if match(doc)]

    async def _due(self, now: dt.datetime, limit: int) -> list[str]:
        due = await self._where(
            lambda d: (
                d.get("status") == "queued"
                and d.get("next_attempt_at") is not None
                and d["next_attempt_at"] <= now
            )
        )
        return [d["_id"] for d in due][: limit or None]

    async def held_recipients(self) -> list[str]:
        held = await self._where(lambda d: d.get("status") == "held" and d.get("digest_id") is None)
        return sorted({d["email"] for d in held})

    async def _held_for(self, email: str) -> list[str]:
        held = await self._where(
            lambda d: (
                d.get("status") == "held" and d.get("email") == email and d.get("digest_id") is None
            )
        )
        return [d["_id"] for d in held]

    async def _claimed(self) -> list[Doc]:
        claimed = await self._where(
            lambda d: d.get("status") == "held" and d.get("digest_id") is not None
        )
        claimed.sort(key=lambda d: d.get("occurred_at") or EARLIEST)
        return [{k: v for k, v in d.items() if k not in ("html", "text")} for d in claimed]

    async def _in_digest(self, digest_id: str) -> list[str]:
        claimed = await self._where(
            lambda d: d.get("digest_id") == digest_id and d.get("status") == "held"
        )
        return [d["_id"] for d in claimed]

    async def stats(self, now: dt.datetime) -> dict[str, float]:
        queued = await self._where(lambda d: d.get("status") == "queued")
        held = await self._where(lambda d: d.get("status") == "held")
        oldest = min((d["created_at"] for d in queued), default=None)
        return {
            "retrying": sum(1 for d in queued if d.get("attempts", 0) > 0),
            "queued": len(queued),
            "held": len(held),
            "oldest_queued_age_seconds": 0.0
            if oldest is None
            else max(0.0, (now - oldest).total_seconds()),
        }

    async def listing(self, which: Listing) -> list[Doc]:
        wanted = {
            k: v
            for k, v in (
                ("recipient_id", which.recipient_id),
                ("proposal_id", which.proposal_id or None),
                ("status", which.status or None),
            )
            if v is not None
        }
        found = await self._where(lambda d: all(d.get(k) == v for k, v in wanted.items()))
        found.sort(key=lambda d: d["created_at"], reverse=True)
        return [_unlisted(d) for d in found[: which.limit]]


def _addresses(message: EmailMessage, header: str) -> list[str]:
    field_ = message[header]
    addresses: tuple[Address, ...] = getattr(field_, "addresses", ()) if field_ else ()
    return [a.addr_spec for a in addresses]


class RecipientsRefused(Exception):
    """Every recipient refused, not all of them for good (as aiosmtplib raises it)."""


@dataclass
class FakeMailer:
    """`Mailer`: a mail server that keeps every message it takes (`accepted`; `tried`: every
    one handed to it). A test makes the next sends fail (`failures`, raised in turn: a
    `PermanentSmtpError` is for good, anything else transient) or has it refuse addresses
    (`refusing`: address -> reply). As `SmtpMailer` answers: a message with every recipient
    refused fails, for good when every reply is a 5xx; else it is taken for the others, and
    the answer names the refused ones."""

    accepted: list[EmailMessage] = field(default_factory=list)
    tried: list[EmailMessage] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)
    refusing: dict[str, str] = field(default_factory=dict)
    server_attributes: dict[str, str | int] = field(
        default_factory=lambda: {"server.address": "mail.test", "server.port": 25}
    )

    async def send(self, message: EmailMessage) -> Accepted:
        await _round_trip()
        self.tried.append(message)
        if self.failures:
            raise self.failures.pop(0)
        recipients = _addresses(message, "To") + _addresses(message, "Cc")
        refused = {a: r for a, r in self.refusing.items() if a in recipients}
        if refused and len(refused) == len(recipients):
            why = "; ".join(f"{r} ({a})" for a, r in refused.items())
            if all(r.startswith("5") for r in refused.values()):
                raise PermanentSmtpError(why)
            raise RecipientsRefused(why)
        self.accepted.append(message)
        return Accepted("250 OK: queued", refused)

    def message_ids(self) -> list[str]:
        """The Message-IDs of the messages taken, in order."""
        return [str(m["Message-ID"]) for m in self.accepted]

    def to(self, message_id: str) -> list[list[str]]:
        """The addressees (To) of each message taken with this Message-ID."""
        return [_addresses(m, "To") for m in self.accepted if str(m["Message-ID"]) == message_id]


@dataclass
class FakeDeadLetters:
    """`DeadLetterWriter`: keeps what would go to the dead-letter topic."""

    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, record: Record, **details: Any) -> None:
        """`details`: the consumer, the kind, the error, the attempts, the event's type and
        id, as `DeadLetters.send` takes them."""
        await _round_trip()
        self.sent.append({"record": record, **details})
