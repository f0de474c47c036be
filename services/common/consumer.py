"""How every service consumes: parse, process with a chosen failure policy, dead-letter.

- A record that is not a valid event (bytes, JSON, schema) goes to the dead-letter topic at once.
- A record on a fact topic that its owning service did not sign, or that is not one of its facts
  (services/common/facts.py), goes to the dead-letter topic at once, kind `unverified_fact`.
- A handler that raises `Unprocessable` (e.g. an unauthorised producer) has already recorded its
  refusal; the record also goes to the dead-letter topic at once.
- An infrastructure error (MongoDB or Kafka unreachable) is retried with capped backoff for as long
  as it lasts: the consumer keeps its place and commits nothing.
- Any other error is retried `max_attempts` times with exponential backoff and jitter, then the
  record is dead-lettered and the consumer moves on.
- Whatever else goes wrong with one record (reading it, answering its producer, building its dead
  letter, a bug), the record is dead-lettered as kind "unhandled", at worst as a minimal dead letter
  (original bytes, topic, partition, offset, reason) that depends on nothing but the record's
  position and bytes, and the consumer moves on. Only Kafka or MongoDB being unreachable holds the
  position (and a dead-letter topic that refuses even the minimal letter, which no record causes).
The offset is committed only after one of these outcomes (FastStream NACK_ON_ERROR: an exception
that escapes, such as cancellation at shutdown, rewinds to the record for redelivery).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError
from faststream.kafka import KafkaBroker
from prometheus_client import Counter
from pymongo.errors import ConnectionFailure, OperationFailure, ServerSelectionTimeoutError

from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.common import canonical_uuid, safe_text
from smartcity_th.contracts.deadletter import DeadLetter
from smartcity_th.contracts.envelope import AnyEnvelope, EnvelopeError, parse_record
from smartcity_th.contracts.records import HEADER_DEAD_LETTER_KIND
from smartcity_th.contracts.refusal import Refusal
from smartcity_th.contracts.topics import (
    CONTENT_TYPE_JSON,
    HEADER_CONTENT_TYPE,
    Topics,
)
from smartcity_th.services.common import telemetry
from smartcity_th.services.common.context import Source, current_source
from smartcity_th.services.common.facts import DEAD_LETTER_KIND as UNVERIFIED_FACT
from smartcity_th.services.common.facts import FactCheck
from smartcity_th.services.common.retry import (
    AfterFailure,
    Failures,
    after_failure,
    backoff_seconds,
)

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

    @classmethod
    def refused(cls, refusal: Refusal) -> Unprocessable:
        """A refused record's dead letter: of the refusal's kind, with its reason."""
        return cls(refusal.kind.value, refusal.reason.en)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int | None = None
    """The record's Kafka timestamp (milliseconds since the epoch), if the client gave one."""
    log_append_time: bool = False
    """True when `timestamp_ms` is the broker's (the topic's `LogAppendTime`), not the
    producer's own claim."""

    @classmethod
    def from_consumer_record(cls, raw: Any) -> Record:
        """The record as the client handed it over; never raises (odd header names or values
        are coerced, so that even an unreadable record can be dead-lettered)."""
        headers: list[tuple[str, bytes]] = []
        try:
            for name, value in raw.headers or ():
                headers.append((_header_name(name), _as_bytes(value)))
        except Exception as exc:
            headers.append(("smartcity-unreadable-headers", safe_text(repr(exc), 200).encode()))
        return cls(
            topic=str(getattr(raw, "topic", "")),
            partition=_int(getattr(raw, "partition", 0)),
            offset=_int(getattr(raw, "offset", 0)),
            key=_maybe_bytes(getattr(raw, "key", None)),
            value=_maybe_bytes(getattr(raw, "value", None)),
            headers=tuple(headers),
            timestamp_ms=_timestamp(getattr(raw, "timestamp", None)),
            log_append_time=getattr(raw, "timestamp_type", None) == LOG_APPEND_TIME,
        )

    @property
    def broker_time(self) -> dt.datetime | None:
        """When the record was appended, as its timestamp says (the broker's LogAppendTime on
        the intake and fact topics; a producer's CreateTime on a topic not set to it)."""
        if self.timestamp_ms is None:
            return None
        return dt.datetime.fromtimestamp(self.timestamp_ms / 1000, dt.UTC)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("utf-8", errors="replace")
        return None


LOG_APPEND_TIME = 1
"""Kafka's timestamp type of a record stamped by the broker (0 is the producer's CreateTime)."""


def _timestamp(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _header_name(name: Any) -> str:
    if isinstance(name, bytes | bytearray):
        return bytes(name).decode("utf-8", errors="replace")
    return safe_text(name, 1000)


def _as_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return safe_text(value, 1_000_000).encode("utf-8")


def _maybe_bytes(value: Any) -> bytes | None:
    return None if value is None else _as_bytes(value)


Handler = Callable[[AnyEnvelope], Awaitable[None]]
RecordHandler = Callable[[Record], Awaitable[Any]]


# A dead letter must fit in one Kafka record (the producer's and the broker's limit is about
# 1 MiB); a larger original is carried cut, and marked so.
MAX_LETTER_BYTES = 900 * 1024
CUT_VALUE_BYTES = 64 * 1024
CUT_HEADER_BYTES = 1024
MAX_KEY_BYTES = 1024


class DeadLetters:
    """Builds and writes dead-letter records; used by every consumer. Building never fails:
    anything taken from the record is made safe text, and a letter that cannot be built whole
    falls back to a minimal one."""

    def __init__(self, broker: KafkaBroker, topics: Topics) -> None:
        self._broker = broker
        self.topics = topics

    @property
    def topic(self) -> str:
        return self.topics.deadletter

    def build(
        self,
        record: Record,
        *,
        consumer: str,
        kind: str,
        error: str,
        attempts: int,
        event_type: str | None = None,
        event_id: str | None = None,
        minimal: bool = False,
    ) -> DeadLetter:
        if not minimal:
            try:
                letter = self._letter(
                    record, consumer, kind, error, attempts, event_type, event_id, cut=False
                )
                if len(letter.model_dump_json()) <= MAX_LETTER_BYTES:
                    return letter
                return self._letter(
                    record, consumer, kind, error, attempts, event_type, event_id, cut=True
                )
            except Exception as exc:
                log.error("deadletter.build_failed", error=repr(exc)[:300], consumer=consumer)
                error = f"{error} (the full dead letter could not be built: {type(exc).__name__})"
        return self._letter(record, consumer, kind, error, attempts, None, None, cut=True)

    @staticmethod
    def _letter(
        record: Record,
        consumer: str,
        kind: str,
        error: str,
        attempts: int,
        event_type: str | None,
        event_id: str | None,
        *,
        cut: bool,
    ) -> DeadLetter:
        value = record.value or b""
        key = record.key
        headers = letter_headers(record.headers)
        truncated = False
        if cut:
            truncated = (
                len(value) > CUT_VALUE_BYTES
                or (key is not None and len(key) > MAX_KEY_BYTES)
                or len(headers) > 64
                or any(len(v) > CUT_HEADER_BYTES for v in headers.values())
            )
            value = value[:CUT_VALUE_BYTES]
            key = None if key is None else key[:MAX_KEY_BYTES]
            headers = {k: v[:CUT_HEADER_BYTES] for k, v in list(headers.items())[:64]}
        return DeadLetter(
            dead_letter_id=str(uuid.uuid4()),
            consumer=safe_text(consumer, 200),
            topic=safe_text(record.topic, 300),
            partition=max(record.partition, 0),
            offset=max(record.offset, 0),
            key_b64=None if key is None else base64.b64encode(key).decode(),
            value_b64=base64.b64encode(value).decode(),
            headers=headers,
            error_kind=safe_text(kind, 100),
            error=safe_text(error, 2000) or "(no reason given)",
            event_type=event_type if event_type in EVENTS else None,
            event_id=canonical_uuid(event_id),
            attempts=max(attempts, 1),
            dead_lettered_at=dt.datetime.now(dt.UTC),
            value_truncated=truncated,
        )

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
        minimal: bool = False,
    ) -> DeadLetter:
        letter = self.build(
            record,
            consumer=consumer,
            kind=kind,
            error=error,
            attempts=attempts,
            event_type=event_type,
            event_id=event_id,
            minimal=minimal,
        )
        key = record.key if record.key is not None and len(record.key) <= MAX_KEY_BYTES else None
        await self._broker.publish(
            letter.model_dump_json().encode("utf-8"),
            self.topics.deadletter,
            key=key,
            headers={
                HEADER_DEAD_LETTER_KIND: letter.error_kind,
                HEADER_CONTENT_TYPE: CONTENT_TYPE_JSON,
            },
        )
        DEAD_LETTERED.labels(consumer, letter.error_kind).inc()
        log.warning(
            "deadletter.sent",
            consumer=consumer,
            kind=letter.error_kind,
            error=letter.error[:300],
            topic=letter.topic,
            partition=letter.partition,
            offset=letter.offset,
            truncated=letter.value_truncated,
        )
        return letter


def letter_headers(headers: Iterable[tuple[str, bytes]]) -> dict[str, str]:
    """A record's headers as its dead letter keeps them (text; the last value of a name)."""
    return {
        safe_text(k, 200): safe_text(v.decode("utf-8", errors="replace"), 1_000_000)
        for k, v in headers
    }


# Publishing a dead letter is retried for ever (whatever the error); its delay stops growing here.
DEAD_LETTER_STEP_CAP = 6

OnInvalid = Callable[[bytes | None, EnvelopeError], Awaitable[None]]


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
        facts: FactCheck | None = None,
    ) -> None:
        self.name = name
        self._facts = facts
        self._dead_letters = dead_letters
        self._max_attempts = max_attempts
        self._base = base_delay
        self._max = max_delay

    def _delay(self, attempt: int) -> float:
        return backoff_seconds(attempt, self._base, self._max)

    async def _after_failure(
        self, record: Record, failures: Failures, exc: Exception
    ) -> AfterFailure:
        """Count, log and (unless the record is given up on) wait out one failed try."""
        next_ = after_failure(
            failures, transient=is_transient(exc), max_attempts=self._max_attempts
        )
        if next_.failures.transient > failures.transient:
            RETRIES.labels(self.name, "transient").inc()
            log.warning(
                "consumer.transient_error", attempt=next_.failures.transient, error=repr(exc)
            )
        else:
            RETRIES.labels(self.name, "processing").inc()
            log.error(
                "consumer.processing_error",
                attempt=next_.failures.processing,
                error=repr(exc)[:500],
                topic=record.topic,
                offset=record.offset,
                exc_info=next_.give_up,
            )
        if not next_.give_up:
            await asyncio.sleep(self._delay(next_.step))
        return next_

    async def _dead_letter_until_sent(
        self, record: Record, *, minimal: bool = False, **kwargs: Any
    ) -> None:
        """Publish the dead letter. Kafka unreachable: retry for as long as it lasts. Any other
        failure: fall back to the minimal letter; if even that is refused (nothing in the record
        can cause this: it is the broker or its configuration), keep the position and retry."""
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._dead_letters.send(record, consumer=self.name, minimal=minimal, **kwargs)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_transient(exc):
                    log.error(
                        "deadletter.publish_failed",
                        minimal=minimal,
                        attempt=attempt,
                        error=repr(exc)[:300],
                        topic=record.topic,
                        partition=record.partition,
                        offset=record.offset,
                    )
                    minimal = True
                await asyncio.sleep(self._delay(min(attempt, DEAD_LETTER_STEP_CAP)))

    async def refuse(self, record: Record, kind: str, error: str) -> None:
        """Dead-letter a record at once, before parsing, e.g. an unauthenticated claim."""
        CONSUMED.labels(self.name, kind).inc()
        ids = _claimed_ids(record.value)
        await self._dead_letter_until_sent(
            record,
            kind=kind,
            error=error,
            attempts=1,
            event_type=ids["event_type"],
            event_id=ids["event_id"],
        )

    async def process(
        self, raw: Any, handler: Handler, on_invalid: OnInvalid | None = None
    ) -> str | None:
        """Process one record; returns once its outcome is stored (so the offset may be
        committed): None when it was handled, else the kind of the dead letter it became.
        Raises only on cancellation (shutdown), which rewinds to the record."""
        record = Record.from_consumer_record(raw)
        try:
            return await self._process(record, handler, on_invalid)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            CONSUMED.labels(self.name, "unhandled").inc()
            log.error(
                "consumer.unhandled_error",
                error=repr(exc)[:500],
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                exc_info=True,
            )
            await self._dead_letter_until_sent(
                record, kind="unhandled", error=f"{type(exc).__name__}: {exc}", attempts=1
            )
            return "unhandled"

    async def process_record(self, raw: Any, handler: RecordHandler) -> None:
        """The same policy for a handler that takes every record as it is (the console's audit
        log): outages are retried for as long as they last; any other failure is retried
        `max_attempts` times, then the record is dead-lettered and the consumer moves on. A
        record read from the dead-letter topic is dead-lettered again only as a minimal letter,
        and never when it is this consumer's own letter (no loop)."""
        record = Record.from_consumer_record(raw)
        failures = Failures()
        while True:
            try:
                await handler(record)
                CONSUMED.labels(self.name, "processed").inc()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                next_ = await self._after_failure(record, failures, exc)
                failures = next_.failures
                if not next_.give_up:
                    continue
                CONSUMED.labels(self.name, "failed").inc()
                from_dead_letters = record.topic == self._dead_letters.topic
                if from_dead_letters and self._is_own_letter(record):
                    log.error("consumer.own_dead_letter_unprocessable", offset=record.offset)
                    return
                await self._dead_letter_until_sent(
                    record,
                    minimal=from_dead_letters,
                    kind="processing",
                    error=f"{type(exc).__name__}: {exc}",
                    attempts=failures.processing,
                )
                return

    def _is_own_letter(self, record: Record) -> bool:
        try:
            return DeadLetter.model_validate_json(record.value or b"").consumer == self.name
        except Exception:
            return False

    async def _answer_invalid(
        self, on_invalid: OnInvalid, record: Record, error: EnvelopeError
    ) -> str:
        """Let the service answer the producer of an invalid record; returns what to add to the
        dead letter's reason if that failed for a reason other than an outage."""
        failures = Failures()
        while True:
            try:
                await on_invalid(record.value, error)
                return ""
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                next_ = after_failure(failures, transient=is_transient(exc), max_attempts=1)
                if not next_.give_up:
                    failures = next_.failures
                    RETRIES.labels(self.name, "transient").inc()
                    await asyncio.sleep(self._delay(next_.step))
                    continue
                log.error("consumer.answer_failed", error=repr(exc)[:300], exc_info=True)
                return f" (answering the producer failed: {type(exc).__name__})"

    async def _process(
        self, record: Record, handler: Handler, on_invalid: OnInvalid | None
    ) -> str | None:
        try:
            envelope = parse_record(record.value, record.headers)
        except EnvelopeError as exc:
            CONSUMED.labels(self.name, "invalid").inc()
            kind = "parse" if exc.field.startswith("(") else "validation"
            note = "" if on_invalid is None else await self._answer_invalid(on_invalid, record, exc)
            await self._dead_letter_until_sent(
                record,
                kind=kind,
                error=str(exc) + note,
                attempts=1,
                event_type=exc.event_type,
                event_id=exc.event_id,
            )
            return kind

        telemetry.annotate(
            proposal_id=envelope.proposal_id,
            event_type=envelope.event_type,
            event_id=str(envelope.event_id),
        )
        refusal = (
            None
            if self._facts is None
            else self._facts.refusal(
                self._dead_letters.topics,
                topic=record.topic,
                value=record.value,
                key=record.key,
                headers=record.headers,
                received_at=record.broker_time,
                envelope=envelope,
            )
        )
        if refusal is not None:
            CONSUMED.labels(self.name, UNVERIFIED_FACT).inc()
            await self._dead_letter_until_sent(
                record,
                kind=UNVERIFIED_FACT,
                error=refusal,
                attempts=1,
                event_type=envelope.event_type,
                event_id=str(envelope.event_id),
            )
            return UNVERIFIED_FACT

        structlog.contextvars.bind_contextvars(
            event_id=str(envelope.event_id),
            event_type=envelope.event_type,
            proposal_id=envelope.proposal_id,
            correlation_id=str(envelope.correlation_id),
        )
        token = current_source.set(Source(record.topic, record.partition, record.offset))
        try:
            return await self._run(record, envelope, handler)
        finally:
            current_source.reset(token)
            structlog.contextvars.unbind_contextvars(
                "event_id", "event_type", "proposal_id", "correlation_id"
            )

    async def _run(self, record: Record, envelope: AnyEnvelope, handler: Handler) -> str | None:
        failures = Failures()
        while True:
            try:
                await handler(envelope)
                CONSUMED.labels(self.name, "processed").inc()
                return None
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
                return exc.kind
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                next_ = await self._after_failure(record, failures, exc)
                failures = next_.failures
                if not next_.give_up:
                    continue
                CONSUMED.labels(self.name, "failed").inc()
                await self._dead_letter_until_sent(
                    record,
                    kind="processing",
                    error=f"{type(exc).__name__}: {exc}",
                    attempts=failures.processing,
                    event_type=envelope.event_type,
                    event_id=str(envelope.event_id),
                )
                return "processing"


def _claimed_ids(value: bytes | None) -> dict[str, str | None]:
    """The body's event type and id, as far as it is a JSON object (for the dead letter)."""
    try:
        raw = json.loads(value or b"")
    except (ValueError, RecursionError):
        raw = None
    if not isinstance(raw, dict):
        return {"event_type": None, "event_id": None}
    return {
        key: value[:80] if isinstance(value := raw.get(key), str) else None
        for key in ("event_type", "event_id")
    }
