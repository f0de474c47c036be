"""The intake gate: a claim is acted on only if its signature verifies against a current key of
the agency it names (`smartcity_th.contracts.signing.verify`, with this service's registry
projection).

Runs before the claim is parsed or answered, so an unauthenticated claim changes nothing, is
answered to nobody (its `producer` is only a claim), and becomes a dead letter of kind
`unauthenticated`, counted in /metrics and listed in the console with the other dead letters.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from prometheus_client import Counter

from smartcity_th.contracts import topics
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.signing import Authenticated, Unauthenticated, Verdict, verify
from smartcity_th.services.common.consumer import EventConsumer, Record
from smartcity_th.services.common.context import authenticated_by
from smartcity_th.services.common.registry import RegistryProjection

log = structlog.get_logger(__name__)

CLAIMS_UNAUTHENTICATED = Counter(
    "smartcity_claims_unauthenticated_total",
    "Intake claims refused because their signature did not authenticate them",
    ["service", "reason"],
)
CLAIMS_AUTHENTICATED = Counter(
    "smartcity_claims_authenticated_total", "Intake claims with a valid signature", ["service"]
)


def claimed_fields(value: bytes | None) -> tuple[str | None, str | None]:
    """The body's `producer` and `event_type`, if the value is a JSON object that has them."""
    try:
        raw = json.loads(value or b"")
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(raw, dict):
        return None, None
    producer, event_type = raw.get("producer"), raw.get("event_type")
    return (
        producer if isinstance(producer, str) else None,
        event_type if isinstance(event_type, str) else None,
    )


class ClaimGate:
    def __init__(
        self,
        service: str,
        registry: RegistryProjection,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._service = service
        self._registry = registry
        self._clock = clock

    def concerns(self, record: Record) -> bool:
        """Is this a claim this service would act on or answer (by its event-type header or
        its body)?"""
        header_type = dict(record.headers).get(topics.HEADER_EVENT_TYPE)
        named = {
            header_type.decode("utf-8", "replace") if header_type else None,
            claimed_fields(record.value)[1],
        }
        return any(
            (spec := EVENTS.get(t or "")) is not None and spec.owner == self._service for t in named
        )

    async def guard(
        self, raw: Any, consumer: EventConsumer, proceed: Callable[[], Awaitable[None]]
    ) -> None:
        """Let an authenticated claim (or one another service owns) `proceed`, with its signing
        key as the credential of what it causes; dead-letter an unauthenticated one."""
        record = Record.from_consumer_record(raw)
        if not self.concerns(record):
            await proceed()
            return
        verdict = self.check(record)
        if isinstance(verdict, Unauthenticated):
            await consumer.refuse(record, "unauthenticated", f"{verdict.reason}: {verdict.detail}")
            return
        token = authenticated_by.set(f"signature:{verdict.key_id}")
        try:
            await proceed()
        finally:
            authenticated_by.reset(token)

    def check(self, record: Record) -> Verdict:
        producer, _ = claimed_fields(record.value)
        state = self._registry.state
        verdict = verify(
            value=record.value or b"",
            key=record.key,
            headers=dict(record.headers),
            producer=producer,
            agencies=state.agencies,
            keys=state.signing_keys,
            at=self._clock(),
        )
        if isinstance(verdict, Authenticated):
            CLAIMS_AUTHENTICATED.labels(self._service).inc()
        else:
            CLAIMS_UNAUTHENTICATED.labels(self._service, verdict.reason).inc()
            log.warning(
                "claim.unauthenticated",
                reason=verdict.reason,
                detail=verdict.detail,
                claimed_producer=(producer or "")[:80],
                key_id=verdict.key_id,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            )
        return verdict
