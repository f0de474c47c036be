"""From held emails to daily digests: at the cutoff (Thai time), each recipient's held emails
are claimed by one digest id, queued as one summary email, and settled (the rules:
`smartcity_th.services.notifications.domain`)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

import structlog

from smartcity_th.services.notifications import domain
from smartcity_th.services.notifications.domain import (
    DIGEST_TYPE,
    Clock,
    Delivery,
    MailSettings,
    next_cutoff,
    utc_now,
)
from smartcity_th.services.notifications.metrics import QUEUED
from smartcity_th.services.notifications.ports import Bodies, DeliveryLog, LetterNumbers
from smartcity_th.services.notifications.rendering import thai_day

log = structlog.get_logger(__name__)


class DigestScheduler:
    """Collects the emails held for digest recipients into one summary email each, at a daily
    cutoff (Thai time) or when asked (`send_digests(as_of)`, used by the admin API and tests)."""

    def __init__(
        self,
        log_: DeliveryLog,
        bodies: Bodies,
        settings: MailSettings,
        register: LetterNumbers,
        cutoff_hour: int,
        clock: Clock = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._log = log_
        self._bodies = bodies
        self._settings = settings
        self._register = register
        self._cutoff_hour = cutoff_hour
        self.clock = clock
        self._sleep = sleep

    async def send_digests(self, as_of: dt.datetime | None = None) -> list[str]:
        """Queue one digest per recipient with held emails; returns the digest delivery ids."""
        as_of = as_of or self.clock()
        queued: list[str] = []
        for email in await self._log.held_recipients():
            await self._log.claim_held(email, domain.digest_id(email, as_of))
        for did, items in (await self._log.claimed_items()).items():
            events = await asyncio.gather(*(self._event_value(i) for i in items))
            number = await self._register.number(
                domain.register_id(self._settings.office, thai_day(as_of)),
                did,
                now=self.clock(),
            )
            digest = domain.plan_digest(
                did, items, events, self._settings, as_of=as_of, now=self.clock(), number=number
            )
            if not await self._log.queue(digest):  # another instance queued this digest first
                included = await self._log.digested_ids(did)
            else:
                included = {i.delivery_id for i in items}
                QUEUED.labels(DIGEST_TYPE, "immediate").inc()
                queued.append(did)
            await self._log.settle_claimed(did, included)
        if queued:
            log.info("notify.digests_queued", count=len(queued), as_of=as_of.isoformat())
        return queued

    async def _event_value(self, item: Delivery) -> str | None:
        """The original event of a held email (kept with its body; inline in an older one)."""
        if item.event_value is not None:
            return item.event_value
        return await self._bodies.event_value(item.delivery_id)

    async def run(self) -> None:
        while True:
            now = self.clock()
            cutoff = next_cutoff(now, self._cutoff_hour)
            await self._sleep(max(0.0, (cutoff - now).total_seconds()))
            try:
                await self.send_digests(cutoff)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("notify.digest_error", error=repr(exc))
