"""Property tests over hostile records (tests/fuzz/strategies.py), in process: reading a record,
building its dead letter and describing it for the audit log never raise anything unforeseen,
and what they produce can always be encoded and stored. `make fuzz` sends the same records
through the real broker to the running services."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import HealthCheck, given, settings

from smartcity_th.contracts.envelope import EnvelopeError, parse_record
from smartcity_th.contracts.topics import Topics
from smartcity_th.services.common.dead_letters import MAX_LETTER_BYTES, DeadLetters
from smartcity_th.services.common.record import Record
from smartcity_th.services.console.chain import canonical
from smartcity_th.services.console.records import describe
from tests.fuzz.strategies import HostileRecord, hostile_records

TOPICS = Topics()
LETTERS = DeadLetters(None, TOPICS)  # type: ignore[arg-type]  # build() needs no broker


class RawRecord:
    def __init__(self, r: HostileRecord) -> None:
        self.topic = TOPICS.name(r.topic)
        self.partition = 3
        self.offset = 7
        self.key = r.key
        self.value = r.value
        self.headers = r.headers


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile_records())
def test_no_hostile_record_breaks_parsing_dead_letters_or_the_audit_entry(
    hostile: HostileRecord,
) -> None:
    record = Record.from_consumer_record(RawRecord(hostile))
    try:
        parse_record(record.value, record.headers)
        error = "refused by the handler"
    except EnvelopeError as exc:
        error = str(exc)
    error.encode("utf-8")

    letter = LETTERS.build(record, consumer="fuzz", kind="parse", error=error, attempts=1)
    encoded = letter.model_dump_json().encode("utf-8")
    assert len(encoded) <= MAX_LETTER_BYTES
    if not letter.value_truncated:
        assert letter.value == (record.value or b"")

    content = describe(record, TOPICS, None, dt.datetime.now(dt.UTC))
    canonical(content).encode("utf-8")
    json.loads(canonical(content))
