"""The notifications service wired as `services/notifications/bootstrap.py` wires it (handlers
that queue emails leased to their process's sender and wake it, a sender, the digests), on the
in-memory twins of its stores, a mail server that keeps what it takes and a dead-letter topic
in memory (`tests/unit/fakes/notifications.py`), with a clock the test moves: what the unit
tests of its handlers, sender and digests drive."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field

from smartcity_th.contracts.envelope import AnyEnvelope
from smartcity_th.services.notifications.adapters.view import ProposalsView
from smartcity_th.services.notifications.digest import DigestScheduler
from smartcity_th.services.notifications.domain import Delivery, MailSettings
from smartcity_th.services.notifications.handlers import NotificationHandlers
from smartcity_th.services.notifications.links import StatusLinks
from smartcity_th.services.notifications.pdf import LetterPdf
from smartcity_th.services.notifications.ports import LEASE_SECONDS
from smartcity_th.services.notifications.samples import sample_envelope
from smartcity_th.services.notifications.sender import Sender
from tests import builders
from tests.unit.fakes.notifications import (
    FakeDeadLetters,
    FakeMailer,
    InMemoryDeliveryLog,
    InMemoryLetterRegister,
    InMemoryMessageBodies,
    InMemoryRecipients,
)
from tests.unit.fakes.store import InMemoryAggregateStore, MemoryDatabase

NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
SETTINGS = MailSettings(
    "Smart City Office",
    "noreply@depa.example.go.th",
    "notify.example.go.th",
    StatusLinks("https://smartcity.example.go.th", 3600, "test-secret"),
    max_attempts=3,
    base_delay=2.0,
    max_delay=5.0,
    pdf=False,  # the letters' PDFs have their own tests (test_letter_pdf.py)
)
DIGEST_HOUR = 8


class Clock:
    """Now, as the test sets it."""

    def __init__(self, now: dt.datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def highest(low: float, high: float) -> float:
    """The jitter that waits longest (the retries' times are then known)."""
    return high


def _store(name: str, db: MemoryDatabase, clock: Clock) -> InMemoryAggregateStore:
    return InMemoryAggregateStore(name, db, service="notifications", clock=clock)


@dataclass
class Notifications:
    db: MemoryDatabase
    clock: Clock
    view: ProposalsView
    directory: InMemoryRecipients
    deliveries: InMemoryDeliveryLog
    bodies: InMemoryMessageBodies
    register: InMemoryLetterRegister
    mailer: FakeMailer
    dead_letters: FakeDeadLetters
    sender: Sender
    digests: DigestScheduler
    handlers: NotificationHandlers
    settings: MailSettings
    woken: list[list[str]] = field(default_factory=list)

    def other_process(self) -> tuple[InMemoryDeliveryLog, Sender, DigestScheduler]:
        """Another instance of the service on the same database and mail server: its
        delivery log, sender and digests."""
        deliveries = InMemoryDeliveryLog(_store("deliveries", self.db, self.clock))
        sender = Sender(
            deliveries,
            self.bodies,
            self.mailer,
            LetterPdf(),
            self.dead_letters,
            self.settings,
            clock=self.clock,
            rand=highest,
        )
        digests = DigestScheduler(
            deliveries, self.bodies, self.settings, self.register, DIGEST_HOUR, clock=self.clock
        )
        return deliveries, sender, digests

    async def of(self, envelope: AnyEnvelope) -> list[Delivery]:
        """The deliveries about one event."""
        ids = await self.deliveries.store.ids_where({"event_id": str(envelope.event_id)})
        found = [await self.deliveries.get(i) for i in ids]
        return [d for d in found if d is not None]

    async def all_deliveries(self) -> list[Delivery]:
        ids = await self.deliveries.store.ids_where({})
        found = [await self.deliveries.get(i) for i in ids]
        return [d for d in found if d is not None]

    async def send_all(self, *senders: Sender) -> int:
        """Let the senders (this process's by default) send, all at once, until none finds
        an email due now; how many emails they took up."""
        taken = 0
        for _ in range(100):
            batch = await asyncio.gather(*(s.send_due() for s in senders or (self.sender,)))
            if not sum(batch):
                return taken
            taken += sum(batch)
        raise AssertionError("the senders kept finding due emails")


async def notifications_with(settings: MailSettings = SETTINGS) -> Notifications:
    db = MemoryDatabase()
    clock = Clock()
    directory = InMemoryRecipients()
    await directory.seed()
    deliveries = InMemoryDeliveryLog(_store("deliveries", db, clock))
    bodies = InMemoryMessageBodies()
    register = InMemoryLetterRegister()
    mailer = FakeMailer()
    dead_letters = FakeDeadLetters()
    sender = Sender(
        deliveries, bodies, mailer, LetterPdf(), dead_letters, settings, clock=clock, rand=highest
    )
    woken: list[list[str]] = []

    def on_queued(ids: list[str], leased: list[Delivery]) -> None:
        woken.append(list(ids))
        sender.wake(ids, leased)

    view = ProposalsView(_store("proposals", db, clock))
    handlers = NotificationHandlers(
        view,
        directory,
        deliveries,
        bodies,
        settings,
        register,
        clock=clock,
        on_queued=on_queued,
        lease_seconds=LEASE_SECONDS,
    )
    digests = DigestScheduler(deliveries, bodies, settings, register, DIGEST_HOUR, clock=clock)
    return Notifications(
        db,
        clock,
        view,
        directory,
        deliveries,
        bodies,
        register,
        mailer,
        dead_letters,
        sender,
        digests,
        handlers,
        settings,
        woken,
    )


def event(event_type: str, proposal_id: str, **kwargs: object) -> AnyEnvelope:
    return sample_envelope(event_type, proposal_id=proposal_id, fixed=False, **kwargs)


def new_proposal_id() -> str:
    return builders.new_proposal_id("PRP-UT")


async def submit(notifications: Notifications, pid: str, **kwargs: object) -> AnyEnvelope:
    """A submission as the proposals service publishes it: its contacts, then the fact."""
    submitted = event("ProposalSubmitted", pid, **kwargs)
    await notifications.handlers.on_event(event("ProposalContactsRecorded", pid))
    await notifications.handlers.on_event(submitted)
    return submitted
