"""The intake gate's pure parts: which time a claim's age is judged by, and which id a refusal
is remembered under."""

from __future__ import annotations

import datetime as dt

from smartcity_th.services.common.claims import claimed_event_id, received_at
from smartcity_th.services.common.record import Record

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
BROKER = dt.datetime(2026, 12, 6, 11, 0, 0, 250000, tzinfo=dt.UTC)


def record(timestamp_ms: int | None, log_append_time: bool) -> Record:
    return Record("smartcity.intake", 0, 1, b"K", b"{}", (), timestamp_ms, log_append_time)


def test_a_claims_age_is_judged_by_the_brokers_time_when_the_broker_stamped_it() -> None:
    stamped = record(int(BROKER.timestamp() * 1000), log_append_time=True)
    assert received_at(stamped, NOW) == BROKER


def test_a_producers_own_timestamp_is_not_trusted_the_services_clock_is_used() -> None:
    """A topic not (yet) set to LogAppendTime: CreateTime is the producer's word, so the
    service's clock judges (stricter: a consumer's lag then counts against the claim)."""
    claimed = record(int(BROKER.timestamp() * 1000), log_append_time=False)
    assert received_at(claimed, NOW) == NOW
    assert received_at(record(None, log_append_time=True), NOW) == NOW


def test_a_refusal_is_remembered_under_the_claims_canonical_event_id() -> None:
    upper = b'{"event_id": "0B7E5C1A-8D5F-4C2E-9A51-3F0D7A6B2C11"}'
    assert claimed_event_id(upper) == "0b7e5c1a-8d5f-4c2e-9a51-3f0d7a6b2c11"
    for unreadable in (b"", b"[1]", b'{"event_id": "x"}', b'{"event_id": 7}', b"\xff"):
        assert claimed_event_id(unreadable) is None
