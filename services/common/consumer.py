"""How every service consumes: parse, process with a chosen failure policy, dead-letter.

- A record that is not a valid event (bytes, JSON, schema) goes to the dead-letter topic at once.
- A handler that raises `Unprocessable` (e.g. an unauthorised producer) has already recorded its
  refusal; the record also goes to the dead-letter topic at once.
- An infrastructure error (MongoDB or Kafka unreachable) is retried with capped backoff for as long
  as it lasts: the consumer keeps its place and commits nothing.
- Any other error is retried `max_attempts` times with exponential backoff and jitter, then the
  record is dead-lettered and the consumer moves on.
The offset is committed only after one of these outcomes (FastStream NACK_ON_ERROR: an exception
that escapes, such as cancellation at shutdown, rewinds to the record for redelivery).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError
from faststream.kafka import KafkaBroker
from prometheus_client import Counter
from pymongo.errors import ConnectionFailure, OperationFailure, ServerSelectionTimeoutError

from contracts.deadletter import DeadLetter
from contracts.envelope import AnyEnvelope, EnvelopeError, parse_record
from contracts.topics import Topics
from services.common import telemetry
from services.common.context import Source, current_source

log = structlog.get_logger(__name__)

CONSUMED = Counter("smartcity_events_consumed_total", "Records consumed", ["consumer", "outcome"])
DEAD_LETTERED = Counter(
    "smartcity_dead_lettered_total", "Records sent to the dead-letter topic", ["consumer", "kind"]
)
RETRIES = Counter("smartcity_consumer_retries_total", "Processing retries", ["consumer", "kind"])

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionFailure,
    ServerSelectionTimeoutError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    # FerretDB answers some commands while its backend restarts with this code.
    return isinstance(exc, OperationFailure) and exc.code in {91, 189, 11600, 11602}


class Unprocessable(Exception):
    """The handler refused the event for good; it has recorded the refusal itself."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_consumer_record(cls, raw: Any) -> Record:
        return cls(
            topic=raw.topic,
            partition=raw.partition,
            offset=raw.offset,
            key=raw.key,
            value=raw.value,
            headers=tuple((k, v if v is not None else b"") for k, v in (raw.headers or ())),
        )


Handler = Callable[[AnyEnvelope], Awaitable[None]]


class DeadLetters:
    """Writes dead-letter records; used by every consumer."""

    def __init__(self, broker: KafkaBroker, topics: Topics) -> None:
        self._broker = broker
        self._topics = topics

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
    ) -> DeadLetter:
        letter = DeadLetter(
            dead_letter_id=str(uuid.uuid4()),
            consumer=consumer,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key_b64=None if record.key is None else base64.b64encode(record.key).decode(),
            value_b64=base64.b64encode(record.value or b"").decode(),
            headers={k: v.decode("utf-8", errors="replace") for k, v in record.headers},
            error_kind=kind,
            error=error[:2000],
            event_type=event_type,
            event_id=event_id,
            attempts=attempts,
            dead_lettered_at=dt.datetime.now(dt.UTC),
        )
        await self._broker.publish(
            letter.model_dump_json().encode("utf-8"),
            self._topics.deadletter,
            key=record.key,
            headers={"smartcity-dead-letter-kind": kind, "content-type": "application/json"},
        )
        DEAD_LETTERED.labels(consumer, kind).inc()
        log.warning(
            "deadletter.sent",
            consumer=consumer,
            kind=kind,
            error=error[:300],
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        return letter


class EventConsumer:
    """Applies the failure policy above around one handler."""

    def __init__(
        self,
        name: str,
        dead_letters: DeadLetters,
        *,
        max_attempts: int = 5,
        base_delay: float = 0.2,
        max_delay: float = 10.0,
    ) -> None:
        self.name = name
        self._dead_letters = dead_letters
        self._max_attempts = max_attempts
        self._base = base_delay
        self._max = max_delay

    def _delay(self, attempt: int) -> float:
        ceiling = min(self._max, self._base * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)

    async def _dead_letter_until_sent(self, record: Record, **kwargs: Any) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._dead_letters.send(record, consumer=self.name, **kwargs)
                return
            except Exception as exc:
                if not is_transient(exc) and attempt >= self._max_attempts:
                    raise
                await asyncio.sleep(self._delay(min(attempt, 6)))

    async def process(self, raw: Any, handler: Handler) -> None:
        record = Record.from_consumer_record(raw)
        try:
            envelope = parse_record(record.value, record.headers)
        except EnvelopeError as exc:
            CONSUMED.labels(self.name, "invalid").inc()
            kind = "parse" if exc.field.startswith("(") else "validation"
            await self._dead_letter_until_sent(
                record,
                kind=kind,
                error=str(exc),
                attempts=1,
                event_type=exc.event_type,
                event_id=exc.event_id,
            )
            return

        telemetry.annotate(
            proposal_id=envelope.proposal_id,
            event_type=envelope.event_type,
            event_id=str(envelope.event_id),
        )
        structlog.contextvars.bind_contextvars(
            event_id=str(envelope.event_id),
            event_type=envelope.event_type,
            proposal_id=envelope.proposal_id,
            correlation_id=str(envelope.correlation_id),
        )
        token = current_source.set(Source(record.topic, record.partition, record.offset))
        try:
            await self._run(record, envelope, handler)
        finally:
            current_source.reset(token)
            structlog.contextvars.unbind_contextvars(
                "event_id", "event_type", "proposal_id", "correlation_id"
            )

    async def _run(self, record: Record, envelope: AnyEnvelope, handler: Handler) -> None:
        failures = 0
        transient = 0
        while True:
            try:
                await handler(envelope)
                CONSUMED.labels(self.name, "processed").inc()
                return
            except Unprocessable as exc:
                CONSUMED.labels(self.name, exc.kind).inc()
                await self._dead_letter_until_sent(
                    record,
                    kind=exc.kind,
                    error=exc.reason,
                    attempts=1,
                    event_type=envelope.event_type,
                    event_id=str(envelope.event_id),
                )
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_transient(exc):
                    transient += 1
                    RETRIES.labels(self.name, "transient").inc()
                    log.warning("consumer.transient_error", attempt=transient, error=repr(exc))
                    await asyncio.sleep(self._delay(min(transient, 7)))
                    continue
                failures += 1
                RETRIES.labels(self.name, "processing").inc()
                log.error(
                    "consumer.processing_error",
                    attempt=failures,
                    error=repr(exc),
                    exc_info=failures >= self._max_attempts,
                )
                if failures >= self._max_attempts:
                    CONSUMED.labels(self.name, "failed").inc()
                    await self._dead_letter_until_sent(
                        record,
                        kind="processing",
                        error=f"{type(exc).__name__}: {exc}",
                        attempts=failures,
                        event_type=envelope.event_type,
                        event_id=str(envelope.event_id),
                    )
                    return
                await asyncio.sleep(self._delay(failures))
