"""Dead letters: what a record that cannot be processed becomes, on the dead-letter topic.

- `DeadLetters` builds the letter (`contracts/deadletter.py`: the original bytes, key, headers,
  topic/partition/offset, the consumer, the kind and the reason), publishes it keyed like the
  original with its kind in a header, and counts and logs it. Building never fails: text from
  the record is made safe, and a record too large to carry whole is cut to fit one Kafka record
  (`value_truncated`).
- `Unprocessable` is how a handler says that a record becomes a dead letter at once, of a kind
  and with a reason (a refusal's: `Unprocessable.refused`).

When a record is dead-lettered, and what the consumer does while the dead-letter topic is out of
reach, is the consumers' failure policy (`consumer.py`).
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Iterable

import structlog
from faststream.kafka import KafkaBroker
from prometheus_client import Counter

from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.common import canonical_uuid, safe_text
from smartcity_th.contracts.deadletter import DeadLetter
from smartcity_th.contracts.records import HEADER_DEAD_LETTER_KIND
from smartcity_th.contracts.refusal import Refusal
from smartcity_th.contracts.topics import (
    CONTENT_TYPE_JSON,
    HEADER_CONTENT_TYPE,
    Topics,
)
from smartcity_th.services.common.record import Record

log = structlog.get_logger(__name__)

DEAD_LETTERED = Counter(
    "smartcity_dead_lettered_total", "Records sent to the dead-letter topic", ["consumer", "kind"]
)


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
