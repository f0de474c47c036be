"""What the handlers, the sender and the digests need of this service's adapters: the recipients
directory, the letter registers, the message bodies, the delivery log and the mailer (the view
of each proposal is the aggregate store's port itself: `services/common/store.py`'s
`Aggregates`). The adapters are in `adapters/`; the unit tests' in-memory twins and mailer
(`tests/unit/fakes/notifications.py`) keep the same contract
(`tests/notifications_contract.py`, run against both)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

from smartcity_th.contracts.envelope import AnyEnvelope
from smartcity_th.services.common.documents import Doc
from smartcity_th.services.common.record import Record
from smartcity_th.services.notifications.domain import Body, Delivery, Recipient

LEASE_SECONDS = 60.0
"""How long a claim (or the queuing commit of an email its own process sends) leases an email
to one sender; an email whose sender died is due again when it ends."""


@dataclass(frozen=True)
class Listing:
    """Which emails the delivery log lists, newest first: those to one recipient, about one
    proposal, in one status (None: any), at most `limit`."""

    recipient_id: str | None = None
    proposal_id: str | None = None
    status: str | None = None
    limit: int = 100


class Recipients(Protocol):
    """The recipients directory: who gets email at which address."""

    async def get(self, recipient_id: str) -> Recipient | None: ...


@dataclass(frozen=True)
class Issued:
    """A letter's entry in its register: its number and when it was given (the letter is
    dated that day, so the register's dates never run backwards as its numbers go up)."""

    number: int
    at: dt.datetime


class LetterNumbers(Protocol):
    """The sending offices' registers of letter numbers."""

    async def number(self, register: str, letter_id: str, *, now: dt.datetime) -> int:
        """The number of `letter_id` in `register`: the one it was given, or the next."""
        ...

    async def issue(self, register: str, letter_id: str, *, now: dt.datetime) -> Issued:
        """The entry of `letter_id`: the number and moment it was given (in whichever
        register it was given, for a letter numbered before), or the next number of
        `register`, given `now`."""
        ...


class Bodies(Protocol):
    """The rendered emails' bodies and the events they are about, by delivery id."""

    async def put_many(self, bodies: list[Body]) -> None:
        """Store bodies; one stored before under the same id is kept as is."""
        ...

    async def take(self, delivery_id: str) -> Body | None:
        """The body of an email about to be sent."""
        ...

    async def replace_many(self, bodies: list[Body]) -> None:
        """Store bodies over the ones stored under the same ids."""
        ...

    async def event_value(self, delivery_id: str) -> str | None:
        """The event a delivery is about, as it was read."""
        ...


class DeliveryLog(Protocol):
    """One aggregate per email: queued, leased to one sender at a time, then sent or failed;
    or held, for a digest (claimed by one digest id, then digested) or for review (released
    once its letter passes). Each step is a commit, and a step that no longer fits the email's
    state (sent or failed already, not held any more) changes nothing."""

    async def queue(self, delivery: Delivery, events: Sequence[AnyEnvelope] = ()) -> bool:
        """Queue one email (or record one that cannot be sent, with its events); False if
        this (event, recipient) was queued before."""
        ...

    async def queue_many(
        self,
        deliveries: list[Delivery],
        events: Mapping[str, AnyEnvelope] | None = None,
        *,
        leased_until: dt.datetime | None = None,
    ) -> set[str]:
        """Queue the emails of one event; the ids queued now. With `leased_until`, each one to
        be sent is queued leased to this process's sender until then."""
        ...

    async def get(self, delivery_id: str) -> Delivery | None: ...

    async def release(self, rendered: Delivery, now: dt.datetime) -> bool:
        """A letter held for review takes its new rendering (subject, copies, status); False
        if it was not held for review."""
        ...

    async def still_held(self, delivery_id: str, problems: list[str], now: dt.datetime) -> None:
        """A letter held for review stays held, for these problems."""
        ...

    async def claim(
        self, delivery_id: str, now: dt.datetime, lease_seconds: float = LEASE_SECONDS
    ) -> Delivery | dt.datetime | None:
        """Lease one queued email due by `now` to this sender (of several, exactly one gets
        it); for a queued email not due yet (leased, or waiting to be retried): when it is due;
        None when it is not queued."""
        ...

    async def claim_due(
        self, now: dt.datetime, lease_seconds: float = LEASE_SECONDS, limit: int = 50
    ) -> list[Delivery]:
        """Lease up to `limit` queued emails due by `now`."""
        ...

    async def mark_sent(
        self,
        delivery_id: str,
        attempts: int,
        reply: str,
        now: dt.datetime,
        events: list[AnyEnvelope],
    ) -> bool:
        """Sent, its events in the same commit; False if it was settled already."""
        ...

    async def mark_retry(
        self, delivery_id: str, attempts: int, error: str, next_at: dt.datetime, now: dt.datetime
    ) -> None:
        """Still queued, due again at `next_at`, unless settled already."""
        ...

    async def mark_failed(
        self,
        delivery_id: str,
        attempts: int,
        error: str,
        now: dt.datetime,
        events: list[AnyEnvelope],
    ) -> bool:
        """Failed for good, its events in the same commit; False if it was settled already."""
        ...

    async def held_recipients(self) -> list[str]:
        """The addresses with emails held for their digest and not claimed by one, sorted."""
        ...

    async def claim_held(self, email: str, digest_id: str) -> None:
        """Claim the emails held for `email`'s digest by `digest_id`."""
        ...

    async def claimed_items(self) -> dict[str, list[Delivery]]:
        """The held emails claimed by each digest, the earliest event first."""
        ...

    async def digested_ids(self, digest_id: str) -> set[str]:
        """The held emails a queued digest includes."""
        ...

    async def settle_claimed(self, digest_id: str, included: set[str]) -> None:
        """The emails `digest_id` claimed: digested if `included`, else unclaimed again."""
        ...

    async def stats(self, now: dt.datetime) -> dict[str, float]:
        """`queued`, `retrying`, `held` and `oldest_queued_age_seconds`."""
        ...

    async def listing(self, which: Listing) -> list[Doc]:
        """The emails `which` names, newest first, as stored, without the bodies and the
        event."""
        ...


class PermanentSmtpError(Exception):
    """The server refused the message for good (5xx): retrying will not help."""


@dataclass(frozen=True)
class Accepted:
    """The server took the message: its reply, and the recipients it refused (address ->
    code and reply) when it took the message for the others."""

    reply: str
    refused: dict[str, str] = field(default_factory=dict)


class Mailer(Protocol):
    """Hands one message to the mail server (`adapters/smtp.py`)."""

    @property
    def server_attributes(self) -> Mapping[str, str | int]:
        """The server as OpenTelemetry's semantic conventions name a client's peer."""
        ...

    async def send(self, message: EmailMessage) -> Accepted:
        """The server's reply and the recipients it refused while taking the message for the
        others. Raises PermanentSmtpError when it refused it for good; anything else raised
        is transient (tried again later)."""
        ...


class DeadLetterWriter(Protocol):
    """Where an email that cannot be sent leaves its event (`services/common/consumer.py`'s
    `DeadLetters`)."""

    async def send(
        self,
        record: Record,
        *,
        consumer: str,
        kind: str,
        error: str,
        attempts: int,
        event_type: str | None = None,
        event_id: str | None = None,
    ) -> object: ...
