"""The intake gate: a claim is acted on only if its signature verifies against a current key of
the agency it names, for the topic it was read from, signed recently enough, and its event id
was never refused before (`smartcity_th.contracts.signing.verify`, with this service's registry
projection, its claim policy and its memory of refused claims).

Runs before the claim is parsed or answered, so an unauthenticated claim changes nothing, is
answered to nobody (its `producer` is only a claim), and becomes a dead letter of kind
`unauthenticated`, counted in /metrics and listed in the console with the other dead letters.

A claim's age is judged by when the broker took it (the intake topic's `LogAppendTime`), so a
consumer that was down does not make what agencies sent on time expire. A record without the
broker's time (a topic not yet set to LogAppendTime) is judged by this service's clock instead:
stricter, never laxer.

Every claim this service refuses, here or in its handlers, is remembered by event id in the
service's own store (`refused_claims`, insert-only), and a later record with that id is refused
as `refused_before`, even if it would be valid now. A claim that failed for the service's own
reasons (`processing`, `unhandled`) is not remembered: an operator may replay it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from prometheus_client import Counter

from smartcity_th.contracts import topics
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.common import canonical_uuid, safe_text
from smartcity_th.contracts.signing import (
    Authenticated,
    ClaimPolicy,
    Unauthenticated,
    Verdict,
    verify,
)
from smartcity_th.services.common import telemetry
from smartcity_th.services.common.consumer import EventConsumer, is_transient
from smartcity_th.services.common.context import authenticated_by, refusals_noted
from smartcity_th.services.common.record import Record
from smartcity_th.services.common.registry import RegistryProjection
from smartcity_th.services.common.retry import Backoff
from smartcity_th.services.common.store import AggregateStore, Commit

log = structlog.get_logger(__name__)

CLAIMS_UNAUTHENTICATED = Counter(
    "smartcity_claims_unauthenticated_total",
    "Intake claims refused by the gate: signature, key, age, signature version, or an event id "
    "refused before",
    ["service", "reason"],
)
CLAIMS_AUTHENTICATED = Counter(
    "smartcity_claims_authenticated_total", "Intake claims with a valid signature", ["service"]
)
CLAIMS_REMEMBERED = Counter(
    "smartcity_claims_refused_remembered_total",
    "Refused claim ids this service stored, so that a re-send stays refused",
    ["service"],
)

CLAIMS_NOT_REMEMBERED = Counter(
    "smartcity_claims_refused_not_remembered_total",
    "Refused claim ids the store would not take (the claim was refused all the same)",
    ["service"],
)

NOT_REMEMBERED = frozenset({"processing", "unhandled"})
"""Dead-letter kinds that are the service's failure, not a refusal of the claim."""

Proceed = Callable[[], Awaitable[str | None]]
"""Handle the claim; None when it was handled, else the kind of the dead letter it became."""


def claimed_fields(value: bytes | None) -> tuple[str | None, str | None]:
    """The body's `producer` and `event_type`, if the value is a JSON object that has them."""
    raw = _json_object(value)
    producer, event_type = raw.get("producer"), raw.get("event_type")
    return (
        producer if isinstance(producer, str) else None,
        event_type if isinstance(event_type, str) else None,
    )


def claimed_event_id(value: bytes | None) -> str | None:
    """The body's `event_id` (canonical UUID text), if it has a valid one."""
    return canonical_uuid(_json_object(value).get("event_id"))


def _json_object(value: bytes | None) -> dict[str, Any]:
    try:
        raw = json.loads(value or b"")
    except (ValueError, RecursionError):
        return {}
    return raw if isinstance(raw, dict) else {}


def received_at(record: Record, now: dt.datetime) -> dt.datetime:
    """When the broker took the record: its LogAppendTime, else `now` (stricter)."""
    if record.log_append_time and record.timestamp_ms is not None:
        return dt.datetime.fromtimestamp(record.timestamp_ms / 1000, dt.UTC)
    return now


class RefusedClaims:
    """The ids of the claims this service refused: one aggregate of one commit per id
    (services/common/store.py), never changed, so the first refusal is the one kept."""

    def __init__(
        self,
        store: AggregateStore,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.store = store
        self._clock = clock

    async def refused(self, event_id: str) -> bool:
        return await self.store.exists(event_id)

    async def reason(self, event_id: str) -> str | None:
        state = await self.store.get(event_id)
        return None if state is None else str(state.get("reason"))

    async def remember(self, event_id: str, reason: str, record: Record) -> bool:
        """Store a refusal; False if the id was refused before."""
        producer, event_type = claimed_fields(record.value)
        state = {  # text from the record made storable (no lone surrogates, no NUL)
            "reason": safe_text(reason, 500),
            "producer": safe_text(producer, 100) if producer else None,
            "event_type": safe_text(event_type, 100) if event_type else None,
            "topic": safe_text(record.topic, 300),
            "partition": record.partition,
            "offset": record.offset,
            "at": self._clock(),
        }
        return await self.store.create(event_id, Commit(state=state, processed=[event_id]))


async def _while_unreachable(step: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Run a store step, waiting out an outage of the store (as the consumer does)."""
    backoff = Backoff(0.2, 10.0)
    while True:
        try:
            return await step()
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("claims.store_unreachable", what=what, error=repr(exc)[:300])
            await asyncio.sleep(backoff.after_failure())


class ClaimGate:
    def __init__(
        self,
        service: str,
        registry: RegistryProjection,
        refused: RefusedClaims | None = None,
        policy: ClaimPolicy | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._service = service
        self._registry = registry
        self._refused = refused
        self._policy = policy or ClaimPolicy()
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

    async def guard(self, raw: Any, consumer: EventConsumer, proceed: Proceed) -> None:
        """Let an authenticated claim never refused before (or one another service owns)
        `proceed`, with its signing key as the credential of what it causes; dead-letter the
        others. Remember the id of every claim refused here or by `proceed`."""
        record = Record.from_consumer_record(raw)
        if not self.concerns(record):
            await proceed()
            return
        _, claimed_type = claimed_fields(record.value)
        event_type = claimed_type if claimed_type in EVENTS else None  # never hostile text
        event_id = claimed_event_id(record.value)
        with telemetry.claim_span(
            f"claim {event_type or 'unknown'}",
            record.headers,
            {telemetry.ATTR_EVENT_TYPE: event_type, telemetry.ATTR_EVENT_ID: event_id},
        ):
            verdict = await self.judge(record, event_id)
            if isinstance(verdict, Unauthenticated):
                await consumer.refuse(
                    record, "unauthenticated", f"{verdict.reason}: {verdict.detail}"
                )
                if verdict.reason != "refused_before":
                    await self._remember(event_id, f"{verdict.reason}: {verdict.detail}", record)
                return
            token = authenticated_by.set(f"signature:{verdict.key_id}")
            noted: list[str] = []
            noted_token = refusals_noted.set(noted)
            try:
                outcome = await proceed()
            finally:
                refusals_noted.reset(noted_token)
                authenticated_by.reset(token)
            if outcome is not None and outcome not in NOT_REMEMBERED:
                await self._remember(event_id, f"refused ({outcome})", record)
            elif noted:
                await self._remember(event_id, noted[0], record)

    async def judge(self, record: Record, event_id: str | None) -> Verdict:
        """The signature's verdict; for an authenticated claim whose id was refused before,
        `refused_before`."""
        verdict = self.check(record)
        if not isinstance(verdict, Authenticated) or event_id is None or self._refused is None:
            return verdict
        memory = self._refused
        if not await _while_unreachable(lambda: memory.refused(event_id), "refused claims"):
            return verdict
        reason = await _while_unreachable(lambda: memory.reason(event_id), "refused claims")
        refusal = Unauthenticated(
            "refused_before",
            f"event id {event_id} was refused before ({(reason or '')[:200]}); a refused claim "
            "is never accepted later: send a new claim with a new event id",
            verdict.key_id,
        )
        self._count(refusal, record)
        return refusal

    async def _remember(self, event_id: str | None, reason: str, record: Record) -> None:
        memory = self._refused
        if event_id is None or memory is None:
            return
        try:
            stored = await _while_unreachable(
                lambda: memory.remember(event_id, reason, record), "refused claims"
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the claim is refused all the same; the consumer goes on
            CLAIMS_NOT_REMEMBERED.labels(self._service).inc()
            log.error(
                "claims.remember_failed",
                event_id=event_id,
                error=repr(exc)[:300],
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            )
            return
        if stored:
            CLAIMS_REMEMBERED.labels(self._service).inc()

    def check(self, record: Record) -> Verdict:
        producer, _ = claimed_fields(record.value)
        state = self._registry.state
        now = self._clock()
        verdict = verify(
            value=record.value or b"",
            key=record.key,
            headers=dict(record.headers),
            topic=record.topic,
            producer=producer,
            agencies=state.agencies,
            keys=state.signing_keys,
            at=now,
            policy=self._policy,
            received_at=received_at(record, now),
        )
        self._count(verdict, record)
        return verdict

    def _count(self, verdict: Verdict, record: Record) -> None:
        if isinstance(verdict, Authenticated):
            CLAIMS_AUTHENTICATED.labels(self._service).inc()
            return
        producer, _ = claimed_fields(record.value)
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
