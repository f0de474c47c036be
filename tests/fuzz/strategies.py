"""Hypothesis strategies for hostile Kafka records: value bytes, headers and keys.

Seeds are the valid example of every event (contracts/examples.py); the strategies break them in
the ways an agency system, a buggy client or an attacker would: malformed JSON, invalid UTF-8,
lone surrogates, huge and deeply nested values, wrong types, header/body mismatches, control and
bidirectional characters, boundary lengths, unknown event types, future schema versions, and
claims that are valid events but must be refused (unknown producers, other agencies' proposals).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from smartcity_th.contracts import topics as t
from smartcity_th.contracts.catalogue import EVENTS
from smartcity_th.contracts.examples import example_envelope

# A record must fit in one produce request (about 1 MiB with the default limits).
MAX_VALUE_BYTES = 1_000_000

Headers = tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True)
class HostileRecord:
    topic: str  # bare topic name
    value: bytes | None
    key: bytes | None
    headers: Headers
    family: str  # which generator made it (for the figures)


SEEDS: dict[str, dict[str, Any]] = {
    name: json.loads(example_envelope(name).to_bytes()) for name in sorted(EVENTS)
}
CLAIM_TYPES = sorted(
    name for name, spec in EVENTS.items() if spec.owner in {"proposals", "approvals"}
)

NASTY_TEXT = [
    "",
    " ",
    "\n",
    "\x00",
    "\u202e\u2066evil\u2069",  # bidirectional overrides
    "\ufeff",
    "\u0000\u001f\u007f",
    "ก" * 501,
    "a" * 65,
    "a" * 64,
    "ab",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "'); DROP TABLE x; --",
    "{{7*7}}",
    "$where",
    "a.b",
    "\U0001f600",
    "SC-ABCDEFGH\n",
]
# Lone surrogates cannot be Python-encoded; they travel as JSON escapes, spliced in afterwards.
SURROGATE_MARK = "@@SURROGATE@@"

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(NASTY_TEXT),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=5,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc


def _delete(doc: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return doc
    node = doc
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return doc


def _dumps(doc: Any) -> bytes:
    text = json.dumps(doc, ensure_ascii=False)
    return text.replace(SURROGATE_MARK, "\\ud800").encode("utf-8")


@st.composite
def mutated_event(draw: st.DrawFn) -> tuple[bytes, str]:
    """A valid event with one to three fields broken (wrong type, nasty text, removed, extra)."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    doc = json.loads(json.dumps(SEEDS[name]))
    doc["event_id"] = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)[1:]))
        how = draw(st.sampled_from(["value", "text", "delete", "extra", "surrogate"]))
        try:
            if how == "value":
                _set(doc, path, draw(json_values))
            elif how == "text":
                _set(doc, path, draw(st.sampled_from(NASTY_TEXT)))
            elif how == "delete":
                _delete(doc, path)
            elif how == "extra" and isinstance(doc, dict):
                doc[draw(st.text(max_size=12))] = draw(json_values)
            elif how == "surrogate":
                _set(doc, path, SURROGATE_MARK)
        except (KeyError, IndexError, TypeError):
            pass
    return _dumps(doc), f"mutated:{name}"


@st.composite
def refused_claim(draw: st.DrawFn) -> tuple[bytes, str]:
    """A valid event that its consumer must refuse: an unknown or unauthorised producer, a
    proposal that does not exist, a fact forged by an agency, a newer schema version."""
    name = draw(st.sampled_from(CLAIM_TYPES))
    doc = json.loads(json.dumps(SEEDS[name]))
    doc["event_id"] = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
    doc["proposal_id"] = f"FZ-{draw(st.integers(0, 16**10)):010X}"
    twist = draw(st.sampled_from(["producer", "unknown", "version", "producer", "as-is"]))
    if twist == "producer":
        doc["producer"] = draw(
            st.sampled_from(["lg-khon-kaen-city", "pd-samyan", "cabinet-secretariat", "nobody-x"])
        )
    elif twist == "unknown":
        doc["producer"] = f"x-{draw(st.integers(0, 16**8)):08x}"
    elif twist == "version":
        doc["schema_version"] = draw(st.integers(2, 10**6))
    return _dumps(doc), f"refused:{twist}"


@st.composite
def raw_value(draw: st.DrawFn) -> tuple[bytes | None, str]:
    family = draw(
        st.sampled_from(
            [
                "bytes",
                "truncated",
                "bad-utf8",
                "surrogate-id",
                "deep",
                "huge",
                "oversized",
                "not-object",
                "unknown-type",
                "empty",
                "null",
            ]
        )
    )
    seed = _dumps(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    if family == "bytes":
        return draw(st.binary(max_size=300)), family
    if family == "truncated":
        return seed[: draw(st.integers(0, len(seed) - 1))], family
    if family == "bad-utf8":
        at = draw(st.integers(0, len(seed)))
        junk = draw(st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]))
        return seed[:at] + junk + seed[at:], family
    if family == "surrogate-id":
        which = draw(st.sampled_from(["event_id", "event_type", "proposal_id", "producer"]))
        doc = json.loads(seed)
        doc[which] = SURROGATE_MARK
        return _dumps(doc), family
    if family == "deep":
        depth = draw(st.integers(100, 200_000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        inner = opener * depth + "1" + closer * depth
        return ('{"event_type":"ProposalSubmitted","payload":' + inner + "}").encode(), family
    if family == "huge":
        size = draw(st.integers(500_000, MAX_VALUE_BYTES - 2000))
        doc = json.loads(seed)
        doc["payload"] = {"x": "ก" * (size // 3)}
        return _dumps(doc), family
    if family == "oversized":
        digits = draw(st.integers(5000, 20_000))
        return ('{"event_type":"X","schema_version":' + "9" * digits + "}").encode(), family
    if family == "not-object":
        return _dumps(draw(st.one_of(json_scalars, st.lists(json_scalars, max_size=3)))), family
    if family == "unknown-type":
        doc = json.loads(seed)
        doc["event_type"] = draw(st.one_of(st.text(max_size=30), st.sampled_from(NASTY_TEXT)))
        return _dumps(doc), family
    if family == "empty":
        return b"", family
    return None, family


header_names = st.one_of(
    st.sampled_from(
        [
            t.HEADER_EVENT_TYPE,
            t.HEADER_EVENT_ID,
            t.HEADER_SCHEMA_VERSION,
            t.HEADER_PRODUCER,
            t.HEADER_CORRELATION_ID,
            t.HEADER_CONTENT_TYPE,
            "smartcity-dead-letter-kind",
            "traceparent",
            "smartcity-signature",
        ]
    ),
    st.sampled_from(["", " ", "x" * 300, "ชื่อ", "\u202e", "a\nb"]),
)
header_values = st.one_of(
    st.none(),
    st.binary(max_size=60),
    st.sampled_from([b"\xff\xfe", b"ProposalSubmitted", b"CertificationAwarded", b"", b"\x00"]),
    st.sampled_from(NASTY_TEXT).map(lambda s: s.encode("utf-8")),
)
headers_strategy: st.SearchStrategy[Headers] = st.lists(
    st.tuples(header_names, header_values), max_size=6
).map(tuple)

keys = st.one_of(
    st.none(),
    st.binary(max_size=80),
    st.integers(1, 70).map(lambda n: b"FZ-" + b"A" * n),
    st.sampled_from(NASTY_TEXT).map(lambda s: s.encode("utf-8")),
    st.integers(2000, 60_000).map(lambda n: b"K" * n),
)


@st.composite
def values(draw: st.DrawFn) -> tuple[bytes | None, str]:
    """One generator family, chosen uniformly (one_of would favour the first ones)."""
    choice = draw(st.integers(0, 3))
    if choice == 0:
        result: tuple[bytes | None, str] = draw(mutated_event())
    elif choice == 1:
        result = draw(refused_claim())
    else:
        result = draw(raw_value())
    return result


FUZZED_TOPICS = ("intake", "proposals", "decisions", "notifications", "deadletter")


@st.composite
def hostile_records(draw: st.DrawFn) -> HostileRecord:
    value, family = draw(values())
    topic = draw(st.sampled_from(FUZZED_TOPICS))
    key = draw(keys)
    if value is None and key is None:
        key = b"FZ-tombstone"  # a record needs a key or a value (a tombstone has a key)
    return HostileRecord(
        topic=topic, value=value, key=key, headers=draw(headers_strategy), family=family
    )


def record_size(record: HostileRecord) -> int:
    return (
        len(record.value or b"")
        + len(record.key or b"")
        + sum(len(n.encode("utf-8", "replace")) + len(v or b"") for n, v in record.headers)
    )
