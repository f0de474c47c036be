"""Every console page and every `smartcity ... --output json` view renders any stored record
(issue 24): Hypothesis makes hostile records (JSON nested past any recursion limit, values of
about 1 MB, invalid UTF-8, control and bidirectional characters, huge header sets, and the fuzz
campaign's mutated events, tests/fuzz/strategies.py) and sends each through the real broker to
the dead-letter topic (as a dead letter carrying it, or as raw bytes) or to an event topic; once
the console running as a process has stored it, every page and API route that shows it, and
every CLI view, is loaded: none answers 5xx, no CLI view crashes, every JSON view parses.

Bounded: `SMARTCITY_HOSTILE_EXAMPLES` examples (default 24)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import os
import re
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from pymongo import MongoClient
from typer.testing import CliRunner

from smartcity_th.contracts.topics import Topics
from smartcity_th.services.console.cli import app as cli
from tests.fuzz.strategies import NASTY_TEXT, SEEDS, headers_strategy, keys, values
from tests.support import MONGO, Namespace, ServiceProcess, kafka_client

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("SMARTCITY_HOSTILE_EXAMPLES", "24"))
# One Kafka record (value, key, headers) must fit the broker's 1 MiB limit; a dead letter
# carries its value in base64 (4/3 the size) and its headers as JSON, where a control character
# takes six bytes (\u001b): 500 KB of value (667 KB in base64), up to 240 KB of escaped headers
# and the record's own 40 KB of headers still fit.
MAX_RECORD_VALUE = 1_000_000
MAX_LETTER_VALUE = 500_000
BIDI_AND_CONTROL = "\u202e\u2066\u2067\u2068\u2069\u200f\u061c\x1b[31m\x07\x08\x7f\x9b\r\v\f"

Headers = tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True)
class Hostile:
    topic: str  # bare topic name
    value: bytes | None
    key: bytes | None
    headers: Headers
    family: str

    def __repr__(self) -> str:
        size = len(self.value or b"")
        return f"Hostile({self.family} on {self.topic}: {size} bytes, {len(self.headers)} headers)"


HEADER_BUDGET = 40_000
"""Bytes of headers a hostile record carries at most."""


def _deep(depth: int, opener: str, closer: str) -> bytes:
    inner = opener * depth + "1" + closer * depth
    return ('{"event_type":"ProposalSubmitted","payload":' + inner + "}").encode()


nasty = st.one_of(
    st.sampled_from(NASTY_TEXT),
    st.text(alphabet=st.sampled_from(BIDI_AND_CONTROL + "ก<>&\"'"), min_size=1, max_size=60),
)


@st.composite
def hostile_values(draw: st.DrawFn, limit: int) -> tuple[bytes | None, str]:
    family = draw(st.sampled_from(["deep", "huge", "bad-utf8", "bidi-control", "fuzz"]))
    if family == "deep":  # far past Python's recursion limit (and MongoDB's nesting limit)
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        # Within `limit` whatever the brackets: `{"a":` and `}` take six bytes a level (the
        # depth bounded by limit // 2 alone once made a 1.2 MB letter no producer can send).
        per_level = len(opener) + len(closer)
        depth = draw(st.integers(1_100, min(200_000, limit // per_level - 100)))
        return _deep(depth, opener, closer), family
    if family == "huge":
        size = draw(st.integers(limit - 50_000, limit - 2_000))
        if draw(st.booleans()):
            doc = dict(SEEDS["ProposalSubmitted"])
            doc["payload"] = {"x": "ก" * (size // 3)}
            return json.dumps(doc, ensure_ascii=False).encode()[:limit], family
        return draw(st.binary(min_size=64, max_size=64)) * (size // 64), family
    if family == "bad-utf8":
        seed = json.dumps(SEEDS[draw(st.sampled_from(sorted(SEEDS)))]).encode()
        at = draw(st.integers(0, len(seed)))
        junk = draw(st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80\x80"]))
        return seed[:at] + junk + seed[at:], family
    if family == "bidi-control":
        doc = json.loads(json.dumps(SEEDS[draw(st.sampled_from(sorted(SEEDS)))]))
        text = draw(nasty)
        doc["producer"] = text
        doc["payload"] = {k: text for k in doc.get("payload") or {"x": 1}}
        return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode(), family
    value, fuzz_family = draw(values())
    return (value[:limit] if value else value), f"fuzz:{fuzz_family}"


@st.composite
def hostile_headers(draw: st.DrawFn) -> Headers:
    if draw(st.booleans()):
        return draw(headers_strategy)
    count = draw(st.integers(200, 2_000))  # a huge header set
    value = draw(nasty).encode("utf-8", "surrogatepass")
    # ...that still fits in one record beside its value (the broker takes 1 MB): a long value
    # repeated 2,000 times came to 2.3 MB, which no producer can send.
    count = min(count, HEADER_BUDGET // (len(value) + 16))
    return tuple((f"x-{i}{BIDI_AND_CONTROL[i % 8]}", value) for i in range(count))


@st.composite
def dead_letter_value(draw: st.DrawFn) -> tuple[bytes, str]:
    """A dead letter as any writer of the dead-letter topic could make one: valid as a
    letter, hostile in everything it carries. Built as JSON by hand (so that it may carry what
    the model would refuse: the console then stores it as an unreadable letter)."""
    value, family = draw(hostile_values(MAX_LETTER_VALUE))
    letter_id = draw(
        st.one_of(st.just(str(uuid.uuid4())), nasty, st.sampled_from(["../x", "a/b", "%00"]))
    )
    headers = dict(draw(hostile_headers()))
    letter = {
        "dead_letter_id": letter_id,
        "consumer": draw(st.one_of(st.just("proposals"), nasty)),
        "topic": draw(st.sampled_from(["smartcity.intake", "smartcity.decisions", "x"])),
        "partition": draw(st.integers(0, 2**31)),
        "offset": draw(st.integers(0, 2**62)),
        "key_b64": base64.b64encode(draw(keys) or b"").decode(),
        "value_b64": base64.b64encode(value or b"").decode(),
        "headers": {k: (v or b"").decode("utf-8", "replace") for k, v in headers.items()},
        "error_kind": draw(st.sampled_from(["parse", "unauthenticated", "unhandled"])),
        "error": draw(nasty) * draw(st.integers(1, 50)),
        "event_type": draw(st.one_of(st.none(), nasty, st.just("ProposalSubmitted"))),
        "event_id": draw(st.one_of(st.none(), nasty)),
        "attempts": draw(st.integers(1, 5)),
        "dead_lettered_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    return json.dumps(letter, ensure_ascii=False).encode("utf-8", "surrogatepass"), family


@st.composite
def hostile_records(draw: st.DrawFn) -> Hostile:
    channel = draw(st.sampled_from(["dead-letter", "raw-dead-letter", "event"]))
    key = draw(st.one_of(keys, st.integers(1, 40).map(lambda n: b"FZ-" + b"B" * n)))
    if key is not None and len(key) > 10_000:
        key = key[:10_000]
    headers = draw(hostile_headers())
    if channel == "dead-letter":
        letter, family = draw(dead_letter_value())
        return Hostile("deadletter", letter, key, headers, f"letter:{family}")
    value, family = draw(hostile_values(MAX_RECORD_VALUE - 60_000))
    topic = (
        "deadletter"
        if channel == "raw-dead-letter"
        else draw(st.sampled_from(["intake", "proposals", "decisions", "notifications"]))
    )
    return Hostile(topic, value, key if key or value else b"FZ-tombstone", headers, family)


# ---- what is loaded for each stored record


def assert_answers(resp: httpx.Response, what: str, allowed: frozenset[int]) -> None:
    assert resp.status_code < 500, f"{what}: {resp.status_code} {resp.text[:500]}"
    assert resp.status_code in allowed, f"{what}: {resp.status_code} {resp.text[:300]}"
    if resp.headers.get("content-type", "").startswith("application/json"):
        resp.json()


OK = frozenset({200})
OK_OR_ABSENT = frozenset({200, 404})


def pages_for(entry: dict[str, Any]) -> list[tuple[str, frozenset[int]]]:
    pages = [
        ("/events", OK),
        ("/deadletters", OK),
        ("/deliveries", OK),
        ("/registry", OK),
        ("/pipeline", OK),
    ]
    pid = entry.get("proposal_id")
    if pid:
        quoted = urllib.parse.quote(pid, safe="")
        pages += [(f"/proposals/{quoted}", OK), (f"/events?proposal={quoted}", OK)]
    return pages


def api_for(entry: dict[str, Any]) -> list[tuple[str, frozenset[int]]]:
    seq = int(entry["seq"])
    routes = [
        ("/api/events?newest=true&limit=100", OK),
        (f"/api/events?after_seq={seq - 1}&limit=5", OK),
        (f"/api/audit/entries?after_seq={seq - 1}&limit=5", OK),
        ("/api/deadletters", OK),
        ("/api/deliveries", OK),
        ("/api/registry", OK),
        ("/api/pipeline", OK),
    ]
    letter = entry.get("dead_letter_id")
    if letter:
        routes.append((f"/api/deadletters/{urllib.parse.quote(letter, safe='')}", OK_OR_ABSENT))
    pid = entry.get("proposal_id")
    if pid:
        quoted = urllib.parse.quote(pid, safe="")
        for view in ("timeline", "stages", "traces"):
            routes.append((f"/api/proposals/{quoted}/{view}", OK))
    return routes


def cli_views_for(entry: dict[str, Any]) -> list[tuple[list[str], frozenset[int]]]:
    views: list[tuple[list[str], frozenset[int]]] = [
        (["events", "tail", "-n", "100"], frozenset({0})),
        (["deadletters", "list"], frozenset({0})),
        (["registry"], frozenset({0})),
        (["pipeline"], frozenset({0})),
    ]
    letter = entry.get("dead_letter_id")
    if letter:
        views.append((["deadletters", "show", letter], frozenset({0, 1})))
    pid = entry.get("proposal_id")
    if pid:
        views += [
            (["timeline", pid], frozenset({0})),
            (["trace", pid], frozenset({0, 1})),  # 1: no traced events for it
        ]
    return views


def run_cli(args: list[str], env: dict[str, str], allowed: frozenset[int], json_out: bool) -> None:
    full = [*args, "--output", "json"] if json_out else args
    result = CliRunner().invoke(cli, full, env=env)
    what = f"smartcity {' '.join(full)[:200]}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{what} crashed: {result.exception!r}") from result.exception
    assert result.exit_code in allowed, f"{what}: exit {result.exit_code}: {result.output[-500:]}"
    if json_out and result.exit_code == 0:
        json.loads(result.stdout)


def first_streamed_entry(http: httpx.Client, seq: int) -> dict[str, Any]:
    with http.stream("GET", f"/api/events/stream?after_seq={seq - 1}") as resp:
        assert resp.status_code == 200, resp.read()[:300]
        for line in resp.iter_lines():
            if line.startswith("data: "):
                data: dict[str, Any] = json.loads(line[6:])
                return data
    raise AssertionError("the live stream ended without the entry")


def log_in(console: ServiceProcess) -> httpx.Client:
    browser = httpx.Client(base_url=console.url, timeout=120)
    token = re.search(r'name="csrf" value="([^"]+)"', browser.get("/login").text)
    assert token is not None
    done = browser.post("/login", data={"api_key": console.api_key, "csrf": token.group(1)})
    assert done.status_code == 303, done.text
    return browser


async def started_producer() -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        **kafka_client(),
        max_request_size=1_048_576,
        request_timeout_ms=30_000,
    )
    await producer.start()
    return producer


def stored_entry(audit: Any, source: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = audit.find_one({"source": source}, {"body": 0})
        if entry is not None:
            found: dict[str, Any] = entry
            return found
        time.sleep(0.1)
    raise AssertionError(f"the console did not store {source} within {timeout} s")


def test_every_console_page_and_cli_view_renders_any_stored_record(
    console: ServiceProcess, topics: Topics, ns: Namespace
) -> None:
    env = {
        "CONSOLE_URL": console.url,
        "CONSOLE_API_KEY": console.api_key,
        "COLUMNS": "200",
        "SMARTCITY_CLI_TRACEBACK": "1",
    }
    mongo: MongoClient[dict[str, Any]] = MongoClient(MONGO)
    audit = mongo[ns.db("console")]["audit"]
    families: list[str] = []
    with (
        asyncio.Runner() as loop,
        httpx.Client(
            base_url=console.url, timeout=120, headers={"X-API-Key": console.api_key}
        ) as api,
        contextlib.closing(log_in(console)) as browser,
    ):
        producer = loop.run(started_producer())
        try:

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],  # bounded: no shrinking
                suppress_health_check=list(HealthCheck),
            )
            @given(hostile_records())
            def stored_and_shown(record: Hostile) -> None:
                families.append(record.family)
                note(repr(record))
                topic = getattr(topics, record.topic)
                sent = producer.send_and_wait(
                    topic, record.value, key=record.key, headers=list(record.headers)
                )
                meta = loop.run(asyncio.wait_for(sent, 60))
                source = f"{topics.bare(topic)}:{meta.partition}:{meta.offset}"
                entry = stored_entry(audit, source)
                for path, allowed in pages_for(entry):
                    assert_answers(browser.get(path), f"page {path}", allowed)
                for path, allowed in api_for(entry):
                    assert_answers(api.get(path), f"API {path}", allowed)
                assert first_streamed_entry(api, int(entry["seq"]))["seq"] == entry["seq"]
                for args, codes in cli_views_for(entry):
                    run_cli(args, env, codes, json_out=True)
                    run_cli(args, env, codes, json_out=False)

            stored_and_shown()
        finally:
            loop.run(producer.stop())
        run_cli(["audit", "verify"], env, frozenset({0}), json_out=True)
    mongo.close()
    print(f"\nhostile records stored and shown: {len(families)}: {sorted(set(families))}")
