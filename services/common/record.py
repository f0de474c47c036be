"""A Kafka record as the client handed it over, made safe to carry: what the consumers' failure
policy (`consumer.py`), the claim gate, the dead letters (`dead_letters.py`) and the console's
audit log read. Building one never fails, so that even an unreadable record can be dead-lettered.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from smartcity_th.contracts.common import safe_text


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
