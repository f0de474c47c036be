"""What the handlers need of this service's adapters besides the aggregate store (the view and
the delivery log live in it: `services/common/store.py`'s `Aggregates`). The MongoDB adapters
are in `adapters/`; the unit tests' in-memory twins (`tests/unit/fakes/notifications.py`) keep
the same contract (`tests/notifications_contract.py`, run against both)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from smartcity_th.services.notifications.domain import Body, Recipient


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

    async def replace_many(self, bodies: list[Body]) -> None:
        """Store bodies over the ones stored under the same ids."""
        ...

    async def event_value(self, delivery_id: str) -> str | None:
        """The event a delivery is about, as it was read."""
        ...
