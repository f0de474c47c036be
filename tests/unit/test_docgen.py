"""tools.docgen: what it writes, and how it finds a stale docs/ (pure: a temporary folder)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from smartcity_th.contracts import topics
from smartcity_th.contracts.authorisation import is_claimable
from smartcity_th.contracts.catalogue import EVENTS, claims_for, facts_on
from smartcity_th.contracts.registry import REGISTRY_EVENTS
from tools.docgen import artefacts
from tools.docgen.asyncapi import services
from tools.docgen.schemas import (
    JSON_SCHEMA_DIALECT,
    RELEASED_DIR,
    current_schemas,
    dumps,
    load_schemas,
)


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return artefacts.artefacts()


def test_one_schema_per_event_plus_dead_letter_one_asyncapi_per_service(
    generated: dict[str, str],
) -> None:
    expected = {f"schemas/{name}.json" for name in [*EVENTS, *REGISTRY_EVENTS, "DeadLetter"]}
    expected |= {f"asyncapi/{service}.json" for service in services()}
    expected |= {"events.md", "security.md"}  # security.md: its generated ACL table
    assert set(generated) == expected


def test_schemas_are_the_envelope_with_the_payload(generated: dict[str, str]) -> None:
    for event_type in EVENTS:
        schema = json.loads(generated[f"schemas/{event_type}.json"])
        assert schema["title"] == event_type
        assert schema["$schema"] == JSON_SCHEMA_DIALECT
        assert schema["additionalProperties"] is False
        assert schema["properties"]["payload"]["$ref"] == f"#/$defs/{event_type}"
        assert set(schema["required"]) >= {"event_id", "event_type", "occurred_at", "payload"}


def test_json_output_is_canonical(generated: dict[str, str]) -> None:
    for path, content in generated.items():
        if path.endswith(".json"):
            assert content == dumps(json.loads(content)), path


def test_write_then_check_then_detect_every_kind_of_staleness(tmp_path: Path) -> None:
    assert artefacts.write(tmp_path)
    assert artefacts.stale(tmp_path) == []
    assert artefacts.write(tmp_path) == []

    (tmp_path / "events.md").write_text("edited by hand", encoding="utf-8")
    (tmp_path / "schemas" / "CabinetEndorsed.json").unlink()
    (tmp_path / "asyncapi" / "retired.json").write_text("{}", encoding="utf-8")
    assert sorted(artefacts.stale(tmp_path)) == [
        "asyncapi/retired.json",
        "events.md",
        "schemas/CabinetEndorsed.json",
    ]

    artefacts.write(tmp_path)
    assert artefacts.stale(tmp_path) == []
    assert not (tmp_path / "asyncapi" / "retired.json").exists()


def test_release_snapshots_the_current_schemas(tmp_path: Path) -> None:
    artefacts.write(tmp_path, release=True)
    released = load_schemas(tmp_path / RELEASED_DIR)
    assert released == json.loads(json.dumps(current_schemas()))


def test_events_md_shows_the_matrix_topics_headers_and_examples(generated: dict[str, str]) -> None:
    text = generated["events.md"]
    assert text.startswith("# Events")
    assert "Do not edit by hand" in text
    assert "| `SubcommitteeApproved` |  |  |  |  | yes |  |  |  |" in text
    assert "claim on `smartcity.intake`; fact on `smartcity.decisions`" in text
    assert "`smartcity-event-type`" in text
    assert "keyed by the **proposal id**" in text
    assert '"meeting_id": "1/2565"' in text
    assert '"held_on": "2022-08-06"' in text
    assert '"certificate_number": "SCT-2565-0016"' in text
    assert "`pao-<code>`" in text


SUBSCRIBERS_CARRY: dict[tuple[str, str], set[str]] = {
    ("proposals", topics.INTAKE): set(claims_for("proposals")),
    ("proposals", topics.DECISIONS): set(facts_on(topics.DECISIONS)),
    ("approvals", topics.INTAKE): set(claims_for("approvals")),
    ("approvals", topics.PROPOSALS): set(facts_on(topics.PROPOSALS)),
    ("notifications", topics.PROPOSALS): set(facts_on(topics.PROPOSALS)),
    ("notifications", topics.DECISIONS): set(facts_on(topics.DECISIONS)),
    ("notifications", topics.CONTACTS): set(facts_on(topics.CONTACTS)),
    ("console", topics.INTAKE): {name for name in EVENTS if is_claimable(name)},
    **{
        ("console", topic): set(facts_on(topic))
        for topic in (topics.PROPOSALS, topics.DECISIONS, topics.NOTIFICATIONS, topics.CONTACTS)
    },
    ("console", topics.DEADLETTER): {"DeadLetter"},
}
"""What each service's subscribers consume, by topic: the claims it owns on the intake topic,
the facts of their owners on the fact topics (the console reads everything)."""


def _received(document: dict[str, Any]) -> dict[str, set[str]]:
    """Topic -> the schema names a receiving operation's payload is one of."""
    schemas = document["components"]["schemas"]
    out: dict[str, set[str]] = {}
    for operation in document["operations"].values():
        if operation["action"] != "receive":
            continue
        channel = document["channels"][operation["channel"]["$ref"].rsplit("/", 1)[-1]]
        [message_ref] = channel["messages"].values()
        message = document["components"]["messages"][message_ref["$ref"].rsplit("/", 1)[-1]]
        payload = schemas[message["payload"]["$ref"].rsplit("/", 1)[-1]]
        assert payload.get("title") != "EmptyPayload", channel["address"]
        names = {unquote(ref["$ref"].rsplit("/", 1)[-1]) for ref in payload["oneOf"]}
        assert names <= set(schemas), "a payload refers to a schema the document lacks"
        out[channel["address"]] = {name.removeprefix("Envelope[").rstrip("]") for name in names}
    return out


@pytest.mark.parametrize("service", services())
def test_asyncapi_subscribers_list_what_the_service_consumes(service: str) -> None:
    path = artefacts.DOCS / artefacts.ASYNCAPI_DIR / f"{service}.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    expected = {
        topic: carried for (owner, topic), carried in SUBSCRIBERS_CARRY.items() if owner == service
    }
    assert _received(document) == expected
