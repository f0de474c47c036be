"""How every service consumes: parse, verify, process with a chosen failure policy, and
dead-letter what cannot be processed (the letters themselves: `dead_letters.py`).

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
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError
from prometheus_client import Counter
from pymongo.errors import ConnectionFailure, OperationFailure, ServerSelectionTimeoutError

from smartcity_th.contracts.deadletter import DeadLetter
from smartcity_th.contracts.envelope import AnyEnvelope, EnvelopeError, parse_record
from smartcity_th.services.common import telemetry
from smartcity_th.services.common.context import Source, current_source
from smartcity_th.services.common.dead_letters import DeadLetters, Unprocessable
from smartcity_th.services.common.facts import DEAD_LETTER_KIND as UNVERIFIED_FACT
from smartcity_th.services.common.facts import FactCheck
from smartcity_th.services.common.record import Record
from smartcity_th.services.common.retry import (
    AfterFailure,
    Failures,
    after_failure,
    backoff_seconds,
)

log = structlog.get_logger(__name__)

CONSUMED = Counter("smartcity_events_consumed_total", "Records consumed", ["consumer", "outcome"])
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


Handler = Callable[[AnyEnvelope], Awaitable[None]]
RecordHandler = Callable[[Record], Awaitable[Any]]

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
