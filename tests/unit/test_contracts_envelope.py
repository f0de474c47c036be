"""`parse_record`: a typed envelope, or an `EnvelopeError` that names the field. Nothing else.

Property-based: valid envelopes generated from the models (the examples of every event type)
are mutated (fields dropped, retyped, added; huge strings, deep nesting; garbage bytes; wrong
headers) and fed to the parser.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from smartcity_th.contracts import topics
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.common import AGENCY_ID_PATTERN, PROPOSAL_ID_PATTERN
from smartcity_th.contracts.envelope import (
    MAX_RECORD_BYTES,
    SCHEMA_VERSION,
    AnyEnvelope,
    EnvelopeError,
    new_envelope,
    parse_record,
)
from smartcity_th.contracts.examples import PAYLOADS, example_envelope

EVENT_TYPES = sorted(EVENTS)
Path = tuple[str | int, ...]

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _valid(event_type: str) -> tuple[dict[str, Any], dict[str, str]]:
    envelope = example_envelope(event_type)
    return envelope.model_dump(mode="json"), envelope.headers()


def _paths(node: Any, prefix: Path = ()) -> list[Path]:
    out: list[Path] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((*prefix, key))
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.append((*prefix, index))
            out.extend(_paths(value, (*prefix, index)))
    return out


def _dotted(path: Path) -> str:
    def name(part: str | int) -> str:
        text = str(part)
        plain = text.strip() and text.isprintable() and "." not in text and text == text.strip()
        return text if plain else json.dumps(text)

    return ".".join(name(part) for part in path)


def _parent(doc: Any, path: Path) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


def _parse_or_error(value: Any, headers: Any = ()) -> AnyEnvelope | EnvelopeError:
    """The parser's answer; any exception other than EnvelopeError fails the test."""
    try:
        return parse_record(value, headers)
    except EnvelopeError as exc:
        error = exc
    assert error.field.strip(), f"error without a field: {error!r}"
    assert error.reason.strip(), f"error without a reason: {error!r}"
    assert str(error).startswith(error.field)
    return error


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)


@st.composite
def special_values(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["huge", "deep", "json", "control", "number"]))
    if kind == "huge":
        return draw(st.sampled_from(["ก", "x", "🏙"])) * draw(st.integers(501, 30_000))
    if kind == "deep":
        value: Any = "bottom"
        for _ in range(draw(st.integers(10, 400))):
            value = [value] if draw(st.booleans()) else {"n": value}
        return value
    if kind == "control":
        return draw(st.text(alphabet=st.characters(max_codepoint=0x1F), min_size=1))
    if kind == "number":
        return draw(st.sampled_from([10**400, -1, 0, 2**63, 1.5e308, -0.0]))
    return draw(json_values)


@st.composite
def valid_envelopes(draw: st.DrawFn) -> AnyEnvelope:
    """Valid envelopes built through the models: any event type, ids, producer, proposal id,
    times in any timezone, with or without a cause."""
    event_type = draw(st.sampled_from(EVENT_TYPES))
    payload, _ = PAYLOADS[event_type]
    offset = dt.timedelta(minutes=draw(st.integers(-14 * 60, 14 * 60)))
    occurred = draw(
        st.datetimes(min_value=dt.datetime(2000, 1, 2), max_value=dt.datetime(2100, 1, 1))
    ).replace(tzinfo=dt.timezone(offset))
    cause = example_envelope(draw(st.sampled_from(EVENT_TYPES))) if draw(st.booleans()) else None
    return new_envelope(
        payload,
        producer=draw(st.from_regex(AGENCY_ID_PATTERN, fullmatch=True)),
        proposal_id=draw(st.from_regex(PROPOSAL_ID_PATTERN, fullmatch=True)),
        cause=cause,
        occurred_at=occurred,
        event_id=draw(st.uuids()),
    )


@st.composite
def mutated_documents(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, str]]:
    envelope = draw(valid_envelopes())
    doc, headers = envelope.model_dump(mode="json"), envelope.headers()
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(doc, path)
        op = draw(st.sampled_from(["drop", "retype", "special", "extra"]))
        if op == "drop":
            del parent[path[-1]]
        elif op == "retype":
            parent[path[-1]] = draw(json_values)
        elif op == "special":
            parent[path[-1]] = draw(special_values())
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=20))] = draw(json_values)
    return doc, headers


header_values = st.none() | st.binary(max_size=40) | st.text(max_size=40) | st.integers()
header_names = st.sampled_from(
    [topics.HEADER_EVENT_TYPE, topics.HEADER_EVENT_ID, topics.HEADER_PRODUCER, "x-other"]
) | st.text(max_size=20)
garbage_headers = (
    st.lists(st.tuples(header_names, header_values), max_size=6)
    | st.dictionaries(header_names, header_values, max_size=6)
    | st.lists(st.lists(st.binary(max_size=5), max_size=3), max_size=3)
    | st.integers()
    | st.none()
    | st.text(max_size=10)
)


@st.composite
def corrupted_bytes(draw: st.DrawFn) -> bytes:
    doc, _ = _valid(draw(st.sampled_from(EVENT_TYPES)))
    data = bytearray(json.dumps(doc, ensure_ascii=False).encode("utf-8"))
    op = draw(st.sampled_from(["truncate", "flip", "insert", "prefix"]))
    if op == "truncate":
        del data[draw(st.integers(0, len(data) - 1)) :]
    elif op == "flip":
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif op == "insert":
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=30))
    else:
        data[0:0] = draw(st.binary(min_size=1, max_size=30))
    return bytes(data)


# --- the properties -----------------------------------------------------------------------------


@PROPERTY
@given(valid_envelopes())
def test_valid_envelopes_round_trip(envelope: AnyEnvelope) -> None:
    parsed = parse_record(envelope.to_bytes(), envelope.headers())
    assert parsed == envelope
    assert parsed.occurred_at.utcoffset() == dt.timedelta(0)


@PROPERTY
@given(mutated_documents(), garbage_headers | st.just(()))
def test_mutated_envelopes_give_an_envelope_or_a_named_error(
    document: tuple[dict[str, Any], dict[str, str]], headers: Any
) -> None:
    doc, good_headers = document
    value = json.dumps(doc, ensure_ascii=False).encode("utf-8")
    _parse_or_error(value, headers)
    _parse_or_error(value, good_headers)


@PROPERTY
@given(st.binary(max_size=2000) | corrupted_bytes(), garbage_headers)
def test_garbage_bytes_and_headers_give_a_named_error(value: bytes, headers: Any) -> None:
    _parse_or_error(value, headers)


@PROPERTY
@given(json_values | special_values())
def test_any_json_value_gives_an_envelope_or_a_named_error(value: Any) -> None:
    assert isinstance(_parse_or_error(json.dumps(value).encode()), EnvelopeError)


@PROPERTY
@given(st.sampled_from(EVENT_TYPES), st.data())
def test_dropping_a_field_names_that_field(event_type: str, data: st.DataObject) -> None:
    doc, headers = _valid(event_type)
    path = data.draw(st.sampled_from(_paths(doc)))
    assume(not isinstance(path[-1], int))
    del _parent(doc, path)[path[-1]]
    result = _parse_or_error(json.dumps(doc).encode(), headers)
    if isinstance(result, EnvelopeError):
        assert result.field == _dotted(path), result
        assert result.reason


@PROPERTY
@given(st.sampled_from(EVENT_TYPES), st.data())
def test_a_wrongly_typed_field_is_named(event_type: str, data: st.DataObject) -> None:
    doc, headers = _valid(event_type)
    path = data.draw(st.sampled_from(_paths(doc)))
    _parent(doc, path)[path[-1]] = {"not": ["what", "was", "expected"]}
    result = _parse_or_error(json.dumps(doc).encode(), headers)
    assert isinstance(result, EnvelopeError)
    dotted = _dotted(path)
    assert result.field == dotted or result.field.startswith(f"{dotted}."), result


@PROPERTY
@given(st.sampled_from(EVENT_TYPES), st.data(), st.text(min_size=1, max_size=30))
def test_an_unknown_field_is_named(event_type: str, data: st.DataObject, name: str) -> None:
    doc, headers = _valid(event_type)
    objects = [()] + [p for p in _paths(doc) if isinstance(_parent(doc, (*p, "")), dict)]
    path = data.draw(st.sampled_from(objects))
    target = _parent(doc, (*path, ""))
    assume(name not in target)
    target[name] = 1
    result = _parse_or_error(json.dumps(doc).encode(), headers)
    assert isinstance(result, EnvelopeError)
    assert result.field == _dotted((*path, name)), result


# --- precise cases ------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_example_parses_with_and_without_headers(event_type: str) -> None:
    envelope = example_envelope(event_type)
    assert parse_record(envelope.to_bytes(), envelope.headers()) == envelope
    assert parse_record(envelope.to_bytes()) == envelope
    as_kafka = [(k, v.encode()) for k, v in envelope.headers().items()]
    assert parse_record(bytearray(envelope.to_bytes()), as_kafka) == envelope


def _error(value: Any, headers: Any = ()) -> EnvelopeError:
    with pytest.raises(EnvelopeError) as info:
        parse_record(value, headers)
    return info.value


@pytest.mark.parametrize(
    ("value", "field", "reason"),
    [
        (None, "(value)", "no value"),
        (b"", "(value)", "no value"),
        ("text", "(value)", "expected bytes"),
        (b"\xff\xfe", "(value)", "not UTF-8"),
        (b"{", "(value)", "not JSON"),
        (b"[1]", "(value)", "JSON object"),
        (b"[" * 50_000, "(value)", "nesting too deep"),
        (b"1" * 5000, "(value)", "not JSON"),
        (b"{}", "event_type", "missing"),
        (b'{"event_type": "Nope"}', "event_type", "unknown event type"),
        (b" " * (MAX_RECORD_BYTES + 1), "(value)", "limit"),
    ],
)
def test_unreadable_records(value: Any, field: str, reason: str) -> None:
    error = _error(value)
    assert error.field == field
    assert reason in error.reason


def test_header_event_type_must_match_the_body() -> None:
    envelope = example_envelope("SubcommitteeApproved")
    headers = envelope.headers() | {topics.HEADER_EVENT_TYPE: "CabinetEndorsed"}
    error = _error(envelope.to_bytes(), headers)
    assert error.field == f"headers.{topics.HEADER_EVENT_TYPE}"
    assert error.event_type == "SubcommitteeApproved"
    assert error.event_id == str(envelope.event_id)


def test_header_event_id_must_match_the_body() -> None:
    envelope = example_envelope("SubcommitteeApproved")
    headers = envelope.headers() | {topics.HEADER_EVENT_ID: str(uuid.uuid4()).encode()}
    assert _error(envelope.to_bytes(), headers).field == f"headers.{topics.HEADER_EVENT_ID}"


def test_payload_event_type_must_match_the_envelope() -> None:
    doc, _ = _valid("CabinetEndorsed")
    doc["payload"]["event_type"] = "CabinetReturned"
    assert _error(json.dumps(doc).encode()).field == "payload.event_type"


def test_a_newer_schema_version_is_refused() -> None:
    doc, _ = _valid("ProposalWithdrawn")
    doc["schema_version"] = SCHEMA_VERSION + 1
    error = _error(json.dumps(doc).encode())
    assert error.field == "schema_version"
    assert "newer" in error.reason


@pytest.mark.parametrize(
    ("where", "value", "field"),
    [
        (("occurred_at",), "2022-08-06T10:00:00", "occurred_at"),
        (("occurred_at",), "0001-01-01T00:00:00+01:00", "occurred_at"),
        (("payload", "meeting", "held_on"), "6 Aug 2022", "payload.meeting.held_on"),
        (("payload", "meeting", "meeting_id"), "1/2022", "payload.meeting.meeting_id"),
        (("payload", "meeting", "chair", "th"), " ", "payload.meeting.chair.th"),
        (("payload", "resolution", "en"), "x" * 20_001, "payload.resolution.en"),
        (("producer",), "Not An Id", "producer"),
    ],
)
def test_bad_values_name_the_field(where: Path, value: Any, field: str) -> None:
    doc, headers = _valid("SubcommitteeApproved")
    _parent(doc, where)[where[-1]] = value
    assert _error(json.dumps(doc).encode(), headers).field == field


def test_errors_are_short_even_for_huge_input() -> None:
    doc, _ = _valid("ProposalSubmitted")
    doc["payload"]["contact_emails"] = ["not-an-email-" + "x" * 100_000]
    error = _error(json.dumps(doc).encode())
    assert error.field == "payload.contact_emails.0"
    assert len(str(error)) < 500


def test_the_original_document_is_not_changed_by_parsing() -> None:
    doc, headers = _valid("CertificationAwarded")
    before = copy.deepcopy(doc)
    parse_record(json.dumps(doc).encode(), headers)
    assert doc == before
